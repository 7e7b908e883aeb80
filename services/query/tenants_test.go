package query

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func tenantJSON(tb testing.TB, t tenant.Tenant) []byte {
	tb.Helper()
	b, err := json.Marshal(t)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestRetentionClipping: with the clock 7 days and 5 minutes after t0 and a
// 7-day retention, every kind of query sees only the rows from t0+5m on,
// though the older rows are still stored.
func TestRetentionClipping(t *testing.T) {
	rows := depthRows()
	f := newFixture(t, rows)
	d := tenant.NewDirectory()
	for _, id := range []string{"acme", "globex"} {
		if err := d.Apply(id, tenantJSON(t, tenant.Tenant{ID: id, RetentionDays: 7}), false); err != nil {
			t.Fatal(err)
		}
	}
	f.svc.SetTenants(d)
	floor := t0.Add(5 * time.Minute)
	f.svc.setClock(func() time.Time { return floor.Add(7 * 24 * time.Hour) })
	var visible, all int
	var old, kept store.Row
	for _, r := range rows {
		if r.Tenant != "acme" || r.Time >= t0.Add(10*time.Minute).UnixNano() {
			continue
		}
		all++
		if r.Time >= floor.UnixNano() {
			visible++
			kept = r
		} else {
			old = r
		}
	}
	if visible == 0 || visible == all {
		t.Fatalf("fixture: %d of %d rows visible", visible, all)
	}
	ctx := f.ctx("acme")
	from, to := ts(t0.Add(-time.Hour)), ts(t0.Add(10*time.Minute))
	sr, err := f.svc.Search(ctx, &sawmillv1.SearchRequest{From: from, To: to, Limit: 1000})
	if err != nil || len(sr.Events) != visible {
		t.Fatalf("search: %d events, want %d (%v)", len(sr.Events), visible, err)
	}
	ar, err := f.svc.Aggregate(ctx, &sawmillv1.AggregateRequest{Query: "| stats count()", From: from, To: to})
	if err != nil || ar.Rows[0].Values[0].GetNumberValue() != float64(visible) {
		t.Fatalf("aggregate: %v %v, want %d", ar, err, visible)
	}
	st, err := f.svc.Search(ctx, &sawmillv1.SearchRequest{Query: "| stats count()", From: from, To: to})
	if err != nil || st.Rows[0].Values[0].GetNumberValue() != float64(visible) {
		t.Fatalf("search table: %v %v, want %d", st, err, visible)
	}
	cr, err := f.svc.Correlate(ctx, &sawmillv1.CorrelateRequest{RequestId: old.RequestID, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cr.Events {
		if e.Timestamp.AsTime().Before(floor) {
			t.Fatalf("correlate returned %v, older than the retention floor %v", e.Timestamp.AsTime(), floor)
		}
	}
	if _, err := f.svc.Context(ctx, &sawmillv1.ContextRequest{Id: idOf(old)}); apierr.From(err).Code != apierr.NotFound {
		t.Fatalf("context of an expired row: %v, want not found", err)
	}
	cx, err := f.svc.Context(ctx, &sawmillv1.ContextRequest{Id: idOf(kept), Before: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cx.Events {
		if e.Timestamp.AsTime().Before(floor) {
			t.Fatalf("context returned %v, older than the retention floor %v", e.Timestamp.AsTime(), floor)
		}
	}
	// A range wholly before the floor is empty, not an error.
	sr, err = f.svc.Search(ctx, &sawmillv1.SearchRequest{From: ts(t0), To: ts(t0.Add(time.Minute))})
	if err != nil || len(sr.Events) != 0 {
		t.Fatalf("expired range: %v %v", sr, err)
	}
}

// TestSuspension follows the tenants bucket as the query role does: a
// suspension or deletion written to KV refuses the tenant's queries with
// 403 within 1 s (the requirement's own bound), and only that tenant's;
// lifting it lets queries through again.
func TestSuspension(t *testing.T) {
	f := newFixture(t, depthRows())
	n := testenv.StartNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: t.Name(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	d := tenant.NewDirectory()
	if err := b.Follow(ctx, b.Tenants, d.Apply); err != nil {
		t.Fatal(err)
	}
	f.svc.SetTenants(d)
	f.svc.setClock(func() time.Time { return t0.Add(time.Hour) })

	type call func(ctx context.Context) error
	calls := map[string]call{
		"search": func(ctx context.Context) error {
			_, err := f.svc.Search(ctx, &sawmillv1.SearchRequest{From: ts(t0), To: ts(t0.Add(time.Hour))})
			return err
		},
		"aggregate": func(ctx context.Context) error {
			_, err := f.svc.Aggregate(ctx, &sawmillv1.AggregateRequest{Query: "| stats count()", From: ts(t0), To: ts(t0.Add(time.Hour))})
			return err
		},
		"correlate": func(ctx context.Context) error {
			_, err := f.svc.Correlate(ctx, &sawmillv1.CorrelateRequest{RequestId: "req-1", From: ts(t0), To: ts(t0.Add(time.Hour))})
			return err
		},
		"context": func(ctx context.Context) error {
			// Line 0 of each tenant: acme's is seq 1, globex's seq 2.
			seq := uint64(1)
			if p, _ := f.svc.auth.GRPC(ctx, auth.ScopeQuery); p.TenantID == "globex" {
				seq = 2
			}
			_, err := f.svc.Context(ctx, &sawmillv1.ContextRequest{Id: encodeCursor(cursor{tsNs: t0.UnixNano(), seq: seq, idx: 0})})
			return err
		},
	}
	put := func(tn tenant.Tenant) time.Time {
		t.Helper()
		if _, err := b.Tenants.Put(ctx, tn.ID, tenantJSON(t, tn)); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	// waitFor polls until check holds for every call, at most 1 s after at.
	waitFor := func(what string, at time.Time, tenantID string, check func(error) bool) {
		t.Helper()
		for {
			bad := ""
			var last error
			for name, c := range calls {
				if err := c(f.ctx(tenantID)); !check(err) {
					bad, last = name, err
				}
			}
			if bad == "" {
				t.Logf("%s: took effect %v after the KV put", what, time.Since(at).Round(time.Millisecond))
				return
			}
			if time.Since(at) > time.Second {
				t.Fatalf("%s: %s still answers %v after 1 s", what, bad, last)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ok := func(err error) bool { return err == nil }
	refused := func(reason string) func(error) bool {
		return func(err error) bool {
			ae := apierr.From(err)
			return err != nil && ae.Code == apierr.PermissionDenied && ae.Message == "tenant suspended: "+reason
		}
	}
	put(tenant.Tenant{ID: "globex", RetentionDays: 30})
	at := put(tenant.Tenant{ID: "acme", RetentionDays: 30})
	waitFor("active", at, "acme", ok)
	at = put(tenant.Tenant{ID: "acme", RetentionDays: 30, Suspended: true, SuspendedReason: "unpaid invoice"})
	waitFor("suspended", at, "acme", refused("unpaid invoice"))
	waitFor("neighbour unaffected", time.Now(), "globex", ok)
	at = put(tenant.Tenant{ID: "acme", RetentionDays: 30})
	waitFor("reinstated", at, "acme", ok)
	at = put(tenant.Tenant{ID: "acme", RetentionDays: 30, Deleted: true})
	waitFor("deleted", at, "acme", refused("account deleted"))
	if err := calls["search"](f.ctx("acme")); !strings.Contains(err.Error(), "permission_denied") {
		t.Fatalf("deleted: %v", err)
	}
}
