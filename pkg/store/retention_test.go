package store

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePartition(t *testing.T) {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want Partition
		ok   bool
	}{
		{"(7,'2026-11-01')", Partition{7, day}, true},
		{"(30, '2026-11-01')", Partition{30, day}, true},
		{"(65535,'2026-11-01')", Partition{65535, day}, true},
		{"(65536,'2026-11-01')", Partition{}, false},
		{"(7,'2026-13-01')", Partition{}, false},
		{"(7,'2026-11-01'); DROP TABLE logs", Partition{}, false},
		{"(7,'2026-11-01') ", Partition{}, false},
		{"202611", Partition{}, false},
		{"(-1,'2026-11-01')", Partition{}, false},
		{"", Partition{}, false},
	}
	for _, tc := range tests {
		got, err := ParsePartition(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePartition(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if canon := strings.ReplaceAll(tc.in, " ", ""); tc.ok && got.String() != canon {
			t.Errorf("String() = %q, want %q", got.String(), canon)
		}
	}
}

func TestLogPartitionsAndDrop(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	rows := realisticRows(11, "acme", 1, 600, 100)
	for i := range rows { // three classes over two days
		rows[i].RetentionDays = []uint16{3, 7, 30}[i%3]
		rows[i].Time += int64(i%2) * int64(24*time.Hour)
	}
	insert(t, s, rows)
	got, err := s.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range rows {
		p := Partition{r.RetentionDays, time.Unix(0, r.Time).UTC().Truncate(24 * time.Hour)}
		if !slices.Contains(want, p.String()) {
			want = append(want, p.String())
		}
	}
	if strs := partitionStrings(got); !slices.Equal(strs, sorted(want)) {
		t.Fatalf("partitions = %v, want %v", strs, sorted(want))
	}
	drop := Partition{7, base.Truncate(24 * time.Hour)}
	if err := s.DropLogPartition(ctx, drop); err != nil {
		t.Fatal(err)
	}
	if err := s.DropLogPartition(ctx, Partition{9, base}); err != nil { // absent: no error
		t.Fatalf("drop absent partition: %v", err)
	}
	got, err = s.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = slices.DeleteFunc(want, func(p string) bool { return p == drop.String() })
	if strs := partitionStrings(got); !slices.Equal(strs, sorted(want)) {
		t.Fatalf("after drop: partitions = %v, want %v", strs, sorted(want))
	}
}

func TestDeleteTenantLogs(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	insert(t, s, realisticRows(1, "gone", 1, 500, 100))
	insert(t, s, realisticRows(2, "kept", 100, 300, 100))
	if err := s.DeleteTenantLogs(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// The mutation is asynchronous; poll (bounded) until it is done.
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending, err := s.TenantDeletePending(ctx, "gone")
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mutation still pending after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The pending check must have been watching our mutation (one on logs,
	// one on text_blooms).
	var named uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = 'logs' AND position(command, ?) > 0", "'gone'").Scan(&named); err != nil || named != 1 {
		t.Fatalf("mutations of logs naming the tenant: %d (%v), want 1", named, err)
	}
	for tenant, want := range map[string]uint64{"gone": 0, "kept": 300} {
		n, err := s.TenantRows(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: %d rows, want %d", tenant, n, want)
		}
	}
	if err := s.DeleteTenantLogs(ctx, ""); err == nil {
		t.Error("empty tenant id accepted")
	}
}

func partitionStrings(ps []Partition) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
