package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
)

// errBatcherClosed is returned by syslogBatcher.add after close.
var errBatcherClosed = errors.New("syslog batcher closed")

// syslogBatcher collects events per tenant and publishes them in batches
// of up to maxEvents events (or maxBytes bytes), or whatever has gathered
// after wait, one publish round trip per batch. A tenant holds at most one
// pending batch besides the one being published: when it is full, add
// blocks (TCP: the connection stops being read, so the sender slows down)
// or, with block false, reports false (UDP: the datagram is dropped).
// A failed publish (the bus is down) is retried, under the same batch id
// (the JetStream message id, so a batch stored whose acknowledgement was
// lost is not stored twice), until it succeeds or the batcher is closed.
type syslogBatcher struct {
	// publish stores one batch; batchID is the same on every retry of a
	// batch, so that a retry after a lost acknowledgement is deduplicated.
	publish   func(ctx context.Context, tenantID, batchID string, evs []event.Event) error
	maxEvents int
	maxBytes  int
	wait      time.Duration
	retry     time.Duration // first retry delay; doubles up to 2s

	mu      sync.Mutex
	space   *sync.Cond // broadcast when a pending batch is taken or on close
	pending map[string]*syslogPending
	closed  bool
	kick    chan struct{} // a batch is full
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
}

type syslogPending struct {
	evs   []event.Event
	bytes int
	since time.Time
}

func newSyslogBatcher(publish func(context.Context, string, string, []event.Event) error, maxEvents, maxBytes int, wait time.Duration) *syslogBatcher {
	ctx, cancel := context.WithCancel(context.Background())
	b := &syslogBatcher{
		publish: publish, maxEvents: maxEvents, maxBytes: maxBytes, wait: wait, retry: 100 * time.Millisecond,
		pending: map[string]*syslogPending{}, kick: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	b.space = sync.NewCond(&b.mu)
	go b.run()
	return b
}

// add queues ev for tenantID. With block it waits while the tenant's
// pending batch is full; without, it returns false instead. It returns
// errBatcherClosed once close has begun.
func (b *syslogBatcher) add(tenantID string, ev event.Event, block bool) (bool, error) {
	size := ev.Size()
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed {
			return false, errBatcherClosed
		}
		p := b.pending[tenantID]
		if p == nil {
			p = &syslogPending{since: time.Now()}
			b.pending[tenantID] = p
		}
		if len(p.evs) < b.maxEvents && (p.bytes+size <= b.maxBytes || len(p.evs) == 0) {
			p.evs = append(p.evs, ev)
			p.bytes += size
			if len(p.evs) >= b.maxEvents || p.bytes >= b.maxBytes {
				select {
				case b.kick <- struct{}{}:
				default:
				}
			}
			return true, nil
		}
		if !block {
			return false, nil
		}
		b.space.Wait()
	}
}

// run publishes full batches at once and the others after wait.
func (b *syslogBatcher) run() {
	defer close(b.done)
	tick := time.NewTicker(b.wait / 4)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		case <-tick.C:
		}
		for {
			tenantID, evs := b.take(false)
			if evs == nil {
				break
			}
			if !b.publishRetrying(tenantID, evs) {
				return
			}
		}
	}
}

// take removes and returns one batch that is due: full, older than wait,
// or (with all) any non-empty one. It returns nil when none is.
func (b *syslogBatcher) take(all bool) (string, []event.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for tenantID, p := range b.pending {
		if len(p.evs) == 0 {
			delete(b.pending, tenantID)
			continue
		}
		if all || len(p.evs) >= b.maxEvents || p.bytes >= b.maxBytes || now.Sub(p.since) >= b.wait {
			delete(b.pending, tenantID)
			b.space.Broadcast()
			return tenantID, p.evs
		}
	}
	return "", nil
}

// publishRetrying publishes until it succeeds; it gives up, returning
// false, when the batcher is closed.
func (b *syslogBatcher) publishRetrying(tenantID string, evs []event.Event) bool {
	delay := b.retry
	batchID := "syslog-" + auth.RandomID(10)
	for {
		err := b.publish(b.ctx, tenantID, batchID, evs)
		if err == nil {
			return true
		}
		syslogPublishFailures.Inc()
		select {
		case <-b.ctx.Done():
			syslogMessages.WithLabelValues("dropped_shutdown").Add(float64(len(evs)))
			return false
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// close stops accepting events, publishes what is pending (trying until
// ctx ends) and stops the background publisher. Events still unpublished
// when ctx ends are counted as dropped.
func (b *syslogBatcher) close(ctx context.Context) {
	b.mu.Lock()
	b.closed = true
	b.space.Broadcast()
	b.mu.Unlock()
	stop := context.AfterFunc(ctx, b.cancel)
	defer stop()
	// Drain beside the background publisher, which may be in the middle
	// of a batch; both stop retrying when ctx ends.
	for {
		tenantID, evs := b.take(true)
		if evs == nil || !b.publishRetrying(tenantID, evs) {
			break
		}
	}
	b.cancel()
	<-b.done
	for tenantID, evs := b.take(true); evs != nil; tenantID, evs = b.take(true) {
		_ = tenantID
		syslogMessages.WithLabelValues("dropped_shutdown").Add(float64(len(evs)))
	}
}
