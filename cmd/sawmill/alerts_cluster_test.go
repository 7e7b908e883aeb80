package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/testenv"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// TestAlertsTwoProcesses: with two alerts processes on one NATS and
// ClickHouse, each rule is evaluated by one of them, so each fires and
// resolves once; when the process holding the rules dies without handing
// them over (its NATS connection cut), the other takes them within the
// lease TTL plus an interval, and a new incident fires each rule once more.
func TestAlertsTwoProcesses(t *testing.T) {
	nats := testenv.StartNATS(t)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	scaled := alertConfig(t)
	n1 := sharedStack(t, nats.URL(), chAddr, db, scaled)
	c := client{t: t, base: "http://" + n1.Server.HTTPAddr()}
	a := c.signup("two@alerts.example")
	rc := newHooks(t)
	ch := c.create(a.token, "/v1/alerts/channels", `{"name": "ops", "type": "webhook", "url": "`+rc.url+`/webhook"}`)
	const services = 4
	var rules []string
	for i := range services {
		rules = append(rules, c.create(a.token, "/v1/alerts/rules", fmt.Sprintf(`{"name": "errors s%d", "query": "level:error service:s%d",
			"condition": {"op": ">", "threshold": 0}, "window": "2s", "interval": "1s", "channels": ["%s"]}`, i, i, ch)))
	}
	reader := n1                         // whose bus reads the leases
	owners := func() map[string]string { // lease key → owner
		out := map[string]string{}
		ctx := context.Background()
		keys, err := reader.bus.AlertLeases.ListKeys(ctx)
		if err != nil {
			return out
		}
		for k := range keys.Keys() {
			if e, err := reader.bus.AlertLeases.Get(ctx, k); err == nil {
				var v struct{ Owner string }
				if json.Unmarshal(e.Value(), &v) == nil {
					out[k] = v.Owner
				}
			}
		}
		return out
	}
	// n1 alone takes every rule; then a second process starts.
	eventually(t, 20*time.Second, "n1 to lease every rule", func() bool { return len(owners()) == services })
	n1Owner := soleOwner(owners())
	if n1Owner == "" {
		t.Fatalf("leases before the second process: %v", owners())
	}
	n2 := sharedStack(t, nats.URL(), chAddr, db, scaled)

	incident := func(round int) {
		t.Helper()
		for i := range services {
			c.ship(a.key, fmt.Sprintf(`{"message":"boom %d","level":"error","service":"s%d"}`, round, i))
		}
		for _, r := range rules {
			eventually(t, 30*time.Second, "rule "+r+" to resolve", func() bool {
				return len(firing(rc, r, notify.KindResolved)) == round
			})
		}
	}
	incident(1)
	if o := owners(); len(o) != services || soleOwner(o) != n1Owner {
		t.Fatalf("leases moved while both ran: %v (n1 is %s)", o, n1Owner)
	}
	// n1 dies: no more renewals, no hand-over.
	reader = n2
	n1.bus.NC.Close()
	eventually(t, 20*time.Second, "the rules to move to the other process", func() bool {
		o := owners()
		for _, owner := range o {
			if owner == n1Owner {
				return false
			}
		}
		return len(o) == services
	})
	c = client{t: t, base: "http://" + n2.Server.HTTPAddr()}
	incident(2)
	time.Sleep(2 * time.Second) // room for a duplicate to show
	for _, r := range rules {
		if f, res := len(firing(rc, r, notify.KindFiring)), len(firing(rc, r, notify.KindResolved)); f != 2 || res != 2 {
			t.Fatalf("rule %s: %d firing and %d resolved notifications over two incidents, want 2 and 2", r, f, res)
		}
	}
}

// firing returns the webhook calls of a rule of one kind.
func firing(rc *hooks, rule, kind string) []hookCall {
	var out []hookCall
	for _, call := range rc.on("/webhook", "rule_id", rule) {
		if call.body["kind"] == kind {
			out = append(out, call)
		}
	}
	return out
}

// soleOwner returns the owner of every lease, or "" when they differ.
func soleOwner(m map[string]string) string {
	owner := ""
	for _, o := range m {
		if owner != "" && o != owner {
			return ""
		}
		owner = o
	}
	return owner
}
