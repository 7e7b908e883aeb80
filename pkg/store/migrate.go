package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sawmillhq/sawmill/pkg/promoted"
)

// Migration is one versioned schema change. SQL is a single statement that
// must be idempotent (CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT EXISTS):
// two processes may run it at once, and a crash between running it and
// recording it makes the next Migrate run it again.
type Migration struct {
	Version uint32
	Name    string
	SQL     string
	// Done, when set, is a query answering a count that is non-zero once SQL
	// has taken effect, for statements 18.16 cannot make idempotent (it has
	// no ADD COLUMN IF NOT EXISTS): Migrate skips SQL when it is non-zero.
	Done string
	// MinMajor, when set, is the oldest ClickHouse major version the
	// statement runs on (a feature 18.16 lacks, such as skipping indexes).
	// On an older server the migration is neither run nor recorded, so it
	// runs once the server is upgraded; it does not count as missing.
	MinMajor int
	// Retired migrations are no longer applied, nor counted missing: they
	// stay in the list so that versions keep their meaning, and a later
	// migration undoes them where they ran.
	Retired bool
}

// Migrations is the schema, oldest first, versions strictly increasing.
// Append only: never edit or reorder an applied migration, add a new one.
// Every statement runs on ClickHouse 18.16 and on current releases, so: no
// DateTime64, Map, LowCardinality, TTL, codecs or skipping indexes, no ADD
// COLUMN IF NOT EXISTS (use Done instead); the
// `ENGINE = MergeTree() PARTITION BY ... ORDER BY ...` syntax.
var Migrations = []Migration{
	{
		Version: 1,
		Name:    "create logs",
		// One row per event. Partitioned by (retention_days, day) so the
		// retention job drops whole partitions; ordered by tenant first so a
		// tenant's scan reads only its own granules, then by time.
		// ts is the event time truncated to seconds, for partitioning and the
		// primary key, in UTC whatever the server's timezone; ts_ns keeps the
		// nanoseconds. Attributes are parallel key/value arrays, strings and
		// numbers apart. (seq, idx) identify the JetStream message and the
		// row's position in it: the writer's exactly-once key.
		// Granules of 1024 rows, not 8192: a search narrowed by the text
		// blooms, and a page of scattered hits, read whole granules around
		// each row they want (bench/querybench: the rare-term positions
		// query 100 -> 40 ms; scans unchanged). Tables created before
		// this setting keep 8192: slower there, nothing else.
		SQL: `CREATE TABLE IF NOT EXISTS logs (
    tenant_id String,
    ts DateTime('UTC'),
    ts_ns Int64,
    observed_ns Int64,
    retention_days UInt16,
    level String,
    severity_number UInt8,
    message String,
    service String,
    environment String,
    host String,
    logger String,
    trace_id String,
    span_id String,
    request_id String,
    attr_keys Array(String),
    attr_values Array(String),
    num_keys Array(String),
    num_values Array(Float64),
    exc_type String,
    exc_message String,
    exc_stack String,
    size_bytes UInt32,
    seq UInt64,
    idx UInt32
) ENGINE = MergeTree()
PARTITION BY (retention_days, toDate(ts))
ORDER BY (tenant_id, ts, ts_ns)
SETTINGS index_granularity = 1024`,
	},
	{
		Version: 2,
		Name:    "create usage_hourly",
		// Metered usage per tenant per hour of ingestion (observed time, so
		// late events with old timestamps still count in the period they
		// arrived in). SummingMergeTree: sum at query time, merges are lazy.
		SQL: `CREATE TABLE IF NOT EXISTS usage_hourly (
    tenant_id String,
    hour DateTime('UTC'),
    events UInt64,
    bytes UInt64
) ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour)`,
	},
	{
		Version: 3,
		Name:    "meter logs into usage_hourly",
		// Filled by the same INSERT that stores the rows, so billed usage
		// always equals what is stored: the writer's exactly-once insert is
		// exactly-once metering too. It outlives the rows (retention drops
		// logs partitions, not usage).
		SQL: `CREATE MATERIALIZED VIEW IF NOT EXISTS usage_hourly_mv TO usage_hourly AS
SELECT
    tenant_id,
    toStartOfHour(toDateTime(intDiv(observed_ns, 1000000000), 'UTC')) AS hour,
    count() AS events,
    sum(toUInt64(size_bytes)) AS bytes
FROM logs
GROUP BY tenant_id, hour`,
	},
	{
		Version: 4,
		Name:    "logs search_text",
		// Every text a bare search term looks in (the text columns and the
		// attribute values; pkg/lql textColumns), one per line, ASCII
		// letters lowered, for a PREWHERE that tested this one column
		// first. Made an ALIAS by migration 9: the text blooms narrow
		// searches instead, and storing it cost a third of ClickHouse's
		// insert CPU and 65% more disk.
		SQL:  "ALTER TABLE logs ADD COLUMN " + SearchTextColumn + " String MATERIALIZED " + SearchTextExpr,
		Done: searchTextExists,
	},
	{
		Version: 5,
		Name:    "search_text ngram index",
		// Retired: an ngrambf_v1 index on search_text for the PREWHERE's
		// LIKE, on servers with skipping indexes when a flag asked for it.
		// It bought nothing measurable on chDB 26.7 (43 vs 52 ms for a rare
		// term over 3M rows) and made inserts 3x as long; the text blooms
		// (6) serve every release. Migration 8 drops it where it ran.
		SQL:      "ALTER TABLE logs ADD INDEX IF NOT EXISTS search_text_ngram " + SearchTextColumn + " TYPE ngrambf_v1(3, 32768, 2, 0) GRANULARITY 1",
		MinMajor: 20,
		Retired:  true,
	},
	{
		Version: 6,
		Name:    "create text_blooms",
		// A bloom filter of the 3-grams of the search text of each chunk of
		// up to 1024 rows of a tenant that Insert stores, with the chunk's
		// time range (blooms.go, pkg/textbloom): the skipping index for
		// servers without one. Partitioned like logs, by the day of the
		// chunk's newest row, so a bloom outlives none of its rows' days
		// and goes with the last (DropLogPartition drops both). Small
		// granules: a row holds up to 4 KiB.
		SQL: `CREATE TABLE IF NOT EXISTS text_blooms (
    tenant_id String,
    retention_days UInt16,
    min_ts DateTime('UTC'),
    max_ts DateTime('UTC'),
    rows UInt32,
    bloom String
) ENGINE = MergeTree()
PARTITION BY (retention_days, toDate(max_ts))
ORDER BY (tenant_id, max_ts)
SETTINGS index_granularity = 256`,
	},
	{
		Version: 7,
		Name:    "cover earlier rows in text_blooms",
		// Rows stored before text_blooms existed have no bloom: an empty
		// one, which stands for "any text", per tenant, retention class and
		// day covers them. Harmless to run twice, or over rows that have
		// blooms (their days are then scanned whole).
		SQL: `INSERT INTO text_blooms (tenant_id, retention_days, min_ts, max_ts, rows, bloom)
SELECT tenant_id, retention_days, min(ts), max(ts), toUInt32(count()), ''
FROM logs
GROUP BY tenant_id, retention_days, toDate(ts)`,
	},
	{
		Version: 8,
		Name:    "drop the search_text ngram index",
		// Where retired migration 5 ran; a no-op elsewhere. Before 9, which
		// the index would block.
		SQL:      "ALTER TABLE logs DROP INDEX IF EXISTS search_text_ngram",
		MinMajor: 20,
	},
	{
		Version: 9,
		Name:    "search_text as an ALIAS",
		// Computed when read, no longer stored on insert (see 4). A change
		// of metadata: parts keep their search_text files until merged.
		SQL:  "ALTER TABLE logs MODIFY COLUMN " + SearchTextColumn + " String ALIAS " + SearchTextExpr,
		Done: searchTextExists + " AND default_kind = 'ALIAS'",
	},
	{
		Version: 10,
		Name:    "promoted attribute columns",
		// Attributes that group-bys and percentiles read often, each in a
		// column of its own (pkg/promoted), computed on insert
		// from the arrays. Parts stored before compute them when read, so
		// they hold the same values; only the speed differs.
		SQL:  "ALTER TABLE logs " + addPromoted(promoted10),
		Done: columnsExist("logs", promoted10Columns...),
	},
}

// promoted10 are the promoted attributes migration 10 adds. A key appended
// to promoted.Attrs later gets a migration of its own.
var promoted10 = promoted.Attrs[:4]

// addPromoted is the ADD COLUMN list of an ALTER TABLE logs that adds the
// columns of attrs: one statement, so they are added together or not at all.
func addPromoted(attrs []promoted.Attr) string {
	adds := make([]string, len(attrs))
	for i, p := range attrs {
		adds[i] = "ADD COLUMN " + p.ColumnDef("MATERIALIZED")
	}
	return strings.Join(adds, ", ")
}

// promoted10Columns are the columns of promoted10.
var promoted10Columns = func() []string {
	names := make([]string, len(promoted10))
	for i, p := range promoted10 {
		names[i] = p.Column()
	}
	return names
}()

// columnsExist is a Done query: non-zero once table has every column of
// names (in the Store's database). Names are identifiers of our schema.
func columnsExist(table string, names ...string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "'" + n + "'"
	}
	return "SELECT toUInt64(count() = " + strconv.Itoa(len(names)) + ") FROM system.columns WHERE database = currentDatabase() AND table = '" +
		table + "' AND name IN (" + strings.Join(quoted, ", ") + ")"
}

// SearchTextColumn and SearchTextExpr define logs.search_text (migrations
// 4 and 9): the text the blooms are built from (writeSearchText writes the
// same bytes), an ALIAS for reading it back.
const (
	SearchTextColumn = "search_text"
	SearchTextExpr   = `lower(concat(message, '\n', level, '\n', service, '\n', environment, '\n', host, '\n', logger, '\n', ` +
		`trace_id, '\n', span_id, '\n', request_id, '\n', exc_type, '\n', exc_message, '\n', exc_stack, '\n', ` +
		`arrayStringConcat(attr_values, '\n')))`
)

// searchTextExists is Done of migration 4 (logs.search_text exists) and,
// narrowed to its kind, of 9.
var searchTextExists = columnsExist("logs", SearchTextColumn)

// migrationsTable records applied migrations. ReplacingMergeTree: when two
// processes record the same version at once, the duplicate row is harmless
// and eventually merged away.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime
) ENGINE = ReplacingMergeTree() ORDER BY version`

// Migrate applies the Migrations not yet recorded in schema_migrations, in
// order, recording each after it succeeds. Running it again, or from several
// processes at once, is harmless. It stops at the first failing migration.
func (s *Store) Migrate(ctx context.Context) error {
	if err := checkMigrations(Migrations); err != nil {
		return err
	}
	if err := s.conn.Exec(ctx, s.migrationsTableSQL()); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	applied, err := s.appliedVersions(ctx)
	if err != nil {
		return err
	}
	major, err := s.serverMajor(ctx)
	if err != nil {
		return err
	}
	for _, m := range Migrations {
		if applied[m.Version] || !s.wants(m, major) {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return err
		}
		if err := s.recordMigration(ctx, m); err != nil {
			return err
		}
		s.logger.Info("clickhouse migration applied", "version", m.Version, "name", m.Name, "database", s.cfg.Database)
	}
	return nil
}

// recordMigration records m as applied in schema_migrations.
func (s *Store) recordMigration(ctx context.Context, m Migration) error {
	// INSERT ... SELECT: 18.16 never answers an INSERT ... VALUES sent as
	// a plain query over the native protocol (the driver waits for ever).
	if err := s.conn.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) SELECT ?, ?, now()", m.Version, m.Name); err != nil {
		return fmt.Errorf("store: record migration %d: %w", m.Version, err)
	}
	return nil
}

// apply runs m unless its Done query says it has taken effect; in cluster
// mode it runs m's cluster statements instead (applyCluster).
func (s *Store) apply(ctx context.Context, m Migration) error {
	if s.cfg.Cluster != "" {
		return s.applyCluster(ctx, m)
	}
	done, err := s.migrationDone(ctx, m)
	if err != nil || done {
		return err
	}
	if err := s.conn.Exec(ctx, m.SQL); err != nil {
		// Another process may have applied it between the check and the
		// statement.
		if done, _ := s.migrationDone(ctx, m); !done {
			return fmt.Errorf("store: migration %d (%s): %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// migrationDone reports whether m's Done query says it has taken effect
// (applied by a process that died before recording it).
func (s *Store) migrationDone(ctx context.Context, m Migration) (bool, error) {
	if m.Done == "" {
		return false, nil
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, m.Done).Scan(&n); err != nil {
		return false, fmt.Errorf("store: migration %d (%s): check: %w", m.Version, m.Name, err)
	}
	return n > 0, nil
}

// MigrationsApplied reports whether every migration in Migrations has been
// applied: the readiness check of every role that reads or writes logs. It
// is false, without error, on a database never migrated.
func (s *Store) MigrationsApplied(ctx context.Context) (bool, error) {
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'").Scan(&n); err != nil {
		return false, fmt.Errorf("store: find schema_migrations: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	applied, err := s.appliedVersions(ctx)
	if err != nil {
		return false, err
	}
	major, err := s.serverMajor(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range Migrations {
		if !applied[m.Version] && s.wants(m, major) {
			return false, nil
		}
	}
	return true, nil
}

// wants reports whether m applies to this server and configuration.
func (s *Store) wants(m Migration, major int) bool {
	return !m.Retired && major >= m.MinMajor
}

// serverMajor returns the server's major version (18 for 18.16.1), asked
// once per Store: readiness (MigrationsApplied, every probe) then judges by
// the version Migrate applied migrations for, and a server upgraded under a
// running process is taken into account when the process restarts and
// migrates again.
func (s *Store) serverMajor(ctx context.Context) (int, error) {
	if m := s.major.Load(); m > 0 {
		return int(m), nil
	}
	var v string
	if err := s.conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: server version: %w", err)
	}
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("store: server version %q: %w", v, err)
	}
	s.major.Store(int32(n))
	return n, nil
}

func (s *Store) appliedVersions(ctx context.Context) (map[uint32]bool, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[uint32]bool{}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("store: read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	return applied, nil
}

// checkMigrations reports a Migrations list that is out of order or empty.
func checkMigrations(ms []Migration) error {
	var last uint32
	for _, m := range ms {
		if m.Version <= last {
			return fmt.Errorf("store: migration %d (%s) after %d: versions must increase", m.Version, m.Name, last)
		}
		if strings.TrimSpace(m.SQL) == "" {
			return fmt.Errorf("store: migration %d (%s) has no SQL", m.Version, m.Name)
		}
		last = m.Version
	}
	return nil
}
