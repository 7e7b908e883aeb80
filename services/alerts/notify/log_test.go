package notify

import (
	"context"
	"fmt"
	"testing"
)

// TestLogNewestFirst fills the log with tenants interleaved unevenly (a
// burst of tA, then tB mostly, then tA again) and checks that Log returns
// exactly the last limit records of the tenant, newest first, for limits
// that take every path: all records, the bisection, and its edges.
func TestLogNewestFirst(t *testing.T) {
	_, b := startBus(t)
	q := NewQueue(b, testConfig, nil)
	ctx := context.Background()
	var mine []string // tA's ids in publish order
	put := func(tenant string, i int) {
		id := fmt.Sprintf("%s-%d", tenant, i)
		q.record(ctx, Record{ID: id, TenantID: tenant, ChannelID: "c", Kind: KindTest, Status: StatusDelivered, Attempts: 1})
		if tenant == "tA" {
			mine = append(mine, id)
		}
	}
	i := 0
	for range 300 { // a burst of tA
		put("tA", i)
		i++
	}
	for k := range 900 { // mostly tB, tA now and then
		if k%30 == 0 {
			put("tA", i)
		} else {
			put("tB", i)
		}
		i++
	}
	for range 40 {
		put("tA", i)
		i++
	}
	for _, limit := range []int{1, 2, 7, 40, 41, 69, 70, 100, 171, 400, 370} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			recs := logOf(t, q, "tA", limit)
			want := min(limit, len(mine))
			if len(recs) != want {
				t.Fatalf("Log(tA, %d) returned %d records, want %d", limit, len(recs), want)
			}
			for j, r := range recs {
				if w := mine[len(mine)-1-j]; r.ID != w || r.TenantID != "tA" {
					t.Fatalf("record %d = %s, want %s", j, r.ID, w)
				}
			}
		})
	}
	if recs := logOf(t, q, "tC", 10); len(recs) != 0 {
		t.Errorf("empty tenant's log = %+v", recs)
	}
	if recs := logOf(t, q, "tA", 0); len(recs) != DefaultLogLimit {
		t.Errorf("default limit returned %d", len(recs))
	}
}
