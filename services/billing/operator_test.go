package billing

import (
	"context"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/tenant"
)

const testOperatorKey = "op-test-key-0123456789abcdefghijklmnop"

// Without an operator key the operator API is disabled: 403 for anyone.
func TestOperatorDisabled(t *testing.T) {
	r := newLifecycleRig(t, "")
	acc := r.signup(t, "a@example.com")
	for _, bearer := range []string{testOperatorKey, acc.token, acc.apiKey} {
		if code, out := r.call(t, "GET", "/v1/operator/tenants", bearer, nil); code != 403 || out["code"] != "permission_denied" {
			t.Fatalf("disabled operator API: %d %v", code, out)
		}
	}
}

func TestOperatorAuth(t *testing.T) {
	r := newLifecycleRig(t, testOperatorKey)
	acc := r.signup(t, "a@example.com")
	tests := []struct {
		name   string
		bearer string
		want   int
	}{
		{"operator key", testOperatorKey, 200},
		{"no credential", "", 401},
		{"wrong key", testOperatorKey + "x", 401},
		{"tenant session", acc.token, 403},
		{"tenant api key", acc.apiKey, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := r.call(t, "GET", "/v1/operator/tenants", tc.bearer, nil); code != tc.want {
				t.Fatalf("status %d (%v), want %d", code, out, tc.want)
			}
		})
	}
	// The operator key is not a tenant credential.
	if code, _ := r.call(t, "GET", "/v1/keys", testOperatorKey, nil); code != 403 {
		t.Fatalf("operator key on a tenant route: %d, want 403", code)
	}
}

func TestOperatorTenants(t *testing.T) {
	ctx := context.Background()
	r := newLifecycleRig(t, testOperatorKey)
	a := r.signup(t, "a@example.com")
	b := r.signup(t, "b@example.com")
	now := time.Now().UTC()
	r.insertRows(t, a.tenant, 1, 120, now)
	r.insertRows(t, b.tenant, 2, 30, now)

	code, out := r.call(t, "GET", "/v1/operator/tenants", testOperatorKey, nil)
	if code != 200 {
		t.Fatalf("list: %d %v", code, out)
	}
	list := out["tenants"].([]any)
	if len(list) != 2 {
		t.Fatalf("list: %v", list)
	}
	for i, want := range []struct {
		id     string
		events string
	}{{a.tenant, "120"}, {b.tenant, "30"}} { // oldest first
		got := list[i].(map[string]any)
		if got["id"] != want.id || got["plan"] != "free" || got["period_events"] != want.events || got["period_bytes"] == nil {
			t.Errorf("tenant %d = %v, want id %s, plan free, %s events", i, got, want.id, want.events)
		}
	}

	// Plan change: recorded, retention follows the plan.
	path := "/v1/operator/tenants/" + a.tenant
	if code, out := r.call(t, "PUT", path+"/plan", testOperatorKey, map[string]string{"plan": "team"}); code != 200 || out["plan"] != "team" || out["period_events"] != "120" {
		t.Fatalf("set plan: %d %v", code, out)
	}
	rec := lifecycleTenant(t, r, a.tenant)
	if rec.Plan != "team" || rec.RetentionDays != 30 || len(rec.PlanChanges) != 1 ||
		rec.PlanChanges[0].From != "free" || rec.PlanChanges[0].To != "team" {
		t.Fatalf("after plan change: %+v", rec)
	}
	if code, _ := r.call(t, "PUT", path+"/plan", testOperatorKey, map[string]string{"plan": "team"}); code != 200 ||
		len(lifecycleTenant(t, r, a.tenant).PlanChanges) != 1 {
		t.Fatalf("setting the same plan again recorded a change")
	}

	// Suspension reaches a directory following the tenants bucket within 1 s
	// (the requirement's bound), as edges and queries follow it.
	dir := tenant.NewDirectory()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.bus.Follow(fctx, r.bus.Tenants, dir.Apply); err != nil {
		t.Fatal(err)
	}
	if code, out := r.call(t, "POST", path+"/suspend", testOperatorKey, map[string]string{"reason": "unpaid invoice"}); code != 200 ||
		out["suspended"] != true || out["suspended_reason"] != "unpaid invoice" {
		t.Fatalf("suspend: %d %v", code, out)
	}
	awaitDirectory(t, dir, a.tenant, func(t tenant.Tenant) bool { return t.Suspended && t.SuspendedReason == "unpaid invoice" })
	if rec := lifecycleTenant(t, r, a.tenant); rec.Plan != "team" || rec.RetentionDays != 30 {
		t.Fatalf("suspension lost the plan: %+v", rec)
	}
	if code, out := r.call(t, "POST", path+"/resume", testOperatorKey, map[string]string{}); code != 200 || out["suspended"] == true {
		t.Fatalf("resume: %d %v", code, out)
	}
	awaitDirectory(t, dir, a.tenant, func(t tenant.Tenant) bool { return !t.Suspended && t.SuspendedReason == "" })
	if rec := lifecycleTenant(t, r, b.tenant); rec.Suspended || rec.Plan != "free" {
		t.Fatalf("other tenant touched: %+v", rec)
	}
}

func TestOperatorBadInput(t *testing.T) {
	r := newLifecycleRig(t, testOperatorKey)
	a := r.signup(t, "a@example.com")
	long := make([]byte, 201)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"unknown plan", "PUT", "/v1/operator/tenants/" + a.tenant + "/plan", map[string]string{"plan": "gold"}, 400},
		{"empty plan", "PUT", "/v1/operator/tenants/" + a.tenant + "/plan", map[string]string{}, 400},
		{"unknown tenant", "PUT", "/v1/operator/tenants/taaaaaaaaaaaaa/plan", map[string]string{"plan": "team"}, 404},
		{"malformed tenant", "POST", "/v1/operator/tenants/t.*/suspend", map[string]string{}, 400},
		{"uppercase tenant", "POST", "/v1/operator/tenants/TABC/resume", map[string]string{}, 400},
		{"long reason", "POST", "/v1/operator/tenants/" + a.tenant + "/suspend", map[string]string{"reason": string(long)}, 400},
		{"control in reason", "POST", "/v1/operator/tenants/" + a.tenant + "/suspend", map[string]string{"reason": "a\nb"}, 400},
		{"resume unknown", "POST", "/v1/operator/tenants/tbbbbbbbbbbbbb/resume", map[string]string{}, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := r.call(t, tc.method, tc.path, testOperatorKey, tc.body)
			if code != tc.want || out["message"] == "" {
				t.Fatalf("status %d (%v), want %d", code, out, tc.want)
			}
		})
	}
	if rec := lifecycleTenant(t, r, a.tenant); rec.Suspended || rec.Plan != "free" || len(rec.PlanChanges) != 0 {
		t.Fatalf("bad input changed the tenant: %+v", rec)
	}
}

func lifecycleTenant(tb testing.TB, r *lifecycleRig, id string) tenant.Tenant {
	tb.Helper()
	var t tenant.Tenant
	if found, err := getJSON(context.Background(), r.bus.Tenants, id, &t); err != nil || !found {
		tb.Fatalf("load tenant %s: found=%v %v", id, found, err)
	}
	return t
}

// awaitDirectory waits up to 1 s for dir's record of id to satisfy ok.
func awaitDirectory(tb testing.TB, dir *tenant.Directory, id string, ok func(tenant.Tenant) bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		t, found := dir.Get(id)
		if found && ok(t) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("directory did not follow within 1 s: %+v", t)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
