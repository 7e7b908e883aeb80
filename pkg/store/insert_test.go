package store

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// readAll reads every stored event of tenant in (seq, idx) order.
func readAll(tb testing.TB, s *Store, tenant string) []StoredEvent {
	tb.Helper()
	rows, err := s.Query(context.Background(), "SELECT "+EventColumns+" FROM logs WHERE tenant_id = ? ORDER BY seq, idx", tenant)
	if err != nil {
		tb.Fatalf("query: %v", err)
	}
	defer rows.Close()
	var out []StoredEvent
	for rows.Next() {
		e, err := ScanEvent(rows)
		if err != nil {
			tb.Fatalf("scan: %v", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("rows: %v", err)
	}
	return out
}

func insert(tb testing.TB, s *Store, rows []Row) {
	tb.Helper()
	if err := s.Insert(context.Background(), rows); err != nil {
		tb.Fatalf("insert: %v", err)
	}
}

func TestInsertRoundTrip(t *testing.T) {
	s := migratedStore(t)
	rows := realisticRows(1, "acme", 100, 10_000, 250)
	// Edge cases on top of the realistic ones.
	rows[0].Event = event.Event{Time: rows[0].Time} // empty everything, nil attrs
	rows[1].Attrs = []event.Attr{{Key: "ключ 🔑", Value: "значение\x00with NUL"}, {Key: "", Value: ""}}
	rows[1].NumAttrs = []event.NumAttr{{Key: "neg", Value: -1.5e300}, {Key: "tiny", Value: math.SmallestNonzeroFloat64}, {Key: "inf", Value: math.Inf(1)}}
	rows[2].Message = strings.Repeat("долгое сообщение ", 20_000)
	rows[3].SeverityNumber, rows[3].Level = 24, event.LevelFatal
	insert(t, s, rows)

	got := readAll(t, s, "acme")
	if len(got) != len(rows) {
		t.Fatalf("read %d rows, want %d", len(got), len(rows))
	}
	for i, g := range got {
		w := rows[i]
		if g.Seq != w.Seq || g.Idx != w.Idx {
			t.Fatalf("row %d: key (%d, %d), want (%d, %d)", i, g.Seq, g.Idx, w.Seq, w.Idx)
		}
		if !reflect.DeepEqual(g.Event, w.Event) {
			t.Fatalf("row %d (seq %d idx %d):\n got %+v\nwant %+v", i, w.Seq, w.Idx, g.Event, w.Event)
		}
	}

	// The derived columns: ts is the second, size_bytes the billing size.
	var ts, size, retention uint64
	err := s.conn.QueryRow(context.Background(),
		"SELECT toUInt64(ts), toUInt64(size_bytes), toUInt64(retention_days) FROM logs WHERE seq = ? AND idx = ?", rows[5].Seq, rows[5].Idx).
		Scan(&ts, &size, &retention)
	if err != nil {
		t.Fatalf("derived columns: %v", err)
	}
	if ts != uint64(rows[5].Time/1e9) || size != uint64(rows[5].Size()) || retention != uint64(rows[5].RetentionDays) {
		t.Fatalf("ts, size_bytes, retention_days = %d, %d, %d; want %d, %d, %d",
			ts, size, retention, rows[5].Time/1e9, rows[5].Size(), rows[5].RetentionDays)
	}
}

func TestInsertEmpty(t *testing.T) {
	s := openStore(t, Config{}) // not migrated: an empty insert must not touch the server
	if err := s.Insert(context.Background(), nil); err != nil {
		t.Fatalf("insert of zero rows: %v", err)
	}
}

func TestInsertTimeRange(t *testing.T) {
	s := migratedStore(t)
	f := func(ns int64, wantErr bool) {
		t.Helper()
		rows := realisticRows(2, "range", 1, 3, 3)
		rows[1].Time = ns
		err := s.Insert(context.Background(), rows)
		if (err != nil) != wantErr {
			t.Fatalf("insert with time %d: err = %v, want error %v", ns, err, wantErr)
		}
	}
	f(-1, true)
	f(0, false)
	f(math.MaxUint32*1e9+999_999_999, false) // 2106-02-07 06:28:15.999999999
	f((math.MaxUint32+1)*1e9, true)
	f(math.MaxInt64, true)
}

func TestTwoTenants(t *testing.T) {
	s := migratedStore(t)
	a := realisticRows(3, "tenant-a", 1, 500, 50)
	b := realisticRows(4, "tenant-b", 11, 300, 50)
	insert(t, s, append(append([]Row{}, a...), b...))
	if got := readAll(t, s, "tenant-a"); len(got) != len(a) {
		t.Fatalf("tenant-a has %d rows, want %d", len(got), len(a))
	}
	if got := readAll(t, s, "tenant-b"); len(got) != len(b) {
		t.Fatalf("tenant-b has %d rows, want %d", len(got), len(b))
	}
	if got := readAll(t, s, "tenant-"); len(got) != 0 {
		t.Fatalf("prefix tenant has %d rows, want 0", len(got))
	}
}

func TestExisting(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	stored := realisticRows(5, "acme", 10, 1000, 100) // messages 10..19
	insert(t, s, stored[:500])                        // messages 10..14 stored
	other := realisticRows(6, "other", 12, 200, 100)  // same seqs, other tenant
	insert(t, s, other)

	f := func(name string, rows []Row, want map[RowKey]struct{}) {
		t.Helper()
		got, err := s.Existing(ctx, rows)
		if err != nil {
			t.Fatalf("%s: existing: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: existing found %d keys, want %d", name, len(got), len(want))
		}
	}
	keys := func(rows []Row) map[RowKey]struct{} {
		m := map[RowKey]struct{}{}
		for _, r := range rows {
			m[RowKey{r.Seq, r.Idx}] = struct{}{}
		}
		return m
	}
	f("all stored", stored[:500], keys(stored[:500]))
	f("none stored", stored[500:], keys(nil))
	f("half", stored, keys(stored[:500]))
	f("part of a message", stored[450:550], keys(stored[450:500]))
	f("empty", nil, keys(nil))

	// Redelivery: the writer inserts only what is missing; the table then
	// holds every row exactly once.
	found, err := s.Existing(ctx, stored)
	if err != nil {
		t.Fatal(err)
	}
	var missing []Row
	for _, r := range stored {
		if _, ok := found[RowKey{r.Seq, r.Idx}]; !ok {
			missing = append(missing, r)
		}
	}
	insert(t, s, missing)
	var n, distinct uint64
	if err := s.conn.QueryRow(ctx, "SELECT count(), uniqExact(seq, idx) FROM logs WHERE tenant_id = 'acme'").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(stored)) || distinct != n {
		t.Fatalf("after redelivery: %d rows, %d distinct keys; want %d each", n, distinct, len(stored))
	}
}

func TestDropPartition(t *testing.T) {
	ctx := context.Background()
	s := migratedStore(t)
	rows := realisticRows(7, "acme", 1, 2000, 100)
	for i := range rows { // spread over two days and three retention classes
		rows[i].RetentionDays = []uint16{3, 7, 30}[i%3]
		rows[i].Time += int64(i%2) * int64(24*time.Hour)
	}
	insert(t, s, rows)
	partitions := func() map[string]uint64 {
		t.Helper()
		res, err := s.conn.Query(ctx, "SELECT partition, sum(rows) FROM system.parts WHERE database = currentDatabase() AND table = 'logs' AND active GROUP BY partition")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		m := map[string]uint64{}
		for res.Next() {
			var p string
			var n uint64
			if err := res.Scan(&p, &n); err != nil {
				t.Fatal(err)
			}
			m[p] = n
		}
		return m
	}
	want := map[string]uint64{}
	for _, r := range rows {
		want[fmt.Sprintf("(%d,'%s')", r.RetentionDays, r.Timestamp().Format("2006-01-02"))]++
	}
	if got := partitions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("partitions = %v, want %v", got, want)
	}
	day := base.Format("2006-01-02")
	if err := s.conn.Exec(ctx, fmt.Sprintf("ALTER TABLE logs DROP PARTITION (3, '%s')", day)); err != nil {
		t.Fatalf("drop partition: %v", err)
	}
	delete(want, fmt.Sprintf("(3,'%s')", day))
	if got := partitions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("partitions after drop = %v, want %v", got, want)
	}
	var left uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM logs WHERE retention_days = 3 AND toDate(ts) = toDate(?)", day).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d rows left in the dropped partition", left)
	}
}
