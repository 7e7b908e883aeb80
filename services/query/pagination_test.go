package query

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// TestPaginationEqualTimestamps pages through 3000 rows that share one
// nanosecond timestamp (three messages of 1000 rows), with another tenant's
// rows at the same instant: each row comes back exactly once, in the
// documented order, and no other tenant's row comes back at all.
func TestPaginationEqualTimestamps(t *testing.T) {
	const n = 3000
	var rows []store.Row
	for i := range n {
		for _, tenant := range []string{"acme", "globex"} {
			e := event.Event{Time: t0.UnixNano(), Level: "info", Message: fmt.Sprintf("%s %d", tenant, i), Service: "web"}
			rows = append(rows, store.Row{Tenant: tenant, RetentionDays: 7, Seq: uint64(10 + i/1000), Idx: uint32(i % 1000), Event: e})
		}
	}
	f := newFixture(t, rows)
	for _, limit := range []int32{317, 1000} {
		seen := map[string]bool{}
		var prev cursor
		cur, pages := "", 0
		for {
			resp, err := f.svc.Search(f.ctx("acme"), &sawmillv1.SearchRequest{From: ts(t0), To: ts(t0.Add(time.Second)), Limit: limit, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, e := range resp.Events {
				if !strings.HasPrefix(e.Message, "acme ") {
					t.Fatalf("limit %d: another tenant's row %q", limit, e.Message)
				}
				if seen[e.Message] {
					t.Fatalf("limit %d: %q returned twice", limit, e.Message)
				}
				seen[e.Message] = true
				c, err := decodeCursor(e.Id)
				if err != nil {
					t.Fatal(err)
				}
				if len(seen) > 1 && (c.seq > prev.seq || c.seq == prev.seq && c.idx >= prev.idx) {
					t.Fatalf("limit %d: %+v after %+v: not descending", limit, c, prev)
				}
				prev = c
			}
			if resp.NextCursor == "" {
				break
			}
			cur = resp.NextCursor
		}
		if len(seen) != n {
			t.Fatalf("limit %d: %d distinct rows over %d pages, want %d", limit, len(seen), pages, n)
		}
		if want := (n + int(limit) - 1) / int(limit); pages != want && pages != want+1 {
			t.Fatalf("limit %d: %d pages, want %d", limit, pages, want)
		}
	}
}

// TestCancelSlowQuery: ending the context of a running query stops it —
// Store.Query returns promptly and the server no longer runs it — and a
// search whose client has gone away answers "cancelled", not an internal
// error.
func TestCancelSlowQuery(t *testing.T) {
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	// A scan of 10^12 numbers: hours of work if nothing stops it.
	const slow = "SELECT count() FROM system.numbers WHERE number % 7 = 3 AND number < 1000000000000 AND 'sawmill-cancel-test' != ''"
	done := make(chan error, 1)
	go func() {
		rows, err := f.st.Query(ctx, slow)
		if err == nil {
			for rows.Next() {
			}
			err = rows.Err()
			rows.Close()
		}
		done <- err
	}()
	// Wait until the server runs it, so that the cancel has something to stop.
	waitRunning(t, f.st, true)
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("slow query finished without error")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("query still running 20 s after cancel")
	}
	waitRunning(t, f.st, false)
	gone, cancelGone := context.WithCancel(f.ctx("acme"))
	cancelGone()
	_, err := f.svc.Search(gone, &sawmillv1.SearchRequest{From: ts(t0), To: ts(t0.Add(time.Hour))})
	if ae := apierr.From(err); err == nil || ae.Code == apierr.Internal {
		t.Fatalf("search with a cancelled context: %v", err)
	}
}

// waitRunning polls system.processes until the cancel test's query runs
// (or no longer does). The 20 s bound catches a leak, not a latency.
func waitRunning(tb testing.TB, st *store.Store, want bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := st.Query(context.Background(), "SELECT count() FROM system.processes WHERE query LIKE '%sawmill-cancel-test%' AND query NOT LIKE '%system.processes%'")
		if err != nil {
			tb.Fatal(err)
		}
		var running uint64
		for rows.Next() {
			if err := rows.Scan(&running); err != nil {
				tb.Fatal(err)
			}
		}
		rows.Close()
		if (running > 0) == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after 20 s: query running = %v, want %v", running > 0, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPaginationAcrossWindows pages through rows spread over six hours, so
// that pages come from the newest-hour window, from the rest, and from
// both: the concatenated pages are exactly the matching rows, newest first,
// with a filter and without.
func TestPaginationAcrossWindows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var rows []store.Row
	for i := range 1500 {
		tenant := []string{"acme", "globex"}[i%2]
		// Clumps of equal timestamps, and a quiet newest hour.
		at := t0.Add(time.Duration(rng.IntN(5*3600)/4*4) * time.Second)
		e := event.Event{Time: at.UnixNano(), Level: []string{"info", "error"}[rng.IntN(2)], Message: fmt.Sprintf("%s %d", tenant, i)}
		rows = append(rows, store.Row{Tenant: tenant, RetentionDays: 7, Seq: uint64(1 + i/500), Idx: uint32(i), Event: e})
	}
	for i := range 40 { // a few in the newest hour
		e := event.Event{Time: t0.Add(5*time.Hour + time.Duration(i)*time.Minute).UnixNano(), Level: "error", Message: fmt.Sprintf("acme new %d", i)}
		rows = append(rows, store.Row{Tenant: "acme", RetentionDays: 7, Seq: 9, Idx: uint32(i), Event: e})
	}
	f := newFixture(t, rows)
	for _, c := range []struct {
		query string
		limit int32
	}{{"", 97}, {"level:error", 13}, {"level:error", 1000}, {"", 25}} {
		checkPages(t, f, rows, c.query, c.limit)
	}
}

// TestPaginationNarrowed pages through words the text blooms narrow to a
// few chunks, among thousands of rows in clumps of equal timestamps: from
// one statement of whole rows, and from positions first.
func TestPaginationNarrowed(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var rows []store.Row
	for i := range 4000 {
		tenant := []string{"acme", "acme", "acme", "globex"}[i%4]
		at := t0.Add(time.Duration(rng.IntN(900)*3) * time.Second) // 45 minutes, ~4 rows a second
		msg := fmt.Sprintf("%s %d", tenant, i)
		if i%9 == 0 {
			msg += " needle"
		}
		if i%500 == 0 {
			msg += " rarest"
		}
		e := event.Event{Time: at.UnixNano(), Level: []string{"info", "error"}[rng.IntN(2)], Message: msg}
		rows = append(rows, store.Row{Tenant: tenant, RetentionDays: 7, Seq: uint64(1 + i/1000), Idx: uint32(i), Event: e})
	}
	f := newFixture(t, rows)
	defer func(n int64) { maxOneStatementRows = n }(maxOneStatementRows)
	for _, one := range []int64{1e6, 0} {
		maxOneStatementRows = one
		for _, c := range []struct {
			query string
			limit int32
		}{{"needle", 13}, {"needle level:error", 5}, {"rarest", 2}, {"rarest OR needle", 50}, {"needle -level:error", 100}} {
			checkPages(t, f, rows, c.query, c.limit)
		}
	}
}

// checkPages pages through acme's rows matching query, limit at a time, and
// checks the concatenated pages are exactly those rows, newest first.
func checkPages(t *testing.T, f *fixture, rows []store.Row, query string, limit int32) {
	t.Helper()
	q, err := lql.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b store.Row) int { return rowLess(b, a) })
	var want []string
	for _, r := range sorted {
		if r.Tenant == "acme" && q.Match(&r.Event) {
			want = append(want, idOf(r))
		}
	}
	var got []string
	cur := ""
	for {
		resp, err := f.svc.Search(f.ctx("acme"), &sawmillv1.SearchRequest{Query: query, From: ts(t0), To: ts(t0.Add(6 * time.Hour)), Limit: limit, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(resp.Events)...)
		if resp.NextCursor == "" {
			break
		}
		cur = resp.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%q limit %d (one statement up to %d rows): %d rows paged, want %d (first difference at %d)", query, limit, maxOneStatementRows, len(got), len(want),
			slices.IndexFunc(got, func(s string) bool { return !slices.Contains(want, s) }))
	}
}
