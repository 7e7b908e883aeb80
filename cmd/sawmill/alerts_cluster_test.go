package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/testenv"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// TestAlertsTwoProcesses: with two alerts processes on one NATS and
// ClickHouse, each rule is evaluated by one of them, so each fires and
// resolves once; when the process holding the rules dies without handing
// them over (its NATS connection cut), the other takes them within the
// lease TTL plus an interval, and a new incident fires each rule once more.
// alertsRig is a tenant with one webhook channel and one error-count rule
// per service, on stacks that share NATS and ClickHouse.
type alertsRig struct {
	t     *testing.T
	c     client
	rc    *hooks
	key   string
	rules []string
}

func newAlertsRig(t *testing.T, st *Stack, services int) *alertsRig {
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("rig@alerts.example")
	r := &alertsRig{t: t, c: c, rc: newHooks(t), key: a.key}
	ch := c.create(a.token, "/v1/alerts/channels", `{"name": "ops", "type": "webhook", "url": "`+r.rc.url+`/webhook"}`)
	for i := range services {
		r.rules = append(r.rules, c.create(a.token, "/v1/alerts/rules", fmt.Sprintf(`{"name": "errors s%d", "query": "level:error service:s%d",
			"condition": {"op": ">", "threshold": 0}, "window": "2s", "interval": "1s", "channels": ["%s"]}`, i, i, ch)))
	}
	return r
}

// incident ships an error for every service and waits until every rule has
// resolved for the round-th time.
func (r *alertsRig) incident(round int) {
	r.t.Helper()
	for i := range r.rules {
		r.ship(fmt.Sprintf(`{"message":"boom %d","level":"error","service":"s%d"}`, round, i))
	}
	for _, rule := range r.rules {
		eventually(r.t, 30*time.Second, "rule "+rule+" to resolve", func() bool {
			return len(firing(r.rc, rule, notify.KindResolved)) >= round
		})
	}
}

// ship ingests one line as a real client does across a NATS leader
// election: 503 is retried with the same Idempotency-Key.
func (r *alertsRig) ship(line string) {
	r.t.Helper()
	idem := fmt.Sprintf("rig-%d", time.Now().UnixNano())
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		code, m := r.c.do("POST", "/v1/ingest", r.key, line, "Content-Type", "application/x-ndjson", "Idempotency-Key", idem)
		if code == 200 && m["accepted"] == float64(1) {
			return
		}
		if code != 503 || time.Now().After(deadline) {
			r.t.Fatalf("ingest: %d %v", code, m)
		}
	}
}

// exactly checks that every rule fired and resolved rounds times.
func (r *alertsRig) exactly(rounds int) {
	r.t.Helper()
	time.Sleep(2 * time.Second) // room for a duplicate to show
	for _, rule := range r.rules {
		if f, res := len(firing(r.rc, rule, notify.KindFiring)), len(firing(r.rc, rule, notify.KindResolved)); f != rounds || res != rounds {
			r.t.Fatalf("rule %s: %d firing and %d resolved notifications over %d incidents", rule, f, res, rounds)
		}
	}
}

// leaseOwners returns the alert_leases bucket: rule key → owner.
func leaseOwners(st *Stack) map[string]string {
	out := map[string]string{}
	ctx := context.Background()
	keys, err := st.bus.AlertLeases.ListKeys(ctx)
	if err != nil {
		return out
	}
	for k := range keys.Keys() {
		if e, err := st.bus.AlertLeases.Get(ctx, k); err == nil {
			var v struct{ Owner string }
			if json.Unmarshal(e.Value(), &v) == nil {
				out[k] = v.Owner
			}
		}
	}
	return out
}

func TestAlertsTwoProcesses(t *testing.T) {
	nats := testenv.StartNATS(t)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	scaled := alertConfig(t)
	n1 := sharedStack(t, nats.URL(), chAddr, db, scaled)
	const services = 4
	r := newAlertsRig(t, n1, services)
	// n1 alone takes every rule; then a second process starts.
	eventually(t, 20*time.Second, "n1 to lease every rule", func() bool { return len(leaseOwners(n1)) == services })
	n1Owner := soleOwner(leaseOwners(n1))
	if n1Owner == "" {
		t.Fatalf("leases before the second process: %v", leaseOwners(n1))
	}
	n2 := sharedStack(t, nats.URL(), chAddr, db, scaled)
	r.incident(1)
	if o := leaseOwners(n2); len(o) != services || soleOwner(o) != n1Owner {
		t.Fatalf("leases moved while both ran: %v (n1 is %s)", o, n1Owner)
	}
	// n1 dies: no more renewals, no hand-over.
	n1.bus.NC.Close()
	eventually(t, 20*time.Second, "the rules to move to the other process", func() bool {
		o := leaseOwners(n2)
		owner := soleOwner(o)
		return len(o) == services && owner != "" && owner != n1Owner
	})
	r.c = client{t: t, base: "http://" + n2.Server.HTTPAddr()}
	r.incident(2)
	r.exactly(2)
}

// TestAlertsNATSLeaderKilled: two alerts processes on a 3-node JetStream
// cluster with R3 buckets; the node leading the leases bucket is killed and
// restarted between two incidents. Each rule still fires and resolves once
// per incident.
func TestAlertsNATSLeaderKilled(t *testing.T) {
	cl := testenv.StartNATSCluster(t, 3)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	scaled := alertConfig(t)
	r3 := func(c *Config) { scaled(c); c.NATSReplicas = 3 }
	n1 := sharedStack(t, cl.URLs(), chAddr, db, r3)
	sharedStack(t, cl.URLs(), chAddr, db, r3)
	r := newAlertsRig(t, n1, 3)
	r.incident(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := n1.bus.JS.Stream(ctx, "KV_"+bus.BucketAlertLeases)
	if err != nil {
		t.Fatal(err)
	}
	leader := s.CachedInfo().Cluster.Leader
	i := cl.Index(leader)
	if i < 0 {
		t.Fatalf("leases bucket leader %q is not a cluster node", leader)
	}
	cl.Kill(i)
	r.incident(2)
	cl.Restart(t, i)
	r.incident(3)
	r.exactly(3)
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
