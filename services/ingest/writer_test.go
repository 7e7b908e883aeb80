package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/chserver"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type rig struct {
	nats  *testenv.NATS
	bus   *bus.Bus
	store *store.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	n := testenv.StartNATS(t)
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: t.Name(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(t), Database: testenv.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return &rig{nats: n, bus: b, store: s}
}

// publish stores n batches of size events each for tenant, retrying while
// NATS is unavailable, as a client would.
func (r *rig) publish(t *testing.T, tenantID string, from, n, size int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		evs := make([]event.Event, size)
		for j := range evs {
			evs[j] = event.Event{Time: time.Now().UnixNano(), Message: fmt.Sprintf("batch %d event %d", i, j), Level: "info", SeverityNumber: 9}
		}
		b := bus.Batch{Data: event.AppendBatch(nil, evs), Events: size, RetentionDays: 7, MsgID: fmt.Sprintf("%s-%d", tenantID, i)}
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, err := r.bus.PublishBatch(ctx, tenantID, b)
			cancel()
			if err == nil {
				break
			}
			if attempt > 50 {
				t.Fatalf("publish batch %d: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// counts returns the rows stored for tenant and the distinct (seq, idx)
// among them.
func (r *rig) counts(t *testing.T, tenantID string) (rows, distinct uint64) {
	t.Helper()
	res, err := r.store.Query(context.Background(),
		"SELECT count(), uniqExact(seq, idx) FROM logs WHERE tenant_id = ?", tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if !res.Next() {
		t.Fatal("no count row")
	}
	if err := res.Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	return rows, distinct
}

// waitStored waits until tenant has want rows, then checks there are no
// duplicates and the consumer has nothing left to deliver or ack.
func (r *rig) waitStored(t *testing.T, tenantID string, want uint64) {
	t.Helper()
	var rows, distinct uint64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if rows, distinct = r.counts(t, tenantID); rows >= want {
			break
		}
	}
	// Let any straggling redelivery land before judging duplicates.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		info, err := r.bus.JS.Consumer(context.Background(), bus.LogsStream, bus.WriterConsumer)
		if err != nil {
			continue
		}
		ci, err := info.Info(context.Background())
		if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 {
			break
		}
	}
	rows, distinct = r.counts(t, tenantID)
	if rows != want || distinct != want {
		t.Fatalf("tenant %s: %d rows, %d distinct, want exactly %d", tenantID, rows, distinct, want)
	}
}

func startWriter(t *testing.T, w *Writer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("writer: %v", err)
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

var errCrash = errors.New("simulated crash")

// The writer dies after its insert and before its acks; a new writer gets
// the redelivered batches and must not store them again.
func TestWriterCrashBetweenInsertAndAck(t *testing.T) {
	r := newRig(t)
	cfg := WriterConfig{BatchRows: 1000, BatchWait: 50 * time.Millisecond, AckWait: time.Second} // each 500-event publish is one flush
	w1 := NewWriter(cfg, quiet, r.bus, r.store)
	ctx1, kill := context.WithCancel(context.Background())
	flushed, crashed := make(chan struct{}), make(chan struct{})
	var flushes atomic.Int32
	w1.afterInsert = func() error {
		switch flushes.Add(1) {
		case 1: // the first flush completes and acks
			close(flushed)
		case 2: // the second is inserted, then the process "dies" before acking
			kill()
			close(crashed)
			return errCrash
		}
		return nil
	}
	done := make(chan struct{})
	go func() { defer close(done); w1.Run(ctx1) }()

	r.publish(t, "tcrash", 0, 10, 50)
	waitClosed(t, flushed, "first flush")
	r.publish(t, "tcrash", 10, 10, 50)
	waitClosed(t, crashed, "second flush")
	<-done
	if rows, _ := r.counts(t, "tcrash"); rows != 1000 {
		t.Fatalf("before the restart %d rows are stored, want 1000 (the crashed flush inserted its rows)", rows)
	}

	// More traffic arrives while no writer runs, then a new writer starts and
	// receives the unacknowledged batches again.
	r.publish(t, "tcrash", 20, 10, 50)
	stop := startWriter(t, NewWriter(cfg, quiet, r.bus, r.store))
	defer stop()
	r.waitStored(t, "tcrash", 1500)
}

func waitClosed(t *testing.T, c chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for the %s", what)
	}
}

// The writer is killed in the middle of many flushes, repeatedly, while
// traffic keeps arriving; every event ends up stored exactly once.
func TestWriterRepeatedCrashes(t *testing.T) {
	r := newRig(t)
	cfg := WriterConfig{BatchRows: 200, BatchWait: 20 * time.Millisecond, AckWait: 500 * time.Millisecond}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.publish(t, "tchaos", 0, 60, 40) }() // 2,400 events
	for round := 0; round < 5; round++ {
		w := NewWriter(cfg, quiet, r.bus, r.store)
		ctx, kill := context.WithCancel(context.Background())
		var n atomic.Int32
		crashAt := int32(round%3 + 1)
		w.afterInsert = func() error {
			if n.Add(1) == crashAt {
				kill()
				return errCrash
			}
			return nil
		}
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			kill()
			<-done
		}
	}
	wg.Wait()
	stop := startWriter(t, NewWriter(cfg, quiet, r.bus, r.store))
	defer stop()
	r.waitStored(t, "tchaos", 2400)
}

// NATS restarts while batches are published and written: nothing accepted
// is lost (the stream is on disk) and nothing is written twice.
func TestNATSRestart(t *testing.T) {
	r := newRig(t)
	cfg := WriterConfig{BatchRows: 500, BatchWait: 50 * time.Millisecond, AckWait: time.Second}
	stop := startWriter(t, NewWriter(cfg, quiet, r.bus, r.store))
	defer stop()
	r.publish(t, "trestart", 0, 20, 25)
	r.nats.Restart(t)
	r.publish(t, "trestart", 20, 20, 25) // retries until the bus is back
	r.nats.Restart(t)
	r.publish(t, "trestart", 40, 20, 25)
	r.waitStored(t, "trestart", 1500)
}

// A message that cannot be decoded is terminated, not redelivered forever,
// and does not hold up the batches behind it.
func TestWriterPoisonMessage(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, _, err := r.bus.PublishBatch(ctx, "tpoison", bus.Batch{Data: []byte{0xff, 1, 2, 3}, Events: 1, RetentionDays: 7}); err != nil {
		t.Fatal(err)
	}
	r.publish(t, "tpoison", 0, 3, 10)
	stop := startWriter(t, NewWriter(WriterConfig{BatchWait: 50 * time.Millisecond, AckWait: time.Second}, quiet, r.bus, r.store))
	defer stop()
	r.waitStored(t, "tpoison", 30)
}

// ClickHouse goes away under load: edges keep accepting into JetStream, the
// writer retries, and when ClickHouse is back every batch is stored once.
func TestClickHouseOutage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	port := testenv.FreePort(t)
	startCH := func() *chserver.Server {
		ch, err := chserver.Start(ctx, chserver.Config{Dir: dir, TCPPort: port})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	ch := startCH()
	defer func() { ch.Stop() }()
	n := testenv.StartNATS(t)
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: t.Name(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := store.Open(ctx, store.Config{Addr: ch.Addr(), Database: "outage"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	r := &rig{nats: n, bus: b, store: s}
	stop := startWriter(t, NewWriter(WriterConfig{BatchRows: 500, BatchWait: 50 * time.Millisecond, AckWait: time.Second}, quiet, b, s))
	defer stop()

	r.publish(t, "toutage", 0, 10, 50)
	r.waitStored(t, "toutage", 500)
	if err := ch.Stop(); err != nil {
		t.Fatal(err)
	}
	r.publish(t, "toutage", 10, 40, 50) // accepted by the bus while ClickHouse is down
	time.Sleep(2 * time.Second)         // the writer fails and retries meanwhile
	ch = startCH()
	r.waitStored(t, "toutage", 2500)
}

// A writer started while NATS is down starts writing once NATS is back.
func TestWriterStartsDuringOutage(t *testing.T) {
	r := newRig(t)
	r.publish(t, "tlate", 0, 4, 25)
	r.nats.Stop()
	stop := startWriter(t, NewWriter(WriterConfig{BatchWait: 50 * time.Millisecond, AckWait: time.Second}, quiet, r.bus, r.store))
	defer stop()
	time.Sleep(500 * time.Millisecond) // the writer fails to set up its consumer meanwhile
	r.nats.Restart(t)
	r.waitStored(t, "tlate", 100)
}
