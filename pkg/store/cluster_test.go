package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/testenv"
	"github.com/sawmillhq/sawmill/pkg/textbloom"
)

func TestClusterMigrationsComplete(t *testing.T) {
	for _, m := range Migrations {
		stmts, ok := clusterMigrations[m.Version]
		if !ok || len(stmts) == 0 {
			t.Errorf("migration %d (%s) has no cluster statements", m.Version, m.Name)
		}
		for _, st := range stmts {
			// Schema statements run on every server; a data statement goes
			// through the Distributed tables from one.
			if !strings.Contains(st.SQL, "ON CLUSTER $CLUSTER") && !strings.HasPrefix(st.SQL, "INSERT INTO $DB.") {
				t.Errorf("migration %d: statement does not run ON CLUSTER: %s", m.Version, st.SQL)
			}
		}
	}
	for _, stmt := range ClusterStatements("prod", "sawmill") {
		if strings.Contains(stmt, "$") {
			t.Errorf("unreplaced placeholder in %s", stmt)
		}
	}
}

// openCluster opens a cluster-mode Store on every replica address of c (the
// first is preferred) in a fresh database, migrated.
func openCluster(tb testing.TB, c *testenv.CHCluster, db string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), Config{Addr: strings.Join(c.Addrs(), ","), Database: db, Cluster: c.Name})
	if err != nil {
		tb.Fatalf("open cluster store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate on cluster: %v", err)
	}
	return s
}

// replicaConn connects to one replica only, in database db.
func replicaConn(tb testing.TB, addr, db string) driver.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// syncedCounts waits until every replica has fetched its shard's parts of
// table (SYSTEM SYNC REPLICA) and returns each replica's `SELECT count()
// ... where`, in the order of conns.
func syncedCounts(tb testing.TB, conns []driver.Conn, table, expr string) []uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]uint64, len(conns))
	for i, conn := range conns {
		if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+table); err != nil {
			tb.Fatalf("sync replica %d: %v", i, err)
		}
		if err := conn.QueryRow(ctx, "SELECT "+expr+" FROM "+table).Scan(&out[i]); err != nil {
			tb.Fatalf("count on replica %d: %v", i, err)
		}
	}
	return out
}

// One shard, two replicas: the schema is created everywhere, an insert is
// stored once on each replica, a retried identical block is dropped whether
// it reaches the same or the other replica, usage counts each stored row
// once on both replicas, and retention and deletion act on every replica.
func TestClusterStore(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartCHCluster(t, 1, 2)
	s := openCluster(t, c, "clusterdb")
	if err := s.Migrate(ctx); err != nil { // again: nothing to do
		t.Fatalf("second migrate: %v", err)
	}
	var conns []driver.Conn
	for _, r := range c.Replicas {
		conn := replicaConn(t, r.Addr(), "clusterdb")
		conns = append(conns, conn)
		// Each replica's own Store (single address) sees the schema applied.
		rs, err := Open(ctx, Config{Addr: r.Addr(), Database: "clusterdb", Cluster: c.Name})
		if err != nil {
			t.Fatal(err)
		}
		ok, err := rs.MigrationsApplied(ctx)
		rs.Close()
		if err != nil || !ok {
			t.Fatalf("replica %s: migrations applied = %v, %v", r.Replica, ok, err)
		}
	}
	t.Run("schema matches single node", func(t *testing.T) {
		single := migratedStore(t)
		want := columnsOf(t, single.conn, single.Database(), "logs")
		if got := columnsOf(t, conns[1], "clusterdb", "logs_local"); !slices.Equal(got, want) {
			t.Errorf("logs_local columns:\n%v\nwant (single-node logs):\n%v", got, want)
		}
		// The Distributed logs: the same, the MATERIALIZED columns ALIASes
		// (search_text an ALIAS on both since migration 9).
		for i := range want {
			want[i] = strings.Replace(want[i], " MATERIALIZED", " ALIAS", 1)
		}
		if got := columnsOf(t, conns[1], "clusterdb", "logs"); !slices.Equal(got, want) {
			t.Errorf("logs columns:\n%v\nwant:\n%v", got, want)
		}
	})

	rows := realisticRows(21, "acme", 1, 3000, 500)
	for i := range rows { // two days, so two partitions
		rows[i].Time += int64(i%2) * int64(24*time.Hour)
	}
	insert(t, s, rows)
	insert(t, s, rows) // a retried identical block: deduplicated
	other, err := Open(ctx, Config{Addr: c.Replicas[1].Addr(), Database: "clusterdb", Cluster: c.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	insert(t, other, rows) // the retry reaches the other replica: deduplicated too
	globex := realisticRows(22, "globex", 100, 1000, 500)
	for i := range globex { // a third day
		globex[i].Time += int64(48 * time.Hour)
	}
	insert(t, other, globex)

	if got := syncedCounts(t, conns, "logs_local", "count()"); got[0] != 4000 || got[1] != 4000 {
		t.Fatalf("rows per replica = %v, want 4000 on each", got)
	}
	if got := syncedCounts(t, conns, "usage_hourly_local", "sum(events)"); got[0] != 4000 || got[1] != 4000 {
		t.Fatalf("metered events per replica = %v, want 4000 on each (each stored row once)", got)
	}
	// Promoted columns read through the Distributed logs hold the
	// attribute, as on a single node.
	var paths, wrong uint64
	if err := s.conn.QueryRow(ctx, "SELECT countIf(promoted_str_http_path != ''), countIf(promoted_str_http_path != attr_values[indexOf(attr_keys, 'http.path')] OR assumeNotNull(promoted_num_duration_ms) != num_values[indexOf(num_keys, 'duration_ms')]) FROM logs").Scan(&paths, &wrong); err != nil {
		t.Fatal(err)
	}
	if paths != 4000 || wrong != 0 {
		t.Fatalf("through logs: %d rows with a promoted http.path (want 4000), %d promoted values unlike the arrays' (want 0)", paths, wrong)
	}
	have, err := s.Existing(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != len(rows) {
		t.Fatalf("Existing found %d of %d stored rows", len(have), len(rows))
	}
	usage, err := s.Usage(ctx, "acme", base.Add(-time.Hour), base.Add(72*time.Hour), Daily)
	if err != nil {
		t.Fatal(err)
	}
	var events uint64
	for _, u := range usage {
		events += u.Events
	}
	if events != 3000 {
		t.Fatalf("Usage(acme) = %d events, want 3000", events)
	}

	parts, err := s.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 {
		t.Fatalf("partitions = %v, want three days", partitionStrings(parts))
	}
	day0 := Partition{7, base.Truncate(24 * time.Hour)}
	if err := s.DropLogPartition(ctx, day0); err != nil {
		t.Fatal(err)
	}
	if got := syncedCounts(t, conns, "logs_local", "count()"); got[0] != 2500 || got[1] != 2500 {
		t.Fatalf("after dropping %s: rows per replica = %v, want 2500 on each", day0, got)
	}

	if err := s.DeleteTenantLogs(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "acme's deletion", func() bool {
		pending, err := s.TenantDeletePending(ctx, "acme")
		return err == nil && pending == 0
	})
	for i, conn := range conns {
		var left, kept uint64 // after SYSTEM SYNC REPLICA: the mutation is replicated
		syncedCounts(t, conns[i:i+1], "logs_local", "count()")
		if err := conn.QueryRow(ctx, "SELECT countIf(tenant_id = 'acme'), countIf(tenant_id = 'globex') FROM logs_local").Scan(&left, &kept); err != nil {
			t.Fatal(err)
		}
		if left != 0 || kept != 1000 {
			t.Fatalf("replica %d after deleting acme: acme %d rows, globex %d; want 0 and 1000", i, left, kept)
		}
	}
}

func TestClusterOpenErrors(t *testing.T) {
	ctx := context.Background()
	addr := testenv.ClickHouse(t) // a standalone server: no cluster, no macros
	tests := []struct {
		name, cluster, want string
	}{
		{"bad name", "a;DROP", "invalid cluster name"},
		{"not configured", "nosuch", `cluster "nosuch" is not in the server's remote_servers`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, Config{Addr: addr, Database: "x", Cluster: tc.cluster})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// columnsOf lists table's columns as "name type default_kind".
func columnsOf(tb testing.TB, conn driver.Conn, db, table string) []string {
	tb.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name, type, default_kind FROM system.columns WHERE database = ? AND table = ?", db, table)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, typ, kind string
		if err := rows.Scan(&name, &typ, &kind); err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s", name, typ, kind))
	}
	return out
}

// waitUntil polls cond every 100 ms until it holds, failing tb after timeout.
func waitUntil(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// Two shards: each tenant's rows live on one shard (cityHash64(tenant_id)),
// reads and the existence check see every shard, and retention and
// deletion act on every shard.
func TestClusterShardsByTenant(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartCHCluster(t, 2, 1)
	s := openCluster(t, c, "sharded")
	tenants := []string{"acme", "globex", "initech", "umbrella", "hooli", "wonka"}
	var all []Row
	for i, tn := range tenants {
		rows := realisticRows(uint64(i), tn, uint64(100*i+1), 400, 200)
		for j := range rows { // day 0 and day 1
			rows[j].Time += int64(j%2) * int64(24*time.Hour)
		}
		insert(t, s, rows)
		all = append(all, rows...)
	}
	shardOf := map[string]string{}
	for _, r := range c.Replicas {
		conn := replicaConn(t, r.Addr(), "sharded")
		res, err := conn.Query(ctx, "SELECT tenant_id FROM logs_local GROUP BY tenant_id")
		if err != nil {
			t.Fatal(err)
		}
		for res.Next() {
			var tn string
			if err := res.Scan(&tn); err != nil {
				t.Fatal(err)
			}
			if prev, ok := shardOf[tn]; ok {
				t.Errorf("tenant %s on shards %s and %s", tn, prev, r.Shard)
			}
			shardOf[tn] = r.Shard
		}
		res.Close()
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM logs_local").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 || n == uint64(len(all)) {
			t.Errorf("shard %s holds %d of %d rows: not sharded", r.Shard, n, len(all))
		}
	}
	have, err := s.Existing(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != len(all) {
		t.Fatalf("Existing found %d of %d rows across shards", len(have), len(all))
	}
	// A term search as the query service runs it counts what a Go scan
	// counts.
	for _, term := range []string{"CONNECTION refused", "req-", "/api/"} {
		q, err := lql.Parse(`"` + term + `"`)
		if err != nil {
			t.Fatal(err)
		}
		from, args := q.From("globex", base.Add(-time.Hour), base.Add(72*time.Hour)) // rows: day 0 and day 1
		// Narrowed by the text blooms, which are sharded with the rows, when
		// they narrow (these rows' chunks span two days: they do not).
		cond, _ := q.TextCond()
		ranges, ok, err := s.TextRanges(ctx, "globex", base.Add(-time.Hour), base.Add(72*time.Hour), cond)
		if err != nil {
			t.Fatalf("text ranges of %q through the cluster: %v", term, err)
		}
		if ok {
			from += " AND " + RangesSQL(ranges)
		}
		var got uint64
		rows, err := s.Query(ctx, "SELECT count()"+from, args...)
		if err != nil {
			t.Fatalf("search %q through the Distributed table: %v", term, err)
		}
		for rows.Next() {
			if err := rows.Scan(&got); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		var want uint64
		for i := range all {
			if all[i].Tenant == "globex" && q.Match(&all[i].Event) {
				want++
			}
		}
		if got != want || want == 0 {
			t.Errorf("search %q: %d rows through the cluster, %d by Match", term, got, want)
		}
	}
	// Each tenant's blooms are read through the Distributed table: a word
	// in no row is in no chunk.
	for _, tn := range tenants {
		ranges, ok, err := s.TextRanges(ctx, tn, base.Add(-time.Hour), base.Add(72*time.Hour), textbloom.Cond{Needle: "frobnicator"})
		if err != nil || !ok || len(ranges) != 0 {
			t.Errorf("%s: text ranges of an absent word: %v, %v, %v; want none", tn, ranges, ok, err)
		}
	}
	var blooms uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM text_blooms WHERE tenant_id = 'globex'").Scan(&blooms); err != nil || blooms == 0 {
		t.Fatalf("globex's blooms through the cluster: %d, %v", blooms, err)
	}
	if err := s.DropLogPartition(ctx, Partition{7, base.Truncate(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTenantLogs(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "acme's deletion", func() bool {
		pending, err := s.TenantDeletePending(ctx, "acme")
		return err == nil && pending == 0
	})
	parts, err := s.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].Day != base.Truncate(24*time.Hour).Add(24*time.Hour) {
		t.Errorf("partitions after the drop = %v, want only day 1", partitionStrings(parts))
	}
	for _, tn := range tenants {
		n, err := s.TenantRows(ctx, tn)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]uint64{true: 0, false: 200}[tn == "acme"]; n != want {
			t.Errorf("tenant %s: %d rows left, want %d", tn, n, want)
		}
	}
}

// A replica that lags behind its shard (fetches stopped, as after a restart
// with parts to catch up on) does not answer the existence check while an
// up-to-date replica is live: a writer connected to it still finds every
// stored row, where a plain read of the Distributed table finds none.
func TestClusterExistingSkipsLaggingReplica(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartCHCluster(t, 1, 2)
	openCluster(t, c, "lag")
	lagging := replicaConn(t, c.Replicas[1].Addr(), "lag")
	if err := lagging.Exec(ctx, "SYSTEM STOP FETCHES logs_local"); err != nil {
		t.Fatal(err)
	}
	defer lagging.Exec(ctx, "SYSTEM START FETCHES logs_local")
	upToDate, err := Open(ctx, Config{Addr: c.Replicas[0].Addr(), Database: "lag", Cluster: c.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer upToDate.Close()
	rows := realisticRows(1, "acme", 1, 1000, 500)
	insert(t, upToDate, rows)
	waitUntil(t, 30*time.Second, "the replica to lag by more than maxReplicaDelaySeconds", func() bool {
		var delay uint64
		err := lagging.QueryRow(ctx, "SELECT absolute_delay FROM system.replicas WHERE database = 'lag' AND table = 'logs_local'").Scan(&delay)
		return err == nil && delay > maxReplicaDelaySeconds
	})
	var plain uint64
	if err := lagging.QueryRow(ctx, "SELECT count() FROM logs").Scan(&plain); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Config{Addr: c.Replicas[1].Addr(), Database: "lag", Cluster: c.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	have, err := s.Existing(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(have) != len(rows) {
		t.Fatalf("Existing through the lagging replica found %d of %d rows (a plain read there finds %d)", len(have), len(rows), plain)
	}
	if plain != 0 {
		t.Logf("the lagging replica's plain read found %d rows: not lagging after all?", plain)
	}
}
