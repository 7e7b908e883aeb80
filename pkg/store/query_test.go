package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestQueryBindsArgs(t *testing.T) {
	s := migratedStore(t)
	rows := realisticRows(8, "it's \\ tricky'; DROP TABLE logs; --", 1, 10, 10)
	insert(t, s, rows)
	if got := readAll(t, s, rows[0].Tenant); len(got) != len(rows) {
		t.Fatalf("read %d rows for a tenant with quotes, want %d", len(got), len(rows))
	}
	res, err := s.Query(context.Background(), "SELECT count() FROM logs WHERE tenant_id = ? AND positionCaseInsensitiveUTF8(message, ?) > 0", rows[0].Tenant, "' OR 1=1 --")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer res.Close()
	var n uint64
	for res.Next() {
		if err := res.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if n != 0 {
		t.Fatalf("injection attempt matched %d rows", n)
	}
}

// queryErr runs query through Store.Query and returns the first error, from
// the query or while reading its rows.
func queryErr(ctx context.Context, s *Store, query string) error {
	rows, err := s.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

func TestQueryLimits(t *testing.T) {
	ctx := context.Background()
	f := func(name string, s *Store, ctx context.Context, query, want string) {
		t.Helper()
		err := queryErr(ctx, s, query)
		if want == "" {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %v, want it to contain %q", name, err, want)
		}
	}
	s := migratedStore(t)
	f("read", s, ctx, "SELECT count() FROM logs", "")
	f("write rejected", s, ctx, "CREATE TABLE x (a UInt8) ENGINE = Memory", "readonly")
	f("insert rejected", s, ctx, "INSERT INTO logs (tenant_id) SELECT 'x'", "readonly")

	small := openStore(t, Config{Database: s.Database(), MaxMemoryBytes: 10 << 20})
	if err := queryErr(ctx, small, "SELECT groupArray(number) FROM numbers(100000000)"); !errors.Is(err, ErrQueryMemory) {
		t.Fatalf("query over MaxMemoryBytes: %v, want ErrQueryMemory", err)
	}

	short := openStore(t, Config{Database: s.Database(), MaxExecutionTime: time.Second})
	// The client deadline or the server's max_execution_time, whichever
	// notices first, ends an endless scan.
	err := queryErr(ctx, short, "SELECT count() FROM system.numbers WHERE sipHash64(number) = 0")
	if !errors.Is(err, ErrQueryTimeout) {
		t.Fatalf("endless query under MaxExecutionTime: %v, want ErrQueryTimeout", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	f("canceled context", s, canceled, "SELECT 1", "context canceled")
}
