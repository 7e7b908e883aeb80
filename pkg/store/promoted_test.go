package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/promoted"
)

// promotedRows returns n rows whose attributes are drawn from the promoted
// keys and others: absent, present, repeated with another value (the first
// counts), empty, and present only in the other kind.
func promotedRows(seed uint64, firstSeq uint64, n int) []Row {
	rng := rand.New(rand.NewPCG(seed, 0))
	keys := []string{"user_id", "http.path", "path", "duration_ms", "status_code", "duration", "http.route"}
	for _, a := range promoted.Attrs {
		keys = append(keys, a.Key)
	}
	rows := realisticRows(seed, "acme", firstSeq, n, 50)
	for i := range rows {
		e := &rows[i].Event
		e.Attrs, e.NumAttrs = nil, nil
		for range rng.IntN(6) {
			k := keys[rng.IntN(len(keys))]
			switch rng.IntN(4) {
			case 0:
				e.NumAttrs = append(e.NumAttrs, event.NumAttr{Key: k, Value: float64(rng.IntN(2000)) / 8})
			case 1:
				e.Attrs = append(e.Attrs, event.Attr{Key: k})
			default:
				e.Attrs = append(e.Attrs, event.Attr{Key: k, Value: fmt.Sprintf("/v%d", rng.IntN(9))})
			}
		}
	}
	return rows
}

// TestPromotedColumns: after Migrate, logs has a MATERIALIZED column per
// promoted attribute, stored by new inserts, and every column holds the
// attribute's first value (or "", or NULL) on every row, those stored
// before migration 10 too.
func TestPromotedColumns(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, Config{})
	migrateTo(t, s, 9)
	old := promotedRows(1, 1, 300)
	insertOld(t, s, old)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	fresh := promotedRows(2, 1000, 300)
	insert(t, s, fresh)

	type key struct {
		seq uint64
		idx uint32
	}
	byKey := map[key]event.Event{}
	for _, r := range append(old, fresh...) {
		byKey[key{r.Seq, r.Idx}] = r.Event
	}
	for _, a := range promoted.Attrs {
		var kind string
		var stored uint64
		if err := s.conn.QueryRow(ctx, "SELECT default_kind, data_compressed_bytes FROM system.columns WHERE database = currentDatabase() AND table = 'logs' AND name = ?", a.Column()).Scan(&kind, &stored); err != nil {
			t.Fatalf("%s: column %s: %v", a.Key, a.Column(), err)
		}
		if kind != "MATERIALIZED" || stored == 0 {
			t.Errorf("%s: column %s is %q with %d bytes stored, want MATERIALIZED and stored by the insert", a.Key, a.Column(), kind, stored)
		}
		rows, err := s.conn.Query(ctx, "SELECT seq, idx, ifNull(toString("+a.Column()+"), 'NULL') FROM logs")
		if err != nil {
			t.Fatal(err)
		}
		present, n := 0, 0
		for rows.Next() {
			var k key
			var got string
			if err := rows.Scan(&k.seq, &k.idx, &got); err != nil {
				t.Fatal(err)
			}
			want, ok := firstValue(byKey[k], a)
			if !ok && a.Number {
				want = "NULL"
			}
			if ok {
				present++
			}
			if got != want {
				t.Errorf("%s: row %v: column %s = %q, want %q (attrs %v, numbers %v)", a.Key, k, a.Column(), got, want, byKey[k].Attrs, byKey[k].NumAttrs)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != len(byKey) || present == 0 || present == n {
			t.Errorf("%s: %d rows read, %d with the attribute: want %d, some with and some without", a.Key, n, present, len(byKey))
		}
	}
}

// firstValue is the value of a's key in e as ClickHouse's toString renders
// the column: the first occurrence of the key in its kind.
func firstValue(e event.Event, a promoted.Attr) (string, bool) {
	if a.Number {
		for _, na := range e.NumAttrs {
			if na.Key == a.Key {
				return fmt.Sprint(na.Value), true
			}
		}
		return "", false
	}
	for _, sa := range e.Attrs {
		if sa.Key == a.Key {
			return sa.Value, true
		}
	}
	return "", false
}
