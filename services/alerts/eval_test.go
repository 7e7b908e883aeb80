package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

// insert stores events for tenant at the given offsets from t0.
func (e *env) insert(tb testing.TB, tenant string, evs ...event.Event) {
	tb.Helper()
	rows := make([]store.Row, len(evs))
	for i, ev := range evs {
		rows[i] = store.Row{Tenant: tenant, RetentionDays: 7, Seq: uint64(time.Now().UnixNano()), Idx: uint32(i), Event: ev}
	}
	if err := e.store.Insert(context.Background(), rows); err != nil {
		tb.Fatal(err)
	}
}

func ev(at time.Duration, level, service, msg string, durationMS ...float64) event.Event {
	e := event.Event{Time: t0.Add(at).UnixNano(), Level: level, Service: service, Message: msg}
	for _, d := range durationMS {
		e.NumAttrs = append(e.NumAttrs, event.NumAttr{Key: "duration_ms", Value: d})
	}
	return e
}

// createRule stores a rule for acme and returns its compiled form.
func (e *env) createRule(tb testing.TB, r *sawmillv1.AlertRule) *compiledRule {
	tb.Helper()
	out, err := e.h.CreateRule(e.as("acme", auth.ScopeAdmin), r)
	if err != nil {
		tb.Fatalf("create rule: %v", err)
	}
	rec, _, err := kvrecord.LoadRecord[ruleRecord](context.Background(), e.bus.AlertRules, "acme", out.Id, "rule")
	if err != nil {
		tb.Fatal(err)
	}
	rec.CreatedAt = t0 // the test's events are at t0: pretend the rule is that old
	c, err := compile(&rec, 0)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestConditions(t *testing.T) {
	e := newEnv(t, testConfig())
	e.insert(t, "acme",
		ev(1*time.Second, "error", "web", "boom 1", 100), ev(2*time.Second, "error", "web", "boom 2", 3000),
		ev(3*time.Second, "error", "web", "boom 3", 2500), ev(4*time.Second, "info", "web", "ok", 10),
		ev(5*time.Second, "error", "db", "deadlock", 50), ev(6*time.Second, "info", "worker", "heartbeat"),
		ev(7*time.Second, "error", "web", "Task failed", 1))
	e.insert(t, "globex", ev(1*time.Second, "error", "web", "not mine"))
	for i, tc := range []struct {
		rule *sawmillv1.AlertRule
		want map[string]string // group key → "value holds"
	}{
		{&sawmillv1.AlertRule{Query: "level:error", Condition: &sawmillv1.AlertCondition{Op: ">", Threshold: 3}},
			map[string]string{"": "5 true"}},
		{&sawmillv1.AlertRule{Query: "level:error", GroupBy: []string{"service"}, Condition: &sawmillv1.AlertCondition{Op: ">=", Threshold: 2}},
			map[string]string{"web": "4 true", "db": "1 false"}},
		{&sawmillv1.AlertRule{Query: "", Condition: &sawmillv1.AlertCondition{Aggregation: "p95(duration_ms)", Op: ">", Threshold: 2000}},
			map[string]string{"": "3000 true"}},
		{&sawmillv1.AlertRule{Query: "level:error | stats max(duration_ms) by service", Condition: &sawmillv1.AlertCondition{Op: "<", Threshold: 100}},
			map[string]string{"web": "3000 false", "db": "50 true"}},
		{&sawmillv1.AlertRule{Query: "service:nothing", Condition: &sawmillv1.AlertCondition{Aggregation: "avg(duration_ms)", Op: "<", Threshold: 1}},
			map[string]string{"": "0 false"}}, // no value never holds
		{&sawmillv1.AlertRule{Query: "heartbeat", Condition: &sawmillv1.AlertCondition{Kind: "absence"}},
			map[string]string{"": "1 false"}},
		{&sawmillv1.AlertRule{Query: "missing-heartbeat", Condition: &sawmillv1.AlertCondition{Kind: "absence"}},
			map[string]string{"": "0 true"}},
	} {
		t.Run(tc.rule.Query, func(t *testing.T) {
			tc.rule.Name, tc.rule.Window, tc.rule.Interval = fmt.Sprint("c", i), "10s", "10s"
			c := e.createRule(t, tc.rule)
			res, err := e.svc.query(context.Background(), c, t0, t0.Add(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, r := range res {
				got[k] = fmt.Sprint(r.value, " ", c.holds(r.value, r.has))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if _, err := e.h.DeleteRule(e.as("acme", auth.ScopeAdmin), &sawmillv1.DeleteAlertRuleRequest{Id: c.rec.ID}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// queued returns the notifications waiting in the NOTIFY stream.
func (e *env) queued(tb testing.TB) []notify.Notification {
	tb.Helper()
	ctx := context.Background()
	st, err := e.bus.JS.Stream(ctx, bus.NotifyStream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []notify.Notification
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		var it struct {
			Notification notify.Notification `json:"notification"`
		}
		if err := json.Unmarshal(m.Data, &it); err != nil {
			tb.Fatal(err)
		}
		out = append(out, it.Notification)
	}
	return out
}

// history returns acme's history entries, newest first.
func (e *env) history(tb testing.TB) []*sawmillv1.AlertHistoryEntry {
	tb.Helper()
	h, err := e.h.ListHistory(e.as("acme", auth.ScopeQuery), &sawmillv1.ListAlertHistoryRequest{})
	if err != nil {
		tb.Fatal(err)
	}
	return h.Entries
}

// A process dying between enqueueing and writing the state: the next
// evaluator redoes the window with the same ids; history and notifications
// hold each transition once.
func TestCrashBetweenEnqueueAndStateExactlyOnce(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	ch := e.createChannel(t, "acme", "ops", "http://127.0.0.1:1/hook")
	e.insert(t, "acme", ev(3*time.Second, "error", "web", "boom a"), ev(3*time.Second, "error", "web", "boom b"),
		ev(3*time.Second, "error", "web", "boom c"), ev(4*time.Second, "error", "web", "boom d"),
		ev(4*time.Second, "error", "db", "deadlock"))
	c := e.createRule(t, &sawmillv1.AlertRule{Name: "errors", Query: "level:error", GroupBy: []string{"service"},
		Condition: &sawmillv1.AlertCondition{Op: ">", Threshold: 2}, Window: "10s", Interval: "10s",
		Channels: []string{ch.Id}, Message: "{{.Rule}} {{.State}} on {{index .Group \"service\"}}: {{len .Samples}} samples"})
	key := kvrecord.Key("acme", c.rec.ID)
	ctx := context.Background()

	crashing := cfg
	crashing.AfterEnqueue = func(context.Context, string, time.Time, int) error { return errors.New("crash") }
	dying := newRunner(e.service(crashing))
	// First evaluation ever: the windows since the rule's creation (t0).
	if err := dying.evalRule(ctx, key, c, t0.Add(11*time.Second)); !errors.Is(err, errAbandoned) {
		t.Fatalf("crashing evaluation: %v", err)
	}
	if st, _ := e.svc.loadState(ctx, "acme", c.rec.ID); st != nil {
		t.Fatalf("state written despite the crash: %+v", st)
	}
	next := newRunner(e.service(cfg))
	// It sees no state either, so it too starts from the rule's creation.
	for _, wm := range []time.Duration{11 * time.Second, 11 * time.Second, 25 * time.Second} {
		if err := next.evalRule(ctx, key, c, t0.Add(wm)); err != nil {
			t.Fatal(err)
		}
	}
	notes := e.queued(t)
	if len(notes) != 2 || notes[0].Kind != notify.KindFiring || notes[1].Kind != notify.KindResolved {
		t.Fatalf("notifications %+v, want one firing and one resolved", notes)
	}
	f := notes[0]
	if f.Group["service"] != "web" || f.Value != 4 || len(f.Samples) != 3 || !strings.Contains(f.Link, "/search?") ||
		f.Message != "errors firing on web: 3 samples" || f.DedupKey != notes[1].DedupKey {
		t.Fatalf("firing notification %+v", f)
	}
	h := e.history(t)
	if len(h) != 2 || h[0].State != "resolved" || h[1].State != "firing" || h[1].Previous != "ok" {
		t.Fatalf("history %v", h)
	}
	st, _ := e.svc.loadState(ctx, "acme", c.rec.ID)
	if st == nil || !st.EvaluatedTo.Equal(t0.Add(20*time.Second)) || len(st.Groups) != 0 {
		t.Fatalf("state %+v", st)
	}
}

func TestSilenceSuppressesNotificationNotHistory(t *testing.T) {
	e := newEnv(t, testConfig())
	ch := e.createChannel(t, "acme", "ops", "http://127.0.0.1:1/hook")
	e.insert(t, "acme", ev(3*time.Second, "error", "web", "boom"))
	c := e.createRule(t, &sawmillv1.AlertRule{Name: "errors", Query: "level:error", Condition: &sawmillv1.AlertCondition{Op: ">", Threshold: 0},
		Window: "10s", Interval: "10s", Channels: []string{ch.Id}, Labels: map[string]string{"team": "payments"}})
	// Silences start now by default; this one covers the past windows of the test.
	_ = e.svc.silences.apply("acme.x1", mustJSON(silenceRecord{ID: "x1", TenantID: "acme", Matchers: map[string]string{"team": "payments"},
		StartsAt: t0, EndsAt: t0.Add(time.Hour)}), false)
	r := newRunner(e.svc)
	for _, wm := range []time.Duration{10 * time.Second, 25 * time.Second} {
		if err := r.evalRule(context.Background(), kvrecord.Key("acme", c.rec.ID), c, t0.Add(wm)); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.queued(t); len(n) != 0 {
		t.Fatalf("silenced rule queued %v", n)
	}
	h := e.history(t)
	if len(h) != 2 || !h[0].Silenced || !h[1].Silenced || h[1].State != "firing" {
		t.Fatalf("history %v", h)
	}
}

// A lease is held by one process; a process that stops renewing loses it
// after LeaseTTL, a clean shutdown hands it over at once.
func TestLeaseHandover(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	a, b := newRunner(e.service(testConfig())), newRunner(e.service(testConfig()))
	if !a.acquire(ctx, "acme.r1") || b.acquire(ctx, "acme.r1") {
		t.Fatal("a must hold the lease, b not")
	}
	if !a.acquire(ctx, "acme.r1") {
		t.Fatal("a renews")
	}
	// a dies (stops renewing): b takes over once the lease expires (1 s here).
	deadline := time.Now().Add(5 * time.Second)
	for !b.acquire(ctx, "acme.r1") {
		if time.Now().After(deadline) {
			t.Fatal("b never took the lease over")
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.leases["acme.r1"] = heldLease{rev: a.leases["acme.r1"].rev} // force a renewal attempt
	if a.acquire(ctx, "acme.r1") {
		t.Fatal("a still believes it holds the lease")
	}
	b.releaseAll()
	if !a.acquire(ctx, "acme.r1") {
		t.Fatal("a did not get the released lease at once")
	}
}

func TestWriterWatermark(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := context.Background()
	cons, err := e.bus.JS.CreateOrUpdateConsumer(ctx, bus.LogsStream, bus.WriterConsumerConfig(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wm := NewWriterWatermark(e.bus)
	before := time.Now()
	if got, err := wm.Watermark(ctx); err != nil || got.Before(before) {
		t.Fatalf("idle: %v %v, want at least %v", got, err, before)
	}
	var pubs []time.Time
	for i := range 2 {
		pubs = append(pubs, time.Now())
		if _, err := e.bus.JS.Publish(ctx, bus.LogsSubject("acme"), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	check := func(what string, lo, hi time.Time) {
		t.Helper()
		got, err := wm.Watermark(ctx)
		if err != nil || got.Before(lo) || got.After(hi) {
			t.Fatalf("%s: %v %v, want in [%v, %v]", what, got, err, lo, hi)
		}
	}
	check("both pending", pubs[0], pubs[1])
	batch, err := cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		check("first delivered, not acked", pubs[0], pubs[1])
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check("first acked", pubs[1], time.Now())
	batch, _ = cons.Fetch(1)
	for m := range batch.Messages() {
		_ = m.DoubleAck(ctx)
	}
	check("all acked", time.Now(), time.Now().Add(time.Minute))
}
