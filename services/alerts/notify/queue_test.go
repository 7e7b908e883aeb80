package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/quota"
)

// warning is a quota warning for tenant at level percent.
func warning(tenant string, level int) quota.Warning {
	start := time.Date(2026, 11, 3, 9, 30, 0, 0, time.UTC)
	return quota.Warning{TenantID: tenant, Level: level, Published: start.Add(20 * 24 * time.Hour), State: quota.State{
		TenantID: tenant, Plan: "team", PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0),
		EventsUsed: int64(level) * 10_000, EventsLimit: 1_000_000, BytesUsed: 1 << 20, BytesLimit: 10 << 30, HardCap: true,
	}}
}

// logOf returns the tenant's log, failing the test on error.
func logOf(tb testing.TB, q *Queue, tenant string, limit int) []Record {
	tb.Helper()
	recs, err := q.Log(context.Background(), tenant, limit)
	if err != nil {
		tb.Fatalf("Log: %v", err)
	}
	return recs
}

// settled waits until NOTIFY is empty and the tenant's log holds finals
// final (delivered or failed) records: a message is acked before its
// outcome is logged.
func settled(tb testing.TB, b *bus.Bus, q *Queue, tenant string, finals int) {
	tb.Helper()
	waitFor(tb, "deliveries settled and logged", func() bool {
		n := 0
		for _, r := range logOf(tb, q, tenant, MaxLogLimit) {
			if r.Status != StatusRetrying {
				n++
			}
		}
		return n >= finals && queueDrained(tb, b)
	})
}

func TestRetryThenDeliveredOnce(t *testing.T) {
	_, b := startBus(t)
	rc := newReceiver(t, func(i int) (int, http.Header) {
		if i < 3 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	})
	putChannel(t, b, Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL, Secret: "s"})
	q := NewQueue(b, testConfig, nil)
	run(t, q, false)
	if err := q.Enqueue(context.Background(), firing(), []string{"c1"}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	waitFor(t, "delivered record", func() bool {
		recs := logOf(t, q, "tA", 10)
		return len(recs) > 0 && recs[0].Status == StatusDelivered
	})
	waitFor(t, "queue drained", func() bool { return queueDrained(t, b) })
	reqs := rc.requests()
	if len(reqs) != 4 || rc.succeeded() != 1 {
		t.Fatalf("receiver got %d requests, %d answered 2xx; want 4 and 1", len(reqs), rc.succeeded())
	}
	for _, r := range reqs {
		if r.Header.Get(HeaderNotificationID) != "r1/g1/3" {
			t.Errorf("notification id %q changed across retries", r.Header.Get(HeaderNotificationID))
		}
	}
	recs := logOf(t, q, "tA", 10)
	want := []struct {
		status   string
		attempts int
	}{{StatusDelivered, 4}, {StatusRetrying, 3}, {StatusRetrying, 2}, {StatusRetrying, 1}}
	if len(recs) != len(want) {
		t.Fatalf("log = %+v", recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.Status != w.status || r.Attempts != w.attempts || r.ChannelID != "c1" || r.RuleID != "r1" || r.Kind != KindFiring {
			t.Errorf("log[%d] = %+v, want %s after %d attempts", i, r, w.status, w.attempts)
		}
		if w.status == StatusRetrying && r.Error == "" {
			t.Errorf("log[%d] has no error", i)
		}
	}
}

func TestEnqueueTwiceDeliversOnce(t *testing.T) {
	_, b := startBus(t)
	rc := newReceiver(t, nil)
	putChannel(t, b, Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL})
	putChannel(t, b, Channel{ID: "c2", TenantID: "tA", Type: TypeSlack, URL: rc.URL})
	q := NewQueue(b, testConfig, nil)
	for range 2 {
		if err := q.Enqueue(context.Background(), firing(), []string{"c1", "c2"}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	st, err := b.JS.Stream(context.Background(), bus.NotifyStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("NOTIFY holds %d messages after enqueueing one notification twice to two channels, want 2", info.State.Msgs)
	}
	run(t, q, false)
	settled(t, b, q, "tA", 2)
	if n := len(rc.requests()); n != 2 {
		t.Fatalf("receiver got %d requests, want 2 (one per channel)", n)
	}
	if recs := logOf(t, q, "tA", 10); len(recs) != 2 || recs[0].Status != StatusDelivered || recs[1].Status != StatusDelivered {
		t.Fatalf("log = %+v", recs)
	}
}

func TestPermanentFailures(t *testing.T) {
	_, b := startBus(t)
	rc := newReceiver(t, func(int) (int, http.Header) { return http.StatusBadRequest, nil })
	putChannel(t, b, Channel{ID: "bad", TenantID: "tA", Type: TypeWebhook, URL: rc.URL})
	q := NewQueue(b, testConfig, nil)
	run(t, q, false)
	if err := q.Enqueue(context.Background(), firing(), []string{"bad", "gone"}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	settled(t, b, q, "tA", 2)
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}
	recs := logOf(t, q, "tA", 10)
	got := map[string]Record{}
	for _, r := range recs {
		got[r.ChannelID] = r
	}
	if r := got["bad"]; len(recs) != 2 || r.Status != StatusFailed || r.Attempts != 1 || r.Error == "" {
		t.Errorf("400: log = %+v", recs)
	}
	if r := got["gone"]; r.Status != StatusFailed || r.Attempts != 1 {
		t.Errorf("missing channel: log = %+v", recs)
	}
}

func TestMaxAttempts(t *testing.T) {
	_, b := startBus(t)
	rc := newReceiver(t, func(int) (int, http.Header) { return http.StatusBadGateway, nil })
	putChannel(t, b, Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL})
	cfg := testConfig
	cfg.MaxAttempts = 3
	q := NewQueue(b, cfg, nil)
	run(t, q, false)
	if err := q.Enqueue(context.Background(), firing(), []string{"c1"}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	settled(t, b, q, "tA", 1)
	recs := logOf(t, q, "tA", 10)
	if n := len(rc.requests()); n != 3 || len(recs) != 3 || recs[0].Status != StatusFailed || recs[0].Attempts != 3 {
		t.Fatalf("receiver got %d requests; log = %+v", n, recs)
	}
}

// TestRetryAfterHonoured checks that a 429's Retry-After (1 s) replaces the
// much shorter backoff (50 ms): the time bound is the requirement itself,
// and only its lower side is asserted.
func TestRetryAfterHonoured(t *testing.T) {
	_, b := startBus(t)
	rc := newReceiver(t, func(i int) (int, http.Header) {
		if i == 0 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusOK, nil
	})
	putChannel(t, b, Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL})
	q := NewQueue(b, testConfig, nil)
	run(t, q, false)
	if err := q.Enqueue(context.Background(), firing(), []string{"c1"}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	settled(t, b, q, "tA", 1)
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 950*time.Millisecond {
		t.Fatalf("retried after %v despite Retry-After: 1", gap)
	}
}

func TestTwoRunnersDeliverEachOnce(t *testing.T) {
	n, b1 := startBus(t)
	b2 := connect(t, n)
	rc := newReceiver(t, func(i int) (int, http.Header) {
		if i%7 == 3 { // some retries too
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	putChannel(t, b1, Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL})
	q1, q2 := NewQueue(b1, testConfig, nil), NewQueue(b2, testConfig, nil)
	run(t, q1, false)
	run(t, q2, false)
	const total = 60
	for i := range total {
		nt := firing()
		nt.ID = fmt.Sprintf("r1/g1/%d", i)
		q := q1
		if i%2 == 1 {
			q = q2
		}
		if err := q.Enqueue(context.Background(), nt, []string{"c1"}); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	settled(t, b1, q1, "tA", total)
	ok := map[string]int{}
	for _, r := range rc.requests() {
		if r.Status/100 == 2 {
			ok[r.Header.Get(HeaderNotificationID)]++
		}
	}
	if len(ok) != total {
		t.Fatalf("%d distinct notifications delivered, want %d", len(ok), total)
	}
	for id, c := range ok {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
}

func TestUsageWarningsReachOnlyTheTenant(t *testing.T) {
	_, b := startBus(t)
	rcA, rcB := newReceiver(t, nil), newReceiver(t, nil)
	putChannel(t, b, Channel{ID: "a1", TenantID: "tA", Type: TypeWebhook, URL: rcA.URL})
	putChannel(t, b, Channel{ID: "a2", TenantID: "tA", Type: TypeSlack, URL: rcA.URL})
	putChannel(t, b, Channel{ID: "b1", TenantID: "tB", Type: TypeWebhook, URL: rcB.URL})
	// A tenant whose id extends tA's must not match "tA.*" either.
	putChannel(t, b, Channel{ID: "x1", TenantID: "tAx", Type: TypeWebhook, URL: rcB.URL})
	q := NewQueue(b, testConfig, nil)
	run(t, q, true)
	for _, lvl := range []int{80, 80} { // billing may publish twice: one notification
		data, _ := json.Marshal(warning("tA", lvl))
		if err := b.NC.Publish(quota.WarningSubjectPrefix+"tA", data); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two deliveries to tA", func() bool { return rcA.succeeded() >= 2 })
	waitFor(t, "warnings consumed and queue drained", func() bool {
		c, err := b.JS.Consumer(context.Background(), bus.WarningsStream, UsageConsumer)
		if err != nil {
			t.Fatal(err)
		}
		ci, err := c.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ci.NumPending == 0 && ci.NumAckPending == 0 && queueDrained(t, b)
	})
	if n := len(rcA.requests()); n != 2 {
		t.Errorf("tA's receiver got %d requests, want 2 (one per channel)", n)
	}
	if n := len(rcB.requests()); n != 0 {
		t.Errorf("other tenants' receiver got %d requests", n)
	}
	var got WebhookPayload
	for _, r := range rcA.requests() {
		if r.Header.Get(HeaderNotificationID) != "" {
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got.ID != "usage/tA/2026-11-03T09:30:00Z/80" || got.Kind != KindUsage || got.Threshold != 80 ||
		got.Message != "Sawmill quota: 80% of the monthly events used (800000 of 1000000, plan team, period ends 2026-12-03)" {
		t.Errorf("usage notification = %+v", got.Notification)
	}
	if recs := logOf(t, q, "tB", 10); len(recs) != 0 {
		t.Errorf("tB's log = %+v", recs)
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	_, b := startBus(t)
	q := NewQueue(b, testConfig, nil)
	ok := firing()
	tests := []struct {
		name     string
		mutate   func(*Notification)
		channels []string
	}{
		{"no id", func(n *Notification) { n.ID = "" }, []string{"c1"}},
		{"no tenant", func(n *Notification) { n.TenantID = "" }, []string{"c1"}},
		{"dotted tenant", func(n *Notification) { n.TenantID = "a.b" }, []string{"c1"}},
		{"wildcard tenant", func(n *Notification) { n.TenantID = "*" }, []string{"c1"}},
		{"unknown kind", func(n *Notification) { n.Kind = "exploded" }, []string{"c1"}},
		{"bad channel", func(*Notification) {}, []string{"c1", "x.y"}},
		{"empty channel", func(*Notification) {}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := ok
			tt.mutate(&n)
			if err := q.Enqueue(context.Background(), n, tt.channels); err == nil {
				t.Fatal("Enqueue accepted bad input")
			}
		})
	}
	if !queueDrained(t, b) {
		t.Fatal("bad input queued something")
	}
	if _, err := q.Log(context.Background(), "t.>", 10); err == nil {
		t.Fatal("Log accepted a wildcard tenant")
	}
}

// TestRunSurvivesNATSRestart restarts the server under a running Run: a
// notification queued before (and left retrying) and one queued after are
// both delivered once.
func TestRunSurvivesNATSRestart(t *testing.T) {
	n, b := startBus(t)
	rc := newReceiver(t, func(i int) (int, http.Header) {
		if i == 0 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	})
	putChannel(t, b, Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL})
	cfg := testConfig
	cfg.Backoff, cfg.MaxBackoff = 300*time.Millisecond, 300*time.Millisecond
	q := NewQueue(b, cfg, nil)
	run(t, q, false)
	before := firing()
	if err := q.Enqueue(context.Background(), before, []string{"c1"}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	waitFor(t, "first attempt", func() bool { return len(rc.requests()) >= 1 })
	n.Restart(t)
	after := firing()
	after.ID = "r1/g1/4"
	waitFor(t, "enqueue after restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return q.Enqueue(ctx, after, []string{"c1"}) == nil
	})
	waitFor(t, "both delivered", func() bool { return rc.succeeded() == 2 && queueDrained(t, b) })
	ok := map[string]int{}
	for _, r := range rc.requests() {
		if r.Status == http.StatusOK {
			ok[r.Header.Get(HeaderNotificationID)]++
		}
	}
	if ok[before.ID] != 1 || ok[after.ID] != 1 {
		t.Fatalf("deliveries by id = %v", ok)
	}
}
