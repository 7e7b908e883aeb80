package store

// Cluster mode (Config.Cluster set): the schema is created ON CLUSTER as
// replicated local tables sharded by tenant, with Distributed tables under
// the names the rest of the code reads:
//
//	logs_local          ReplicatedMergeTree('/clickhouse/tables/{shard}/<db>/logs', '{replica}')
//	logs                Distributed(<cluster>, <db>, logs_local, cityHash64(tenant_id))
//	usage_hourly_local  ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/<db>/usage_hourly', '{replica}')
//	usage_hourly        Distributed(<cluster>, <db>, usage_hourly_local, cityHash64(tenant_id))
//	usage_hourly_mv     logs_local → usage_hourly_local
//	text_blooms_local   ReplicatedMergeTree('/clickhouse/tables/{shard}/<db>/text_blooms', '{replica}')
//	text_blooms         Distributed(<cluster>, <db>, text_blooms_local, cityHash64(tenant_id))
//	schema_migrations   ReplicatedReplacingMergeTree, one copy on every server of the cluster
//
// Columns, partitioning and order are those of the single-node tables: the
// cluster statements are derived from Migrations.
//
// Why the usage view counts each stored row once: it is attached to
// logs_local, so it runs on the replica that receives an INSERT block (the
// Distributed table forwards each shard's sub-block to one replica,
// internal_replication) and only there. Replicas that fetch the part through
// replication do not run views: they fetch usage_hourly_local's part too,
// which is replicated like any other table. A retried block that the
// source table deduplicates either never reaches the view (current releases
// with deduplicate_blocks_in_dependent_materialized_views off) or does and
// is aggregated into a block identical to the first attempt's, which
// usage_hourly_local deduplicates by its own block hash (18.16; current
// releases with that setting on, the 26.x default). TestClusterStore checks
// on 18.16 that a block retried on the same and on the other replica is
// metered once on both.

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sawmillhq/sawmill/pkg/promoted"
)

// The placeholders of the cluster statements, replaced by clusterSQL. Not
// ClickHouse's own {shard} and {replica} macros, which each server expands.
const (
	clusterToken  = "$CLUSTER"
	databaseToken = "$DB"
)

// clusterMigrations are, per Migrations version, the statements that apply
// it in cluster mode, in order. Every version needs an entry
// (TestClusterMigrationsComplete). A migration that alters logs alters
// logs_local ON CLUSTER, then replaces the Distributed logs (DROP, then
// CREATE with the new column list; see 4 for why a MATERIALIZED column is an
// ALIAS there). Reads of logs fail for the moment between the two.
var clusterMigrations = map[uint32][]clusterStmt{
	1: {
		{SQL: replicatedCreate(Migrations[0].SQL, "logs", "MergeTree")},
		{SQL: distributedCreate("logs")},
	},
	2: {
		{SQL: replicatedCreate(Migrations[1].SQL, "usage_hourly", "SummingMergeTree")},
		{SQL: distributedCreate("usage_hourly")},
	},
	3: {
		{SQL: mustReplace(mustReplace(Migrations[2].SQL,
			"usage_hourly_mv TO usage_hourly AS",
			"$DB.usage_hourly_mv ON CLUSTER $CLUSTER TO $DB.usage_hourly_local AS"),
			"FROM logs\n", "FROM $DB.logs_local\n")},
	},
	4: {
		{
			SQL:  mustReplace(Migrations[3].SQL, "ALTER TABLE logs ADD", "ALTER TABLE $DB.logs_local ON CLUSTER $CLUSTER ADD"),
			Done: mustReplace(Migrations[3].Done, "table = 'logs'", "table = 'logs_local'"),
		},
		// 18.16 refuses ALTER ... ON CLUSTER on a table that is not
		// replicated when the cluster's shards are: the Distributed table,
		// which holds no data (inserts are synchronous), is created again.
		// There search_text is an ALIAS, not MATERIALIZED: 18.16's
		// Distributed insert would compute a MATERIALIZED column and send
		// it, which the local table refuses ("Cannot insert column
		// search_text, because it is MATERIALIZED column"). Reads name it
		// and the shards answer from logs_local.
		{SQL: "DROP TABLE IF EXISTS $DB.logs ON CLUSTER $CLUSTER", Done: Migrations[3].Done},
		{SQL: distributedWithColumns(Migrations[0].SQL, "logs",
			SearchTextColumn+" String ALIAS "+SearchTextExpr)},
	},
	5: {
		// Retired; indexes lived on the local table.
		{SQL: mustReplace(Migrations[4].SQL, "ALTER TABLE logs ADD", "ALTER TABLE $DB.logs_local ON CLUSTER $CLUSTER ADD")},
	},
	6: {
		{SQL: replicatedCreate(Migrations[5].SQL, "text_blooms", "MergeTree")},
		{SQL: distributedCreate("text_blooms")},
	},
	7: {
		// Through the Distributed tables: each tenant's rows and blooms
		// are on the same shard.
		{SQL: mustReplace(mustReplace(Migrations[6].SQL, "INSERT INTO text_blooms", "INSERT INTO $DB.text_blooms"),
			"FROM logs\n", "FROM $DB.logs\n")},
	},
	8: {
		{SQL: mustReplace(Migrations[7].SQL, "ALTER TABLE logs DROP", "ALTER TABLE $DB.logs_local ON CLUSTER $CLUSTER DROP")},
	},
	9: {
		// The Distributed logs has had it as an ALIAS since 4.
		{
			SQL:  mustReplace(Migrations[8].SQL, "ALTER TABLE logs MODIFY", "ALTER TABLE $DB.logs_local ON CLUSTER $CLUSTER MODIFY"),
			Done: mustReplace(Migrations[8].Done, "table = 'logs'", "table = 'logs_local'"),
		},
	},
	10: {
		{
			SQL:  mustReplace(Migrations[9].SQL, "ALTER TABLE logs ", "ALTER TABLE $DB.logs_local ON CLUSTER $CLUSTER "),
			Done: columnsExist("logs_local", promoted10Columns...),
		},
		// As in 4: the Distributed logs is created again, the new columns
		// ALIASes there, which the shards answer from logs_local.
		{SQL: "DROP TABLE IF EXISTS $DB.logs ON CLUSTER $CLUSTER", Done: Migrations[9].Done},
		{SQL: distributedWithColumns(Migrations[0].SQL, "logs", distributedAliases(promoted10)...)},
	},
}

// distributedAliases are the extra columns of the Distributed logs once
// attrs are promoted: attrs and search_text (4), ALIASes of their
// expressions, in logs_local's order.
func distributedAliases(attrs []promoted.Attr) []string {
	var cols []string
	for _, p := range attrs {
		cols = append(cols, p.ColumnDef("ALIAS"))
	}
	return append(cols, SearchTextColumn+" String ALIAS "+SearchTextExpr)
}

// clusterStmt is one statement of a migration in cluster mode; Done, if
// set, is as Migration.Done (asked of the server the Store is connected to).
type clusterStmt struct{ SQL, Done string }

// applyCluster runs m's cluster statements, each unless its Done says it
// has taken effect. ON CLUSTER statements return once every server of the
// cluster has run them (or distributed_ddl_task_timeout, 180 s, passes: a
// server that is down runs them from the coordinator's queue when it is
// back, and Migrate fails meanwhile, so the role is not ready).
func (s *Store) applyCluster(ctx context.Context, m Migration) error {
	stmts, ok := clusterMigrations[m.Version]
	if !ok {
		return fmt.Errorf("store: migration %d (%s) has no cluster statements", m.Version, m.Name)
	}
	for i, st := range stmts {
		step := Migration{Version: m.Version, Name: m.Name, SQL: s.clusterSQL(st.SQL), Done: s.clusterSQL(st.Done)}
		done, err := s.migrationDone(ctx, step)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		if err := s.conn.Exec(ctx, step.SQL); err != nil {
			if done, _ := s.migrationDone(ctx, step); !done {
				return fmt.Errorf("store: migration %d (%s) statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
	}
	return nil
}

// clusterMigrationsTable is migrationsTable in cluster mode: one replicated
// copy on every server of the cluster (a path without {shard}, replica names
// unique across shards), so any server answers MigrationsApplied.
const clusterMigrationsTable = `CREATE TABLE IF NOT EXISTS $DB.schema_migrations ON CLUSTER $CLUSTER (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/$DB/schema_migrations', '{shard}-{replica}') ORDER BY version`

// migrationsTableSQL creates schema_migrations in the Store's mode.
func (s *Store) migrationsTableSQL() string {
	if s.cfg.Cluster == "" {
		return migrationsTable
	}
	return s.clusterSQL(clusterMigrationsTable)
}

// replicatedCreate turns a single-node CREATE TABLE of table into the
// cluster's replicated local table: same columns, PARTITION BY and ORDER BY.
func replicatedCreate(create, table, engine string) string {
	s := mustReplace(create, "CREATE TABLE IF NOT EXISTS "+table+" (",
		"CREATE TABLE IF NOT EXISTS $DB."+table+"_local ON CLUSTER $CLUSTER (")
	return mustReplace(s, "ENGINE = "+engine+"()",
		"ENGINE = Replicated"+engine+"('/clickhouse/tables/{shard}/$DB/"+table+"', '{replica}')")
}

// distributedCreate is the Distributed table that reads (and routes
// inserts to) table's local tables, sharded by tenant.
func distributedCreate(table string) string {
	return "CREATE TABLE IF NOT EXISTS $DB." + table + " ON CLUSTER $CLUSTER AS $DB." + table + "_local\n" +
		"ENGINE = Distributed('$CLUSTER', '$DB', '" + table + "_local', cityHash64(tenant_id))"
}

// distributedWithColumns is distributedCreate with the column list of a
// single-node CREATE TABLE of table plus extra columns.
func distributedWithColumns(create, table string, extra ...string) string {
	_, cols, ok := strings.Cut(create, " (\n")
	if ok {
		cols, _, ok = strings.Cut(cols, "\n) ENGINE")
	}
	if !ok {
		panic(fmt.Sprintf("store: cluster schema: no column list in %q", create))
	}
	return "CREATE TABLE IF NOT EXISTS $DB." + table + " ON CLUSTER $CLUSTER (\n" + cols + ",\n    " + strings.Join(extra, ",\n    ") + "\n)\n" +
		"ENGINE = Distributed('$CLUSTER', '$DB', '" + table + "_local', cityHash64(tenant_id))"
}

// mustReplace replaces old, which must occur exactly once, in s. It runs at
// package initialisation on constant text: a mismatch is a programming
// error every test run catches.
func mustReplace(s, old, new string) string {
	if strings.Count(s, old) != 1 {
		panic(fmt.Sprintf("store: cluster schema: %q must occur once in %q", old, s))
	}
	return strings.Replace(s, old, new, 1)
}

// clusterSQL fills a cluster statement's placeholders. Both are validated
// identifiers (Open), so the result is safe SQL.
func (s *Store) clusterSQL(stmt string) string {
	return strings.NewReplacer(clusterToken, s.cfg.Cluster, databaseToken, s.cfg.Database).Replace(stmt)
}

// ClusterStatements returns the statements Migrate runs in cluster mode for
// cluster and database, schema_migrations first: for review, and for
// checking them on other ClickHouse releases.
func ClusterStatements(cluster, database string) []string {
	s := &Store{cfg: Config{Cluster: cluster, Database: database}}
	out := []string{s.clusterSQL(clusterMigrationsTable)}
	for _, m := range Migrations {
		for _, st := range clusterMigrations[m.Version] {
			out = append(out, s.clusterSQL(st.SQL))
		}
	}
	return out
}

// onCluster is " ON CLUSTER <name>" in cluster mode, else "".
func (s *Store) onCluster() string {
	if s.cfg.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + s.cfg.Cluster
}

// logsData is the table that holds log rows on each server: the target of
// partition drops and deletions, and the table system.parts and
// system.mutations name.
func (s *Store) logsData() string {
	if s.cfg.Cluster == "" {
		return "logs"
	}
	return "logs_local"
}

// bloomsData is logsData for text_blooms.
func (s *Store) bloomsData() string {
	if s.cfg.Cluster == "" {
		return "text_blooms"
	}
	return "text_blooms_local"
}

// writeContext adds the writer's insert settings in cluster mode:
//
//   - insert_distributed_sync: the INSERT into the Distributed logs returns
//     only once every shard's replica has stored its sub-block, so a
//     success means stored (never a file queued on the receiving server,
//     invisible to Existing and lost with that server's disk);
//   - insert_deduplicate: a retried block (same rows, so same sub-blocks
//     and same part hashes) is dropped by whichever replica receives it,
//     because the block ids live in the coordinator, not on the replica
//     that took the first attempt and may since have died.
//
// The connection itself goes to the first live address of Config.Addr
// (clickhouse-go's in-order strategy), and the Distributed table writes the
// local shard's sub-block to that server (prefer_localhost_replica).
//
// What stays open without insert quorum: a part committed on a replica that
// dies before any other fetched it is invisible until that replica returns.
// Retries of the same flush are safe (deduplicated, above); but if the batch
// is also redelivered meanwhile (the writer's ack lost too) and flushed with
// other messages, the rows go in again as a different block and are stored
// twice once the replica is back. insert_quorum=2 on three replicas closes
// that at the price of failing inserts while two are out.
func (s *Store) writeContext(ctx context.Context) context.Context {
	if s.cfg.Cluster == "" {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"insert_distributed_sync": 1,
		"insert_deduplicate":      1,
	}))
}

// existingContext adds Existing's read settings in cluster mode. Existing
// reads through the Distributed logs, one replica per shard: the local one
// (the replica the writer inserts into) unless it lags by more than
// maxReplicaDelaySeconds behind the coordinator's log — a replica just
// restarted after missing inserts — in which case an up-to-date replica of
// that shard answers (fallback to a stale one only if no other is live).
func (s *Store) existingContext(ctx context.Context) context.Context {
	if s.cfg.Cluster == "" {
		return ctx
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_replica_delay_for_distributed_queries":          maxReplicaDelaySeconds,
		"fallback_to_stale_replicas_for_distributed_queries": 1,
	}))
}

// maxReplicaDelaySeconds is how far behind a replica may be for Existing
// to read it while another replica is live.
const maxReplicaDelaySeconds = 1

// checkCluster fails clearly when the server Open reaches is not set up for
// cfg.Cluster: the cluster missing from remote_servers, or the {shard} and
// {replica} macros missing, would otherwise fail later, deep in a migration.
func checkCluster(ctx context.Context, cfg Config) error {
	conn, err := dial(ctx, cfg, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	var hosts, macros uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", cfg.Cluster).Scan(&hosts); err != nil {
		return fmt.Errorf("store: read system.clusters: %w", err)
	}
	if hosts == 0 {
		return fmt.Errorf("store: cluster %q is not in the server's remote_servers", cfg.Cluster)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.macros WHERE macro IN ('shard', 'replica')").Scan(&macros); err != nil {
		return fmt.Errorf("store: read system.macros: %w", err)
	}
	if macros != 2 {
		return fmt.Errorf("store: cluster %q: the server needs the {shard} and {replica} macros", cfg.Cluster)
	}
	return nil
}
