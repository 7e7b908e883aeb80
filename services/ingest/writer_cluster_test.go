package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// Two ClickHouse replicas (one shard, ZooKeeper) and two writers sharing
// the consumer; batches are published to LOGS as the edge publishes them.
// The replica the writers insert into (first in their address list) is
// SIGKILLed mid-load and started again: every published event is stored
// exactly once and both replicas converge. The time until the writers are
// back to their pre-kill lag is logged (the recovery figure); the only time
// bound is the test's overall one.
func TestWriterClusterReplicaKilled(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartCHCluster(t, 1, 2)
	n := testenv.StartNATS(t)
	const db = "sawmill_cluster"
	addrs := strings.Join(c.Addrs(), ",") // replica r1 first: the writers' replica
	cfg := WriterConfig{BatchRows: 5000, BatchWait: 100 * time.Millisecond, AckWait: 5 * time.Second}
	var stops []func()
	var warns atomic.Int64
	var pub *bus.Bus
	for i := range 2 { // two writer processes: own bus connection, own pool
		b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: fmt.Sprintf("%s-%d", t.Name(), i), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		s, err := store.Open(ctx, store.Config{Addr: addrs, Database: db, Cluster: c.Name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		stops = append(stops, startWriter(t, NewWriter(cfg, slog.New(&warnCounter{n: &warns}), b, s)))
		pub = b
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()

	// The load: 3 tenants, 100-event batches, about 4,000 events/s for 8 s.
	const batches, size = 320, 100
	var published atomic.Uint64 // stream sequence of the last published batch
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		for i := range batches {
			<-tick.C
			seq := publishBatch(t, pub, fmt.Sprintf("tc%d", i%3), i, size)
			published.Store(seq)
		}
	}()
	cons, err := pub.JS.Consumer(ctx, bus.LogsStream, bus.WriterConsumer)
	if err != nil {
		t.Fatal(err)
	}
	ackFloor := func() uint64 { // every batch up to this stream sequence is stored and acked
		ci, err := cons.Info(ctx)
		if err != nil {
			return 0
		}
		return ci.AckFloor.Stream
	}
	// drain measures how long after from the writers take to store and ack
	// every batch published up to target.
	drain := func(target uint64, from time.Time) time.Duration {
		for ackFloor() < target && time.Since(from) < 30*time.Second {
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(from)
	}

	time.Sleep(2 * time.Second)
	baseline := drain(published.Load(), time.Now()) // publish-to-ack delay, healthy
	time.Sleep(500 * time.Millisecond)
	victim := c.Replicas[0]
	atKill, floorAtKill := published.Load(), ackFloor()
	killed := time.Now()
	warnsBefore := warns.Load()
	victim.Kill()
	var resumed time.Duration
	for ackFloor() <= floorAtKill && time.Since(killed) < 30*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	resumed = time.Since(killed)
	afterKill := drain(atKill, killed)
	if rest := 3*time.Second - time.Since(killed); rest > 0 {
		time.Sleep(rest) // load goes on with one replica
	}
	victim.Start(t)
	restarted := time.Since(killed)
	<-loadDone

	// Everything written and acknowledged, then both replicas converged.
	const want = batches * size
	waitUntil(t, 60*time.Second, "the writers to ack every batch", func() bool {
		ci, err := cons.Info(ctx)
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	})
	for _, r := range c.Replicas {
		rows, distinct := replicaCounts(t, r.Addr(), db)
		if rows != want || distinct != want {
			t.Errorf("replica %s: %d rows, %d distinct (seq, idx); want exactly %d", r.Replica, rows, distinct, want)
		}
	}
	t.Logf("replica %s SIGKILLed under load (%d writer warnings: failed flushes retried): first ack after %s; "+
		"everything published before the kill stored and acked %s after it (healthy publish-to-ack delay %s); restarted after %s",
		victim.Replica, warns.Load()-warnsBefore, resumed.Round(time.Millisecond), afterKill.Round(time.Millisecond),
		baseline.Round(time.Millisecond), restarted.Round(time.Millisecond))
}

// publishBatch publishes one batch of size events for tenant as the edge
// does (bus.PublishBatch with a message id), retrying briefly, and returns
// its stream sequence.
func publishBatch(t *testing.T, b *bus.Bus, tenantID string, i, size int) uint64 {
	evs := make([]event.Event, size)
	for j := range evs {
		evs[j] = event.Event{Time: time.Now().UnixNano(), Message: fmt.Sprintf("batch %d event %d", i, j), Level: "info", SeverityNumber: 9}
	}
	batch := bus.Batch{Data: event.AppendBatch(nil, evs), Events: size, RetentionDays: 7, MsgID: fmt.Sprintf("%s-%d", tenantID, i)}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		seq, _, err := b.PublishBatch(ctx, tenantID, batch)
		cancel()
		if err == nil {
			return seq
		}
		if attempt > 20 {
			t.Errorf("publish batch %d: %v", i, err)
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// replicaCounts waits for one replica to fetch every part its shard has
// (SYSTEM SYNC REPLICA) and returns its own rows and distinct (seq, idx).
func replicaCounts(t *testing.T, addr, db string) (rows, distinct uint64) {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA logs_local"); err != nil {
		t.Fatalf("sync replica %s: %v", addr, err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(seq, idx) FROM logs_local").Scan(&rows, &distinct); err != nil {
		t.Fatalf("count on %s: %v", addr, err)
	}
	return rows, distinct
}

// waitUntil polls cond every 50 ms until it holds, failing t after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// warnCounter is a slog handler that counts warnings and errors.
type warnCounter struct{ n *atomic.Int64 }

func (h *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *warnCounter) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h *warnCounter) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *warnCounter) WithGroup(string) slog.Handler                { return h }
