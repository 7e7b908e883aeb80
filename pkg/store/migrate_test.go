package store

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMigrateTwice(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Config{})
	ok, err := s.MigrationsApplied(ctx)
	if err != nil || ok {
		t.Fatalf("MigrationsApplied before Migrate = %v, %v; want false, nil", ok, err)
	}
	for i := range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	ok, err = s.MigrationsApplied(ctx)
	if err != nil || !ok {
		t.Fatalf("MigrationsApplied after Migrate = %v, %v; want true, nil", ok, err)
	}
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM schema_migrations").Scan(&n); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	major, err := s.serverMajor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, m := range Migrations {
		if s.wants(m, major) {
			want++
		}
	}
	if n != uint64(want) {
		t.Fatalf("schema_migrations has %d rows after two runs, want %d (server major %d)", n, want, major)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	a := openStore(t, Config{})
	b := openStore(t, Config{Database: a.Database()})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		s := []*Store{a, b}[i%2]
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate #%d: %v", i, err)
		}
	}
	if ok, err := b.MigrationsApplied(ctx); err != nil || !ok {
		t.Fatalf("MigrationsApplied = %v, %v; want true, nil", ok, err)
	}
}

// TestLogsSchema pins the column names and order others compile queries
// against.
func TestLogsSchema(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	rows, err := s.conn.Query(ctx, "SELECT name, type, default_kind FROM system.columns WHERE database = currentDatabase() AND table = 'logs'") // in table order (18.16 has no position column)
	if err != nil {
		t.Fatalf("columns: %v", err)
	}
	defer rows.Close()
	var got, stored []string
	for rows.Next() {
		var name, typ, kind string
		if err := rows.Scan(&name, &typ, &kind); err != nil {
			t.Fatal(err)
		}
		if kind != "" {
			got = append(got, name+" "+typ+" "+kind)
			continue
		}
		got = append(got, name+" "+typ)
		stored = append(stored, name+" "+typ)
	}
	want := "tenant_id String, ts DateTime('UTC'), ts_ns Int64, observed_ns Int64, retention_days UInt16, " +
		"level String, severity_number UInt8, message String, service String, environment String, host String, " +
		"logger String, trace_id String, span_id String, request_id String, attr_keys Array(String), " +
		"attr_values Array(String), num_keys Array(String), num_values Array(Float64), exc_type String, " +
		"exc_message String, exc_stack String, size_bytes UInt32, seq UInt64, idx UInt32, " +
		"promoted_str_path String MATERIALIZED, promoted_str_http_path String MATERIALIZED, " +
		"promoted_str_http_route String MATERIALIZED, promoted_num_duration_ms Nullable(Float64) MATERIALIZED, " +
		"search_text String ALIAS"
	if strings.Join(got, ", ") != want {
		t.Fatalf("logs columns:\n got %s\nwant %s", strings.Join(got, ", "), want)
	}
	if strings.Join(insertColumns, ", ") != strings.Join(names(stored), ", ") {
		t.Fatalf("insertColumns %v do not match the table %v", insertColumns, names(stored))
	}
}

func names(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i], _, _ = strings.Cut(c, " ")
	}
	return out
}

func TestCheckMigrations(t *testing.T) {
	f := func(name string, ms []Migration, wantErr string) {
		t.Helper()
		err := checkMigrations(ms)
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("%s: checkMigrations = %v, want error containing %q", name, err, wantErr)
		}
	}
	f("the real list", Migrations, "")
	f("out of order", []Migration{{Version: 2, SQL: "x"}, {Version: 1, SQL: "y"}}, "versions must increase")
	f("duplicate", []Migration{{Version: 1, SQL: "x"}, {Version: 1, SQL: "y"}}, "versions must increase")
	f("version zero", []Migration{{Version: 0, SQL: "x"}}, "versions must increase")
	f("empty SQL", []Migration{{Version: 1, SQL: " "}}, "no SQL")
}

func TestOpenErrors(t *testing.T) {
	f := func(name string, cfg Config, want string) {
		t.Helper()
		s, err := Open(context.Background(), cfg)
		if err == nil {
			s.Close()
			t.Fatalf("%s: Open succeeded, want error containing %q", name, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %q, want it to contain %q", name, err, want)
		}
	}
	f("no addr", Config{}, "Addr is required")
	f("bad database", Config{Addr: "127.0.0.1:1", Database: "x; DROP DATABASE y"}, "invalid database name")
	f("bad compression", Config{Addr: "127.0.0.1:1", Compression: "zstd"}, "want lz4 or none")
}

func TestAllLoopback(t *testing.T) {
	for list, want := range map[string]bool{
		"127.0.0.1:9000":                    true,
		"localhost:9000, [::1]:9000":        true,
		"127.0.0.1:9000,ch2:9000":           false,
		"10.0.0.5:9000":                     false,
		"clickhouse.svc.cluster.local:9000": false,
		"":                                  false,
	} {
		if got := allLoopback(list); got != want {
			t.Errorf("allLoopback(%q) = %v, want %v", list, got, want)
		}
	}
}

// TestUncompressedRoundTrip: the "none" wire compression stores and reads
// back like LZ4 (the default on the loopback test server).
func TestUncompressedRoundTrip(t *testing.T) {
	for _, c := range []string{"none", "lz4"} {
		s := openStore(t, Config{Compression: c})
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows := realisticRows(1, "acme", 1, 500, 50)
		insert(t, s, rows)
		if got := readAll(t, s, "acme"); len(got) != len(rows) || got[0].Message == "" {
			t.Fatalf("%s: read %d rows back, stored %d", c, len(got), len(rows))
		}
	}
}

func TestOpenCreatesDatabase(t *testing.T) {
	ctx := context.Background()
	name := "created_" + strings.TrimPrefix(openStore(t, Config{}).Database(), "test_")
	s := openStore(t, Config{Database: name})
	t.Cleanup(func() { s.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name) })
	var db string
	if err := s.conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil || db != name {
		t.Fatalf("currentDatabase() = %q, %v; want %q", db, err, name)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// A migration whose statement took effect but was not recorded (the
// process died in between) is recorded by the next Migrate, not re-run:
// 18.16 would refuse ADD COLUMN twice.
func TestMigrateAfterCrashBeforeRecord(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	if err := s.conn.Exec(ctx, "ALTER TABLE schema_migrations DELETE WHERE version = 4"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		ok, err := s.MigrationsApplied(ctx)
		return err == nil && !ok
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate after the lost record: %v", err)
	}
	if ok, err := s.MigrationsApplied(ctx); err != nil || !ok {
		t.Fatalf("MigrationsApplied = %v, %v; want true, nil", ok, err)
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	tb.Fatal("condition not met within 5 s")
}

func TestMigrationWanted(t *testing.T) {
	s := &Store{}
	retired := Migration{Version: 9, MinMajor: 20, Retired: true}
	plain := Migration{Version: 1}
	modern := Migration{Version: 2, MinMajor: 20}
	for _, c := range []struct {
		m     Migration
		major int
		want  bool
	}{
		{plain, 18, true},
		{modern, 18, false},
		{modern, 26, true},
		{retired, 26, false},
		{retired, 18, false},
	} {
		if got := s.wants(c.m, c.major); got != c.want {
			t.Errorf("wants(%+v, %d) = %v", c.m, c.major, got)
		}
	}
}
