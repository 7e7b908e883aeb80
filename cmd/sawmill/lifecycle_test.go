package main

import (
	"testing"
	"time"
)

// Suspension through the operator API refuses the tenant's ingest with 403
// within 1 s (the requirement's bound) and resumption lets it in again;
// account deletion removes the tenant's events and keys and leaves another
// tenant alone.
func TestTenantLifecycle(t *testing.T) {
	const opKey = "operator-key-for-tests-0123456789"
	st, _ := stack(t, func(c *Config) { c.OperatorKey = opKey })
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("a@lifecycle.example")
	b := c.signup("b@lifecycle.example")
	ingest := func(key, msg string) (int, map[string]any) {
		t.Helper()
		return c.do("POST", "/v1/ingest", key, map[string]any{"message": msg, "level": "info"})
	}
	if code, m := ingest(a.key, "before"); code != 200 {
		t.Fatalf("ingest: %d %v", code, m)
	}
	if code, m := c.do("POST", "/v1/operator/tenants/"+a.tenant+"/suspend", opKey, map[string]string{"reason": "unpaid invoice"}); code != 200 {
		t.Fatalf("suspend: %d %v", code, m)
	}
	t0 := time.Now()
	for {
		code, m := ingest(a.key, "while suspended")
		if code == 403 && m["message"] == "tenant suspended: unpaid invoice" {
			break
		}
		if time.Since(t0) > time.Second {
			t.Fatalf("still %d %v 1 s after suspension", code, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("suspension took effect in %v", time.Since(t0))
	if code, m := ingest(b.key, "other tenant"); code != 200 {
		t.Fatalf("other tenant refused: %d %v", code, m)
	}
	if code, m := c.do("POST", "/v1/operator/tenants/"+a.tenant+"/resume", opKey, map[string]string{}); code != 200 {
		t.Fatalf("resume: %d %v", code, m)
	}
	for t0 = time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if code, _ := ingest(a.key, "after"); code == 200 {
			break
		}
		if time.Since(t0) > time.Second {
			t.Fatal("still refused 1 s after resumption")
		}
	}
	c.waitCount(a.key, "", 2)
	c.waitCount(b.key, "", 1)

	code, m := c.do("DELETE", "/v1/account", a.token, nil)
	if code != 200 || m["complete"] != true {
		t.Fatalf("delete account: %d %v", code, m)
	}
	for t0 = time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if code, _ := ingest(a.key, "after deletion"); code == 401 {
			break
		}
		if time.Since(t0) > time.Second {
			t.Fatal("deleted tenant's key still accepted after 1 s")
		}
	}
	c.waitCount(b.key, "", 1)
}
