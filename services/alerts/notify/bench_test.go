package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
)

// BenchmarkDelivery measures notifications queued and delivered to a local
// webhook per second by one Run (8 workers).
func BenchmarkDelivery(b *testing.B) {
	_, bs := startBus(b)
	rc := newReceiver(b, nil)
	putChannel(b, bs, Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL, Secret: "s"})
	q := NewQueue(bs, testConfig, nil)
	run(b, q, false)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		n := firing()
		n.ID = fmt.Sprintf("bench/%d", i)
		if err := q.Enqueue(ctx, n, []string{"c1"}); err != nil {
			b.Fatal(err)
		}
	}
	waitFor(b, "all delivered", func() bool { return rc.succeeded() == b.N })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}

// BenchmarkLog measures Log(tenant, 100) on a log of 200,000 records in
// which the tenant owns 1% (spread evenly) — the bisection's usual case.
func BenchmarkLog(b *testing.B) {
	_, bs := startBus(b)
	q := NewQueue(bs, testConfig, nil)
	ctx := context.Background()
	for i := range 200_000 {
		tenant := "tB"
		if i%100 == 0 {
			tenant = "tA"
		}
		data, _ := json.Marshal(Record{ID: fmt.Sprint(i), TenantID: tenant, ChannelID: "c", Kind: KindFiring, Status: StatusDelivered, Attempts: 1, At: time.Now()})
		if _, err := bs.JS.PublishAsync(bus.NotifyLogSubjectPrefix+tenant, data); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-bs.JS.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishing the log took over a minute")
	}
	b.ResetTimer()
	for range b.N {
		recs, err := q.Log(ctx, "tA", 100)
		if err != nil || len(recs) != 100 || recs[0].ID != "199900" {
			b.Fatalf("Log: %d records, %v", len(recs), err)
		}
	}
}
