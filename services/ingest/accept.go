package ingest

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
)

var (
	eventsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sawmill_ingest_events_total", Help: "Events received by edges, by result (accepted, rejected).",
	}, []string{"result"})
	publishSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "sawmill_bus_publish_seconds", Help: "Time from publish to JetStream acknowledgement, per batch.",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
	})
	publishBytes = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "sawmill_bus_publish_bytes", Help: "Size of published batches.",
		Buckets: prometheus.ExponentialBuckets(256, 4, 9),
	})
)

// LineError says why one input line or event was rejected.
type LineError struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// Result is what an ingest request answers.
type Result struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []LineError `json:"errors"`
}

// maxReportedErrors bounds the per-line errors in one response.
const maxReportedErrors = 1000

// accept publishes the valid events of one request for tenant and returns
// once JetStream has stored all of them. idemKey, when set, makes a retried
// request a no-op. On error nothing should be considered accepted: the
// client retries (with the same Idempotency-Key to avoid duplicates).
func (e *Edge) accept(ctx context.Context, tenantID string, evs []event.Event, idemKey string) error {
	if len(evs) == 0 {
		return nil
	}
	if err := e.suspended(tenantID); err != nil {
		return err
	}
	if err := e.admit(tenantID); err != nil {
		return err
	}
	var bytes int64 // what billing and the rate limiter count
	for i := range evs {
		bytes += int64(evs[i].Size())
	}
	if err := e.rateLimit(tenantID, int64(len(evs)), bytes); err != nil {
		return err
	}
	e.scrubEvents(tenantID, evs) // before encoding: nothing unscrubbed reaches the bus
	retention := e.tenants.RetentionDays(tenantID)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.PublishTimeout)
	defer cancel()
	chunk := 0
	for start := 0; start < len(evs); chunk++ {
		data, n := encodeChunk(evs[start:], e.cfg.MaxBatchBytes)
		b := bus.Batch{Data: data, Events: n, RetentionDays: retention}
		if idemKey != "" {
			// The tenant scopes the key: two tenants may pick the same one.
			b.MsgID = tenantID + ":" + idemKey + ":" + strconv.Itoa(chunk)
		}
		t0 := time.Now()
		if _, _, err := e.bus.PublishBatch(ctx, tenantID, b); err != nil {
			return publishError(err)
		}
		publishSeconds.Observe(time.Since(t0).Seconds())
		publishBytes.Observe(float64(len(data)))
		start += n
	}
	e.metered(tenantID, int64(len(evs)), bytes)
	return nil
}

// limitsFor returns the event limits for one tenant's request: the edge's,
// with MaxAge set to the tenant's retention, so an event that would be
// deleted as soon as it was stored is rejected with that reason instead.
func (e *Edge) limitsFor(tenantID string) event.Limits {
	l := e.cfg.Limits
	l.MaxAge = time.Duration(e.tenants.RetentionDays(tenantID)) * 24 * time.Hour
	return l
}

// encodeChunk encodes a prefix of evs whose encoding stays near maxBytes
// (always at least one event) and returns it with the number of events.
func encodeChunk(evs []event.Event, maxBytes int) ([]byte, int) {
	n, size := 0, 0
	for n < len(evs) {
		s := evs[n].Size() + 64 // framing overhead estimate
		if n > 0 && size+s > maxBytes {
			break
		}
		size += s
		n++
	}
	return event.AppendBatch(make([]byte, 0, size+16), evs[:n]), n
}

// publishError turns a failed publish into what the client should see: the
// bus cannot take the batch now, retry shortly.
func publishError(err error) error {
	retry := time.Second
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) {
		retry = 2 * time.Second
	}
	return &unavailable{cause: err, retry: retry}
}

type unavailable struct {
	cause error
	retry time.Duration
}

func (u *unavailable) Error() string { return "publish: " + u.cause.Error() }
func (u *unavailable) Unwrap() error { return u.cause }

// apiError is the client-facing form of an accept error.
func apiError(err error) *apierr.Error {
	var u *unavailable
	if errors.As(err, &u) {
		return apierr.New(apierr.Unavailable, "the event bus cannot take this batch right now; nothing was stored, retry with the same Idempotency-Key").Retry(u.retry)
	}
	return apierr.From(err)
}
