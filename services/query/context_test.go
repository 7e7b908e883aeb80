package query

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// depthRows are two tenants' lines on the same services and hosts over the
// 10 minutes from t0, some sharing a timestamp, with request and trace ids
// that the other tenant reuses. Every acme row is seq 1, every globex row
// seq 2, so an event id tells whose row it is.
func depthRows() []store.Row {
	var rows []store.Row
	for i := range 240 {
		for _, tenant := range []string{"acme", "globex"} {
			seq := uint64(1)
			if tenant == "globex" {
				seq = 2
			}
			e := event.Event{
				Level:     []string{"info", "error", "debug"}[i%3],
				Message:   fmt.Sprintf("%s line %d", tenant, i),
				Service:   []string{"web", "worker"}[i%2],
				Host:      []string{"h1", "h2", "h3"}[i%3],
				RequestID: fmt.Sprintf("req-%d", i%7),
				TraceID:   fmt.Sprintf("trace-%d", i%5),
			}
			// Pairs of lines share a timestamp: order falls to (seq, idx).
			e.Time = t0.Add(time.Duration(i/2) * 5 * time.Second).UnixNano()
			rows = append(rows, store.Row{Tenant: tenant, RetentionDays: 7, Seq: seq, Idx: uint32(i), Event: e})
		}
	}
	return rows
}

func rowLess(a, b store.Row) int {
	return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Idx, b.Idx))
}

func idOf(r store.Row) string { return encodeCursor(cursor{tsNs: r.Time, seq: r.Seq, idx: r.Idx}) }

func ids(evs []*sawmillv1.LogEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.GetId()
	}
	return out
}

func TestContext(t *testing.T) {
	rows := depthRows()
	f := newFixture(t, rows)
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, rowLess)
	// The ids search returns are the ones Context takes.
	resp, err := f.svc.Search(f.ctx("acme"), &sawmillv1.SearchRequest{Query: `"acme line 100"`, From: ts(t0), To: ts(t0.Add(time.Hour))})
	if err != nil || len(resp.Events) != 1 {
		t.Fatalf("search: %v %v", resp, err)
	}
	for _, c := range []struct {
		name          string
		line          int
		before, after int32
	}{
		{"middle", 100, 3, 4},
		{"defaults", 101, 0, 0},
		{"first lines", 1, 5, 2},
		{"last lines", 238, 2, 5},
		{"one each", 57, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			hitAt := slices.IndexFunc(sorted, func(r store.Row) bool { return r.Tenant == "acme" && r.Idx == uint32(c.line) })
			hit := sorted[hitAt]
			var older, newer []string
			for i := hitAt - 1; i >= 0; i-- {
				r := sorted[i]
				if r.Tenant == "acme" && r.Service == hit.Service && r.Host == hit.Host {
					older = append(older, idOf(r))
				}
			}
			for _, r := range sorted[hitAt+1:] {
				if r.Tenant == "acme" && r.Service == hit.Service && r.Host == hit.Host {
					newer = append(newer, idOf(r))
				}
			}
			nb, na := int(c.before), int(c.after)
			if nb == 0 {
				nb, na = defaultContextLines, defaultContextLines
			}
			older = older[:min(nb, len(older))]
			slices.Reverse(older)
			want := append(append(older, idOf(hit)), newer[:min(na, len(newer))]...)
			got, err := f.svc.Context(f.ctx("acme"), &sawmillv1.ContextRequest{Id: idOf(hit), Before: c.before, After: c.after})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got.Events), want) || int(got.Hit) != len(older) {
				t.Fatalf("context of line %d: hit %d %v\nwant hit %d %v", c.line, got.Hit, ids(got.Events), len(older), want)
			}
			if got.Events[got.Hit].Message != hit.Message {
				t.Fatalf("hit is %q, want %q", got.Events[got.Hit].Message, hit.Message)
			}
		})
	}
	// Same position in the other tenant's rows is not found; bad ids are 400.
	acme := sorted[slices.IndexFunc(sorted, func(r store.Row) bool { return r.Tenant == "acme" })]
	for _, c := range []struct {
		req  *sawmillv1.ContextRequest
		code apierr.Code
	}{
		{&sawmillv1.ContextRequest{Id: idOf(acme)}, apierr.NotFound},
		{&sawmillv1.ContextRequest{}, apierr.Invalid},
		{&sawmillv1.ContextRequest{Id: "not-an-id"}, apierr.Invalid},
		{&sawmillv1.ContextRequest{Id: idOf(acme), Before: -1}, apierr.Invalid},
		{&sawmillv1.ContextRequest{Id: idOf(acme), After: maxContextLines + 1}, apierr.Invalid},
	} {
		_, err := f.svc.Context(f.ctx("globex"), c.req)
		if ae := apierr.From(err); err == nil || ae.Code != c.code {
			t.Errorf("Context(%+v) as globex: %v, want %s", c.req, err, c.code)
		}
	}
}

func TestCorrelate(t *testing.T) {
	rows := depthRows()
	f := newFixture(t, rows)
	slices.SortFunc(rows, rowLess)
	want := func(tenant string, match func(store.Row) bool, limit int) ([]string, bool) {
		var out []string
		for _, r := range rows {
			if r.Tenant == tenant && match(r) && r.Time < t0.Add(10*time.Minute).UnixNano() {
				out = append(out, idOf(r))
			}
		}
		return out[:min(limit, len(out))], len(out) > limit
	}
	for _, c := range []struct {
		tenant string
		req    *sawmillv1.CorrelateRequest
		match  func(store.Row) bool
		limit  int
	}{
		{"acme", &sawmillv1.CorrelateRequest{RequestId: "req-3"}, func(r store.Row) bool { return r.RequestID == "req-3" }, defaultCorrelateLimit},
		{"globex", &sawmillv1.CorrelateRequest{TraceId: "trace-4"}, func(r store.Row) bool { return r.TraceID == "trace-4" }, defaultCorrelateLimit},
		{"acme", &sawmillv1.CorrelateRequest{TraceId: "trace-1", Limit: 7}, func(r store.Row) bool { return r.TraceID == "trace-1" }, 7},
		{"acme", &sawmillv1.CorrelateRequest{RequestId: "req-' OR 1=1 --"}, func(store.Row) bool { return false }, defaultCorrelateLimit},
	} {
		c.req.From, c.req.To = ts(t0), ts(t0.Add(10*time.Minute))
		got, err := f.svc.Correlate(f.ctx(c.tenant), c.req)
		if err != nil {
			t.Fatal(err)
		}
		w, trunc := want(c.tenant, c.match, c.limit)
		if !slices.Equal(ids(got.Events), w) || got.Truncated != trunc {
			t.Errorf("%s %+v: truncated %v %v\nwant truncated %v %v", c.tenant, c.req, got.Truncated, ids(got.Events), trunc, w)
		}
		services := map[string]bool{}
		for _, e := range got.Events {
			services[e.Service] = true
		}
		if len(w) > 2 && len(services) < 2 {
			t.Errorf("%+v: one service only: %v", c.req, services)
		}
	}
	for _, req := range []*sawmillv1.CorrelateRequest{
		{RequestId: "req-1"},
		{From: ts(t0), To: ts(t0.Add(time.Minute))},
		{RequestId: "a", TraceId: "b", From: ts(t0), To: ts(t0.Add(time.Minute))},
		{RequestId: "a", Limit: -1, From: ts(t0), To: ts(t0.Add(time.Minute))},
		{RequestId: "a", Limit: maxCorrelateLimit + 1, From: ts(t0), To: ts(t0.Add(time.Minute))},
		{RequestId: "a", From: ts(t0), To: ts(t0.Add(1000 * 24 * time.Hour))},
	} {
		_, err := f.svc.Correlate(f.ctx("acme"), req)
		if ae := apierr.From(err); err == nil || ae.Code != apierr.Invalid {
			t.Errorf("Correlate(%+v): %v, want invalid_argument", req, err)
		}
	}
}

// TestSearchIDs: every event a search returns carries the id of its row.
func TestSearchIDs(t *testing.T) {
	rows := depthRows()
	f := newFixture(t, rows)
	resp, err := f.svc.Search(f.ctx("globex"), &sawmillv1.SearchRequest{From: ts(t0), To: ts(t0.Add(time.Hour)), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	slices.SortFunc(rows, func(a, b store.Row) int { return rowLess(b, a) })
	for _, r := range rows {
		if r.Tenant == "globex" {
			want = append(want, idOf(r))
		}
	}
	if !slices.Equal(ids(resp.Events), want) {
		t.Fatalf("ids %v\nwant %v", ids(resp.Events), want)
	}
}
