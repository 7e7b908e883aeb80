package ingest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestSuspended(t *testing.T) {
	tests := []struct {
		name   string
		rec    *tenant.Tenant // nil: unknown to the directory
		want   string         // substring of the 403 message; "" for nil
		tenant string
	}{
		{"active", &tenant.Tenant{ID: "ta"}, "", "ta"},
		{"unknown", nil, "", "tz"},
		{"suspended", &tenant.Tenant{ID: "ts", Suspended: true, SuspendedReason: "unpaid invoice"}, "tenant suspended: unpaid invoice", "ts"},
		{"suspended without reason", &tenant.Tenant{ID: "tn", Suspended: true}, "tenant suspended: ", "tn"},
		{"deleted", &tenant.Tenant{ID: "td", Deleted: true}, "tenant deleted", "td"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tenant.NewDirectory()
			if tc.rec != nil {
				b, _ := json.Marshal(tc.rec)
				if err := dir.Apply(tc.rec.ID, b, false); err != nil {
					t.Fatal(err)
				}
			}
			e := NewEdge(Config{}, quiet, nil, nil, dir)
			checkSuspended(t, e.suspended(tc.tenant), tc.want)
		})
	}
}

// checkSuspended fails unless err is nil (want "") or a 403 whose message
// contains want.
func checkSuspended(tb testing.TB, err error, want string) {
	tb.Helper()
	if want == "" {
		if err != nil {
			tb.Fatalf("refused: %v", err)
		}
		return
	}
	ae := apierr.From(err)
	if err == nil || ae.Code != apierr.PermissionDenied || apierr.HTTPStatus(ae.Code) != 403 || !strings.Contains(ae.Message, want) {
		tb.Fatalf("err = %v, want 403 containing %q", err, want)
	}
}

// A suspension written to the tenants bucket reaches an edge following it
// within 1 s (the requirement's bound), and so does the resumption.
func TestSuspendFollowsKV(t *testing.T) {
	n := testenv.StartNATS(t)
	b, err := bus.Connect(context.Background(), bus.Config{URL: n.URL(), Name: t.Name(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := tenant.NewDirectory()
	if err := b.Follow(ctx, b.Tenants, dir.Apply); err != nil {
		t.Fatal(err)
	}
	e := NewEdge(Config{}, quiet, b, nil, dir)
	put := func(tn tenant.Tenant) {
		t.Helper()
		v, _ := json.Marshal(tn)
		if _, err := b.Tenants.Put(ctx, tn.ID, v); err != nil {
			t.Fatal(err)
		}
	}
	await := func(want string) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			err := e.suspended("tk")
			if ae := apierr.From(err); (want == "" && err == nil) || (err != nil && want != "" && strings.Contains(ae.Message, want)) {
				break
			}
			if time.Now().After(deadline) {
				checkSuspended(t, err, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	put(tenant.Tenant{ID: "tk", Name: "k"})
	await("")
	put(tenant.Tenant{ID: "tk", Name: "k", Suspended: true, SuspendedReason: "abuse"})
	await("tenant suspended: abuse")
	put(tenant.Tenant{ID: "tk", Name: "k"})
	await("")
}
