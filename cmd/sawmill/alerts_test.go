package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/testenv"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// alertPlans gives every tenant room for the day-one rules.
const alertPlans = `{"default":"al","plans":[{"name":"al","monthly_events":100000000,"monthly_bytes":107374182400,
	"retention_days":7,"max_query_days":7,"alert_rules":20}]}`

// alertConfig scales alerting down for tests: windows of seconds, an
// interval of 1 s, short leases.
func alertConfig(tb testing.TB) func(*Config) {
	plans := filepath.Join(tb.TempDir(), "plans.json")
	if err := os.WriteFile(plans, []byte(alertPlans), 0o644); err != nil {
		tb.Fatal(err)
	}
	return func(c *Config) {
		c.PlansFile = plans
		c.Alerts.MinInterval = time.Second
		c.Alerts.ScanInterval = 200 * time.Millisecond
		c.Alerts.Skew = 300 * time.Millisecond
		c.Alerts.LeaseTTL = 2 * time.Second
		c.Alerts.Notify.Backoff = 100 * time.Millisecond
	}
}

// hookCall is one request a receiver got.
type hookCall struct {
	status int
	path   string
	header http.Header
	body   map[string]any
	raw    []byte
	at     time.Time
}

// hooks is a local HTTP receiver for webhook, Slack and PagerDuty channels.
type hooks struct {
	url   string
	mu    sync.Mutex
	calls []hookCall
	fail  map[string]int // path → requests still to answer 500
}

func newHooks(t *testing.T) *hooks {
	h := &hooks{fail: map[string]int{"/flaky": 3}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		h.mu.Lock()
		status := http.StatusOK
		if h.fail[r.URL.Path] > 0 {
			h.fail[r.URL.Path]--
			status = http.StatusInternalServerError
		}
		h.calls = append(h.calls, hookCall{status: status, path: r.URL.Path, header: r.Header.Clone(), body: body, raw: raw, at: time.Now()})
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// on returns the successful calls to path whose body field key (a dotted
// path into the JSON) equals value ("" matches all).
func (h *hooks) on(path, key, value string) []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hookCall
	for _, c := range h.calls {
		if c.status == http.StatusOK && c.path == path && (key == "" || fmt.Sprint(dig(c.body, key)) == value) {
			out = append(out, c)
		}
	}
	return out
}

func dig(m map[string]any, key string) any {
	var v any = m
	for _, k := range strings.Split(key, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// mailbox is a minimal SMTP server on 127.0.0.1 that keeps each message's
// DATA.
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

func newMailbox(t *testing.T) *mailbox {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	mb := &mailbox{addr: ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go mb.serve(conn)
		}
	}()
	return mb
}

func (mb *mailbox) serve(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	_ = tp.PrintfLine("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		switch verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0]); verb {
		case "DATA":
			_ = tp.PrintfLine("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			mb.mu.Lock()
			mb.msgs = append(mb.msgs, string(data))
			mb.mu.Unlock()
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("250 ok")
		}
	}
}

func (mb *mailbox) received() []string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]string(nil), mb.msgs...)
}

// eventually polls cond every 100 ms until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// create POSTs body and returns the new object's id.
func (c client) create(token, path string, body string) string {
	c.t.Helper()
	code, m := c.do("POST", path, token, body)
	if code != 200 || m["id"] == "" {
		c.t.Fatalf("POST %s: %d %v", path, code, m)
	}
	return m["id"].(string)
}

// ship ingests NDJSON lines and returns when they are acknowledged.
func (c client) ship(key string, lines ...string) time.Time {
	c.t.Helper()
	code, m := c.do("POST", "/v1/ingest", key, strings.Join(lines, "\n"), "Content-Type", "application/x-ndjson")
	if code != 200 || m["accepted"] != float64(len(lines)) {
		c.t.Fatalf("ingest: %d %v", code, m)
	}
	return time.Now()
}

// heartbeats ships a heartbeat line every 250 ms while on is true, until
// the test ends.
func heartbeats(t *testing.T, base, key string, on *atomic.Bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if on.Load() {
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/ingest", strings.NewReader(`{"message":"heartbeat from cron","service":"cron"}`))
				req.Header.Set("Authorization", "Bearer "+key)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
}

// history returns the tenant's alert history entries for a rule.
func (c client) history(token, ruleID string) []map[string]any {
	c.t.Helper()
	code, m := c.do("GET", "/v1/alerts/history?rule_id="+ruleID, token, nil)
	if code != 200 {
		c.t.Fatalf("history: %d %v", code, m)
	}
	var out []map[string]any
	for _, e := range m["entries"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func states(entries []map[string]any) string {
	var s []string
	for i := len(entries) - 1; i >= 0; i-- {
		s = append(s, entries[i]["state"].(string))
	}
	return strings.Join(s, ",")
}

// The day-one rules, scaled down to 2 s windows evaluated every
// second: each fires once when its condition holds and resolves once when
// it stops, with the right payload in each channel format.
func TestAlertsDayOneRules(t *testing.T) {
	mb := newMailbox(t)
	scaled := alertConfig(t)
	st, _ := stack(t, func(c *Config) { scaled(c); c.Alerts.Notify.SMTPAddr = mb.addr })
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("ops@alerts.example")
	rc := newHooks(t)
	webhook := c.create(a.token, "/v1/alerts/channels", `{"name": "ops", "type": "webhook", "url": "`+rc.url+`/webhook"}`)
	slack := c.create(a.token, "/v1/alerts/channels", `{"name": "slack", "type": "slack", "url": "`+rc.url+`/slack"}`)
	pd := c.create(a.token, "/v1/alerts/channels", `{"name": "pd", "type": "pagerduty", "url": "`+rc.url+`/pd", "routing_key": "rk1"}`)
	email := c.create(a.token, "/v1/alerts/channels", `{"name": "mail", "type": "email", "to": ["oncall@example.com"]}`)
	flaky := c.create(a.token, "/v1/alerts/channels", `{"name": "flaky", "type": "webhook", "url": "`+rc.url+`/flaky"}`)
	_, chans := c.do("GET", "/v1/alerts/channels", a.key, nil)
	if n := len(chans["channels"].([]any)); n != 5 {
		t.Fatalf("channels: %v", chans)
	}

	// Heartbeats first, so that the absence rule starts ok.
	var beating atomic.Bool
	beating.Store(true)
	heartbeats(t, c.base, a.key, &beating)
	c.waitCount(a.key, "heartbeat", 1)

	rule := func(name, query, cond string, channels ...string) string {
		ids, _ := json.Marshal(channels)
		return c.create(a.token, "/v1/alerts/rules", fmt.Sprintf(`{"name": %q, "query": %q, "condition": %s,
			"window": "2s", "interval": "1s", "for": "0s", "severity": "critical", "channels": %s}`, name, query, cond, ids))
	}
	errorsRule := rule("errors", "level:error", `{"aggregation": "count()", "op": ">", "threshold": 3}`, webhook)
	loginsRule := rule("failed logins", `"login failed"`, `{"aggregation": "count()", "op": ">", "threshold": 3}`, slack, email)
	slowRule := rule("slow requests", "service:api", `{"aggregation": "p95(duration_ms)", "op": ">", "threshold": 2000}`, pd)
	celeryRule := rule("celery failures", "celery.state:FAILURE", `{"op": ">", "threshold": 0}`, webhook, flaky)
	heartbeatRule := rule("no heartbeat", "heartbeat", `{"kind": "absence"}`, webhook)

	var lines []string
	for i := range 5 {
		lines = append(lines,
			fmt.Sprintf(`{"message":"database is down %d","level":"error","service":"web"}`, i),
			fmt.Sprintf(`{"message":"login failed for user u%d","level":"warning","service":"auth"}`, i),
			fmt.Sprintf(`{"message":"GET /slow/%d","level":"info","service":"api","duration_ms":%d}`, i, 2500+i*100))
	}
	lines = append(lines, `{"message":"Task app.tasks.charge[1] raised","levelname":"INFO","celery.state":"FAILURE","celery.task":"app.tasks.charge"}`)
	shipped := c.ship(a.key, lines...)
	beating.Store(false)

	type want struct {
		rule, path, kindKey string
	}
	checks := []want{{errorsRule, "/webhook", "kind"}, {celeryRule, "/webhook", "kind"}, {heartbeatRule, "/webhook", "kind"},
		{celeryRule, "/flaky", "kind"}} // /flaky answers 500 three times first
	firing := func(w want) []hookCall { return rc.on(w.path, "rule_id", w.rule) }
	eventually(t, 20*time.Second, "every rule to fire", func() bool {
		for _, w := range checks {
			if len(firing(w)) == 0 {
				return false
			}
		}
		return len(rc.on("/slack", "", "")) > 0 && len(rc.on("/pd", "event_action", "trigger")) > 0
	})
	first := rc.on("/webhook", "rule_id", errorsRule)[0]
	t.Logf("first matching line acknowledged → webhook call: %s", first.at.Sub(shipped).Round(time.Millisecond))
	beating.Store(true) // the absence rule resolves

	eventually(t, 20*time.Second, "every rule to resolve", func() bool {
		for _, w := range checks {
			if len(rc.on(w.path, "rule_id", w.rule)) < 2 {
				return false
			}
		}
		return len(rc.on("/slack", "", "")) >= 2 && len(rc.on("/pd", "event_action", "resolve")) > 0 && len(mb.received()) >= 2
	})
	time.Sleep(2500 * time.Millisecond) // more windows: nothing more may arrive

	for _, w := range checks {
		calls := firing(w)
		if len(calls) != 2 || calls[0].body["kind"] != "firing" || calls[1].body["kind"] != "resolved" {
			t.Errorf("rule %s: %d calls %v", w.rule, len(calls), calls)
			continue
		}
		f := calls[0]
		if f.body["version"] != float64(1) || f.body["id"] == calls[1].body["id"] || !strings.HasPrefix(f.header.Get("X-Sawmill-Signature"), "sha256=") {
			t.Errorf("webhook payload %s headers %v", f.raw, f.header)
		}
	}
	if f := firing(checks[0])[0]; len(f.body["samples"].([]any)) != 3 || !strings.Contains(f.body["link"].(string), "/search?") ||
		!strings.Contains(f.body["message"].(string), "errors is firing") {
		t.Errorf("errors notification %s", f.raw)
	}
	if s := rc.on("/slack", "", ""); len(s) != 2 || !strings.Contains(string(s[0].raw), "failed logins") || !strings.Contains(string(s[1].raw), "#2eb67d") {
		t.Errorf("slack calls %d: %s", len(s), s[0].raw)
	}
	if m := mb.received(); len(m) != 2 || !strings.Contains(m[0], "failed logins") || !strings.Contains(m[0], "oncall@example.com") {
		t.Errorf("e-mails: %d %q", len(m), m)
	}
	trig, res := rc.on("/pd", "event_action", "trigger"), rc.on("/pd", "event_action", "resolve")
	if len(trig) != 1 || len(res) != 1 || trig[0].body["dedup_key"] != res[0].body["dedup_key"] || trig[0].body["routing_key"] != "rk1" {
		t.Errorf("pagerduty: %d triggers, %d resolves: %v %v", len(trig), len(res), trig, res)
	}
	for _, id := range []string{errorsRule, loginsRule, slowRule, celeryRule, heartbeatRule} {
		if h := c.history(a.key, id); states(h) != "firing,resolved" {
			t.Errorf("history of %s: %v", id, h)
		}
	}
	code, m := c.do("GET", "/v1/alerts/rules/"+errorsRule, a.key, nil)
	if code != 200 || m["name"] != "errors" || len(m["states"].([]any)) != 1 {
		t.Errorf("get rule: %d %v", code, m)
	}
	code, m = c.do("GET", "/v1/alerts/notifications", a.key, nil)
	if code != 200 || len(m["notifications"].([]any)) < 10 {
		t.Errorf("notification log: %d %v", code, m)
	}
}

// Bad rules are refused with 400 and a message; the plan's rule limit with
// 403.
func TestAlertsAPIErrors(t *testing.T) {
	st, _ := stack(t, nil) // built-in plans: free allows 3 rules
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("limits@alerts.example")
	for _, tc := range []struct {
		body, msg string
		code      int
	}{
		{`{"name": "x", "query": "level:error (", "interval": "1m"}`, "query: at", 400},
		{`{"name": "x", "query": "level:error", "interval": "5s"}`, "interval must be at least 10s", 400},
		{`{"name": "x", "query": "x", "channels": ["cnope"]}`, "no channel", 400},
		{`{"name": "x", "query": "x", "unknown_field": 1}`, "unknown", 400},
	} {
		code, m := c.do("POST", "/v1/alerts/rules", a.token, tc.body)
		if code != tc.code || !strings.Contains(fmt.Sprint(m["message"]), tc.msg) {
			t.Errorf("%s: %d %v", tc.body, code, m)
		}
	}
	if code, m := c.do("POST", "/v1/alerts/rules", a.key, `{"name": "x", "query": "x"}`); code != 403 {
		t.Errorf("write with a query key: %d %v", code, m)
	}
	for i := range 3 {
		c.create(a.token, "/v1/alerts/rules", fmt.Sprintf(`{"name": "r%d", "query": "level:error"}`, i))
	}
	if code, m := c.do("POST", "/v1/alerts/rules", a.token, `{"name": "r4", "query": "level:error"}`); code != 403 || !strings.Contains(m["message"].(string), "plan allows 3") {
		t.Errorf("over the plan limit: %d %v", code, m)
	}
}

// A silence suppresses delivery, not history.
func TestAlertsSilence(t *testing.T) {
	st, _ := stack(t, alertConfig(t))
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("quiet@alerts.example")
	rc := newHooks(t)
	ch := c.create(a.token, "/v1/alerts/channels", `{"name": "ops", "type": "webhook", "url": "`+rc.url+`/webhook"}`)
	rule := c.create(a.token, "/v1/alerts/rules", `{"name": "errors", "query": "level:error", "condition": {"op": ">", "threshold": 0},
		"window": "2s", "interval": "1s", "labels": {"team": "payments"}, "channels": ["`+ch+`"]}`)
	c.create(a.token, "/v1/alerts/silences", fmt.Sprintf(`{"matchers": {"team": "payments"}, "ends_at": %q, "comment": "deploy"}`,
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
	c.ship(a.key, `{"message":"boom","level":"error"}`)
	eventually(t, 20*time.Second, "firing and resolved in history", func() bool { return states(c.history(a.key, rule)) == "firing,resolved" })
	for _, e := range c.history(a.key, rule) {
		if e["silenced"] != true {
			t.Errorf("entry not marked silenced: %v", e)
		}
	}
	if n := len(rc.on("/webhook", "", "")); n != 0 {
		t.Fatalf("silenced alert delivered %d times", n)
	}
}

// The evaluating process dies between enqueueing a firing notification and
// writing the state; another process takes the rule over (after the lease
// expires), redoes the window with the same ids and later resolves: the
// receiver gets one firing and one resolved notification.
// sharedStack starts a dev stack on the given NATS and ClickHouse database,
// so that several share them like processes of one deployment.
func sharedStack(t *testing.T, natsURL, chAddr, db string, mutate func(*Config)) *Stack {
	t.Helper()
	cfg, err := parseConfig("dev", []string{
		"-data-dir", t.TempDir(), "-http.addr", "127.0.0.1:0", "-grpc.addr", "127.0.0.1:0", "-syslog.addr", "127.0.0.1:0",
		"-nats.url", natsURL, "-clickhouse.addr", chAddr, "-clickhouse.database", db,
		"-auth.jwt-key", strings.Repeat("k", 32), "-writer.batch-wait", "100ms",
		"-billing.signup-per-minute", "0", "-billing.bcrypt-cost", "4",
	}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	mutate(&cfg)
	st, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

func TestAlertsKillEvaluator(t *testing.T) {
	nats := testenv.StartNATS(t)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	scaled := alertConfig(t)
	var died atomic.Bool
	node := func(crash bool) *Stack {
		return sharedStack(t, nats.URL(), chAddr, db, func(cfg *Config) {
			scaled(cfg)
			if crash {
				cfg.Alerts.AfterEnqueue = func(_ context.Context, _ string, _ time.Time, enqueued int) error {
					if enqueued > 0 {
						died.Store(true)
						return fmt.Errorf("killed")
					}
					return nil
				}
			}
		})
	}
	n1 := node(true)
	c := client{t: t, base: "http://" + n1.Server.HTTPAddr()}
	a := c.signup("kill@alerts.example")
	rc := newHooks(t)
	ch := c.create(a.token, "/v1/alerts/channels", `{"name": "ops", "type": "webhook", "url": "`+rc.url+`/webhook"}`)
	rule := c.create(a.token, "/v1/alerts/rules", `{"name": "errors", "query": "level:error", "condition": {"op": ">", "threshold": 2},
		"window": "2s", "interval": "1s", "channels": ["`+ch+`"]}`)
	c.ship(a.key, `{"message":"e1","level":"error"}`, `{"message":"e2","level":"error"}`, `{"message":"e3","level":"error"}`)
	eventually(t, 20*time.Second, "the first evaluator to die after enqueueing", died.Load)
	node(false) // another alerts process
	eventually(t, 30*time.Second, "the resolution", func() bool { return len(rc.on("/webhook", "kind", notify.KindResolved)) > 0 })
	time.Sleep(2 * time.Second)
	calls := rc.on("/webhook", "rule_id", rule)
	if len(calls) != 2 || calls[0].body["kind"] != "firing" || calls[1].body["kind"] != "resolved" {
		t.Fatalf("%d calls: %v", len(calls), calls)
	}
	if h := c.history(a.key, rule); states(h) != "firing,resolved" {
		t.Fatalf("history %v", h)
	}
}
