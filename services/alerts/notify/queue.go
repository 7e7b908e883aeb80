package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/bus"
)

// Consumer names on the NOTIFY and WARNINGS streams, shared by every
// alerts process.
const (
	DeliveryConsumer = "notify"
	UsageConsumer    = "notify-usage"
)

// ackWait is how long a delivery may take before JetStream hands the
// message to another process: above the HTTP (10 s) and SMTP (20 s)
// timeouts.
const ackWait = 30 * time.Second

// attemptTimeout bounds one delivery attempt, whatever the HTTP client's
// own timeout: below ackWait, so JetStream does not redeliver meanwhile.
const attemptTimeout = 25 * time.Second

// maxRetryAfter caps a receiver's Retry-After hint.
const maxRetryAfter = time.Hour

// Statuses of a Record.
const (
	StatusDelivered = "delivered"
	StatusRetrying  = "retrying"
	StatusFailed    = "failed"
)

// item is one NOTIFY message: a notification for one channel.
type item struct {
	ChannelID    string       `json:"channel_id"`
	Notification Notification `json:"notification"`
}

var kinds = map[string]bool{KindFiring: true, KindResolved: true, KindRenotify: true, KindUsage: true, KindTest: true}

// Enqueue durably queues n for each channel id (one message per channel,
// deduplicated on n.ID and the channel id). It returns once JetStream has
// stored them.
//
// The stream remembers message ids for the bus's duplicate window (10
// minutes by default): a repeat inside it is acknowledged and dropped. A
// notification without id or tenant, of an unknown kind, or a malformed
// channel id is apierr.Invalid and nothing is queued.
func (q *Queue) Enqueue(ctx context.Context, n Notification, channelIDs []string) error {
	if n.ID == "" || !validToken(n.TenantID) || !kinds[n.Kind] {
		return apierr.New(apierr.Invalid, "notification needs an id, a tenant and a known kind (got id %q, tenant %q, kind %q)",
			truncate(n.ID, 100), truncate(n.TenantID, 100), truncate(n.Kind, 40))
	}
	for _, id := range channelIDs {
		if !validToken(id) {
			return apierr.New(apierr.Invalid, "invalid channel id %q", truncate(id, 100))
		}
	}
	for _, id := range channelIDs {
		data, err := json.Marshal(item{ChannelID: id, Notification: n})
		if err != nil {
			return fmt.Errorf("encode notification: %w", err)
		}
		if _, err := q.b.JS.Publish(ctx, bus.NotifySubjectPrefix+n.TenantID, data, jetstream.WithMsgID(n.ID+"/"+id)); err != nil {
			return fmt.Errorf("enqueue notification %s for channel %s: %w", n.ID, id, err)
		}
	}
	return nil
}

// Run delivers queued notifications until ctx ends; several processes may
// run it at once (each message goes to one of them). Each process makes
// up to cfg.Workers deliveries at once. It returns nil when ctx ends.
func (q *Queue) Run(ctx context.Context) error {
	cfg := jetstream.ConsumerConfig{
		Durable:     DeliveryConsumer,
		Description: "notification delivery, shared by alerts processes",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     ackWait,
		// Attempts are capped by cfg.MaxAttempts; this only stops a
		// message that crashes every process from circulating forever.
		MaxDeliver:    10000,
		MaxAckPending: 10000,
	}
	return q.consume(ctx, bus.NotifyStream, cfg, q.cfg.Workers, q.deliver)
}

// consume fetches from a durable consumer (created or updated at start, and
// again after errors) and hands each message to handle, at most workers
// at once. It returns nil when ctx ends, after in-flight handlers finish.
func (q *Queue) consume(ctx context.Context, stream string, cc jetstream.ConsumerConfig, workers int, handle func(context.Context, jetstream.Msg)) error {
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	var cons jetstream.Consumer
	for backoff := 100 * time.Millisecond; ctx.Err() == nil; {
		if cons == nil {
			c, err := q.b.JS.CreateOrUpdateConsumer(ctx, stream, cc)
			if err != nil {
				q.log.Warn("create consumer; retrying", "stream", stream, "consumer", cc.Durable, "err", err)
				sleep(ctx, backoff)
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			cons, backoff = c, 100*time.Millisecond
		}
		n := acquire(ctx, sem)
		if n == 0 {
			break
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second) // ends at once on shutdown
		batch, err := cons.Fetch(n, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			release(sem, n)
			q.log.Warn("fetch", "stream", stream, "err", err)
			cons = nil
			sleep(ctx, backoff)
			continue
		}
		for msg := range batch.Messages() {
			n--
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer release(sem, 1)
				// An attempt under way finishes (bounded by the HTTP and
				// SMTP timeouts) and is settled even when ctx ends: cutting
				// it off could leave a delivered notification unacked, to
				// be delivered again.
				handle(context.WithoutCancel(ctx), msg)
			}()
		}
		release(sem, n)
		err = batch.Error()
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			q.log.Warn("fetch", "stream", stream, "err", err)
			cons = nil
			sleep(ctx, backoff)
		}
	}
	return nil
}

// acquire waits for at least one free slot and takes every free slot; 0
// when ctx ends.
func acquire(ctx context.Context, sem chan struct{}) int {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for ; n < cap(sem); n++ {
		select {
		case sem <- struct{}{}:
			continue
		default:
		}
		break
	}
	return n
}

func release(sem chan struct{}, n int) {
	for range n {
		<-sem
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// deliver makes one attempt for one NOTIFY message and settles it: ack on
// success or permanent failure, nak with backoff on a retryable one. Each
// outcome is logged (Record).
func (q *Queue) deliver(ctx context.Context, msg jetstream.Msg) {
	var it item
	if err := json.Unmarshal(msg.Data(), &it); err != nil || it.Notification.TenantID == "" {
		q.log.Error("undecodable notification; dropped", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	n := it.Notification
	attempt := 1
	if md, err := msg.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	rec := Record{ID: n.ID, TenantID: n.TenantID, ChannelID: it.ChannelID, RuleID: n.RuleID, Kind: n.Kind, Attempts: attempt}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	ch, err := q.channel(actx, n.TenantID, it.ChannelID)
	if err == nil {
		err = q.Send(actx, ch, n)
	}
	switch {
	case err == nil:
		rec.Status = StatusDelivered
		if aerr := msg.DoubleAck(ctx); aerr != nil {
			q.log.Warn("ack delivered notification", "id", n.ID, "channel", it.ChannelID, "err", aerr)
		}
	case IsRetryable(err) && attempt < q.cfg.MaxAttempts:
		rec.Status, rec.Error = StatusRetrying, err.Error()
		_ = msg.NakWithDelay(q.retryDelay(attempt, RetryAfter(err)))
	default:
		rec.Status, rec.Error = StatusFailed, err.Error()
		_ = msg.DoubleAck(ctx)
	}
	q.record(ctx, rec)
}

// channel loads a channel from the alert_channels bucket. A missing channel
// is a permanent error; a bus error is retryable.
func (q *Queue) channel(ctx context.Context, tenant, id string) (Channel, error) {
	var ch Channel
	e, err := q.b.AlertChannels.Get(ctx, tenant+"."+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ch, permanent("channel %s not found (deleted?)", id)
	}
	if err != nil {
		return ch, networkError("load channel "+id, err)
	}
	if err := json.Unmarshal(e.Value(), &ch); err != nil {
		return ch, permanent("decode channel %s: %v", id, err)
	}
	return ch, nil
}

// retryDelay is cfg.Backoff doubled per attempt so far, capped at
// cfg.MaxBackoff, or the receiver's Retry-After when longer (capped at an
// hour).
func (q *Queue) retryDelay(attempt int, retryAfter time.Duration) time.Duration {
	d := q.cfg.Backoff
	for i := 1; i < attempt && d < q.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, q.cfg.MaxBackoff)
	if retryAfter > d {
		d = min(retryAfter, maxRetryAfter)
	}
	return d
}
