package billing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// After DELETE /v1/account no row of the tenant remains in ClickHouse, its
// key fails with 401, its control-plane records are gone (but for the
// tombstone and invoices), and another tenant is untouched.
func TestDeleteAccount(t *testing.T) {
	ctx := context.Background()
	r := newLifecycleRig(t, testOperatorKey)
	a := r.signup(t, "gone@example.com")
	b := r.signup(t, "kept@example.com")
	now := time.Now().UTC()
	r.insertRows(t, a.tenant, 1, 500, now)
	r.insertRows(t, b.tenant, 2, 200, now)
	// Settings of both tenants in every bucket the deletion must purge.
	for _, id := range []string{a.tenant, b.tenant} {
		for _, kv := range []jetstream.KeyValue{r.bus.Scrubbing, r.bus.Quotas} {
			mustPut(t, kv, id, `{}`)
		}
		for _, kv := range []jetstream.KeyValue{r.bus.Searches, r.bus.Dashboards} {
			mustPut(t, kv, id+".s1", `{}`)
		}
		mustPut(t, r.bus.Invoices, id+".20261101", `{}`)
	}
	if code, _ := r.call(t, "POST", "/v1/keys", a.token, map[string]any{"name": "second", "scopes": []string{"ingest"}}); code != 200 {
		t.Fatalf("create second key: %d", code)
	}

	if code, out := r.call(t, "DELETE", "/v1/account", "", nil); code != 401 {
		t.Fatalf("delete without credentials: %d %v", code, out)
	}
	if code, out := r.call(t, "DELETE", "/v1/account", a.apiKey, nil); code != 403 {
		t.Fatalf("delete with an ingest/query key: %d %v", code, out)
	}
	code, out := r.call(t, "DELETE", "/v1/account", a.token, nil)
	if code != 200 || out["tenant_id"] != a.tenant || out["complete"] != true || out["completed_at"] == nil {
		t.Fatalf("delete: %d %v", code, out)
	}

	for id, want := range map[string]uint64{a.tenant: 0, b.tenant: 200} {
		if n, err := r.store.TenantRows(ctx, id); err != nil || n != want {
			t.Errorf("%s: %d rows (%v), want %d", id, n, err, want)
		}
	}
	// The key stops working on every node within a second (the key table
	// follows KV; 1 s is the documented bound).
	for deadline := time.Now().Add(time.Second); r.usageStatus(t, a.apiKey) != 401; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("deleted tenant's key still works after 1 s")
		}
	}
	if code := r.usageStatus(t, b.apiKey); code != 200 {
		t.Fatalf("other tenant's key: %d", code)
	}
	if code, _ := r.call(t, "POST", "/v1/login", "", map[string]string{"email": "gone@example.com", "password": "correct horse battery"}); code != 401 {
		t.Fatalf("login of the deleted user: %d", code)
	}
	if code, _ := r.call(t, "POST", "/v1/login", "", map[string]string{"email": "kept@example.com", "password": "correct horse battery"}); code != 200 {
		t.Fatalf("login of the other user: %d", code)
	}

	// KV: the tenant's entries are gone, the other tenant's are all there.
	type entry struct {
		kv  jetstream.KeyValue
		key string
	}
	for _, c := range []struct {
		tenant string
		exists bool
	}{{a.tenant, false}, {b.tenant, true}} {
		for _, e := range []entry{{r.bus.Scrubbing, c.tenant}, {r.bus.Quotas, c.tenant},
			{r.bus.Searches, c.tenant + ".s1"}, {r.bus.Dashboards, c.tenant + ".s1"}} {
			if got := exists(t, e.kv, e.key); got != c.exists {
				t.Errorf("%s/%s exists = %v, want %v", e.kv.Bucket(), e.key, got, c.exists)
			}
		}
		if got := countKeys(t, r.bus.Keys, c.tenant+".*"); (got > 0) != c.exists {
			t.Errorf("%s has %d keys", c.tenant, got)
		}
		if !exists(t, r.bus.Invoices, c.tenant+".20261101") {
			t.Errorf("invoice of %s purged; invoices are the billing record", c.tenant)
		}
	}
	if exists(t, r.bus.Users, tenant.EmailKey("gone@example.com")) || !exists(t, r.bus.Users, tenant.EmailKey("kept@example.com")) {
		t.Error("users: wrong one purged")
	}
	if rec := lifecycleTenant(t, r, a.tenant); !rec.Deleted {
		t.Errorf("tenant record not marked deleted: %+v", rec)
	}
	if rec := lifecycleTenant(t, r, b.tenant); rec.Deleted {
		t.Errorf("other tenant marked deleted: %+v", rec)
	}

	// Deleting again (a session still valid) is idempotent and reports
	// completion; the operator no longer lists the tenant nor can change it.
	if code, out := r.call(t, "DELETE", "/v1/account", a.token, nil); code != 200 || out["complete"] != true {
		t.Fatalf("second delete: %d %v", code, out)
	}
	if code, out := r.call(t, "GET", "/v1/operator/tenants", testOperatorKey, nil); code != 200 || len(out["tenants"].([]any)) != 1 {
		t.Fatalf("operator list after deletion: %d %v", code, out)
	}
	if code, _ := r.call(t, "POST", "/v1/operator/tenants/"+a.tenant+"/resume", testOperatorKey, map[string]string{}); code != 404 {
		t.Fatalf("operator resume of a deleted tenant: %d, want 404", code)
	}
}

func mustPut(tb testing.TB, kv jetstream.KeyValue, key, value string) {
	tb.Helper()
	if _, err := kv.Put(context.Background(), key, []byte(value)); err != nil {
		tb.Fatal(err)
	}
}

func exists(tb testing.TB, kv jetstream.KeyValue, key string) bool {
	tb.Helper()
	_, err := kv.Get(context.Background(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		tb.Fatal(err)
	}
	return true
}

func countKeys(tb testing.TB, kv jetstream.KeyValue, filter string) int {
	tb.Helper()
	l, err := kv.ListKeysFiltered(context.Background(), filter)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for range l.Keys() {
		n++
	}
	return n
}
