package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/bus"
)

// Log limits.
const (
	DefaultLogLimit = 100
	MaxLogLimit     = 1000
)

// record publishes one delivery outcome on the tenant's log subject. The
// message id (notification, channel, status, attempt) keeps a redelivered
// outcome from being logged twice. A failure to log is itself only logged.
func (q *Queue) record(ctx context.Context, r Record) {
	r.At = time.Now().UTC()
	data, err := json.Marshal(r)
	if err == nil {
		id := r.ID + "/" + r.ChannelID + "/" + r.Status + "/" + strconv.Itoa(r.Attempts)
		_, err = q.b.JS.Publish(ctx, bus.NotifyLogSubjectPrefix+r.TenantID, data, jetstream.WithMsgID(id))
	}
	if err != nil {
		q.log.Warn("log notification outcome", "id", r.ID, "channel", r.ChannelID, "status", r.Status, "err", err)
	}
	lvl := map[string]func(string, ...any){StatusDelivered: q.log.Info, StatusRetrying: q.log.Warn, StatusFailed: q.log.Error}[r.Status]
	lvl("notification "+r.Status, "tenant", r.TenantID, "id", r.ID, "channel", r.ChannelID, "attempts", r.Attempts, "err", r.Error)
}

// Log returns a tenant's delivery records, newest first, at most limit.
// Every outcome is a record: a notification retried three times and then
// delivered shows as one "delivered" and three "retrying" records. limit
// ≤ 0 means DefaultLogLimit; it is capped at MaxLogLimit.
//
// The NOTIFYLOG stream interleaves tenants on one subject each and
// JetStream cannot read a subject backwards, so Log finds the start
// sequence from which the subject holds between limit and 2×limit records
// (bisecting on the exact pending count an ephemeral consumer reports at
// creation), then reads forward from there and keeps the last limit. Cost:
// O(log(stream length)) consumer creations in the worst case, usually one
// or two, and at most 2×limit records read.
func (q *Queue) Log(ctx context.Context, tenant string, limit int) ([]Record, error) {
	if !validToken(tenant) {
		return nil, apierr.New(apierr.Invalid, "invalid tenant id %q", truncate(tenant, 100))
	}
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	limit = min(limit, MaxLogLimit)
	subj := bus.NotifyLogSubjectPrefix + tenant
	st, err := q.b.JS.Stream(ctx, bus.NotifyLogStream)
	if err != nil {
		return nil, fmt.Errorf("notification log stream: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return nil, fmt.Errorf("notification log info: %w", err)
	}
	total := info.State.Subjects[subj]
	if total == 0 {
		return []Record{}, nil
	}
	r := logReader{st: st, subj: subj}
	defer r.close()
	if err := r.seek(ctx, info.State.FirstSeq, info.State.LastSeq, total, uint64(limit)); err != nil {
		return nil, err
	}
	return r.read(ctx, limit)
}

// logReader reads one subject of the log stream through ephemeral
// consumers.
type logReader struct {
	st      jetstream.Stream
	subj    string
	cons    jetstream.Consumer // positioned at the chosen start
	pending uint64             // records from there at its creation
}

// open creates an ephemeral consumer at start and returns how many records
// of the subject it would deliver.
func (r *logReader) open(ctx context.Context, start uint64) (jetstream.Consumer, uint64, error) {
	c, err := r.st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     r.subj,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(start, 1),
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("notification log consumer: %w", err)
	}
	return c, c.CachedInfo().NumPending, nil
}

// keep makes c the chosen consumer, deleting the previous one.
func (r *logReader) keep(c jetstream.Consumer, pending uint64) {
	r.close()
	r.cons, r.pending = c, pending
}

func (r *logReader) drop(c jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.st.DeleteConsumer(ctx, c.CachedInfo().Name) // else it expires when inactive
}

func (r *logReader) close() {
	if r.cons != nil {
		r.drop(r.cons)
		r.cons = nil
	}
}

// seek positions the reader at a sequence from which the subject holds
// between limit and 2×limit records (or all of them when there are fewer
// than 2×limit). Invariant of the bisection: pending(lo) ≥ limit >
// pending(hi); pending never grows with the start sequence.
func (r *logReader) seek(ctx context.Context, first, last, total, limit uint64) error {
	if total <= 2*limit {
		c, p, err := r.open(ctx, first)
		if err != nil {
			return err
		}
		r.keep(c, p)
		return nil
	}
	lo, hi := first, last+1
	// First guess: the records are spread evenly; aim for 1.5×limit.
	span := (last - first + 1) * (limit + limit/2) / total
	mid := hi - min(max(span, 1), hi-lo-1)
	for hi-lo > 1 {
		c, p, err := r.open(ctx, mid)
		if err != nil {
			return err
		}
		switch {
		case p >= limit && p <= 2*limit:
			r.keep(c, p)
			return nil
		case p >= limit:
			lo = mid
		default:
			hi = mid
		}
		r.drop(c)
		mid = lo + (hi-lo)/2
	}
	c, p, err := r.open(ctx, lo)
	if err != nil {
		return err
	}
	r.keep(c, p)
	return nil
}

// read fetches the pending records and returns the last limit, newest
// first. Records stored after the consumer was created are left out.
func (r *logReader) read(ctx context.Context, limit int) ([]Record, error) {
	ring := make([]Record, 0, limit)
	next := 0 // where the next record goes once ring is full
	for got := uint64(0); got < r.pending; {
		batch, err := r.cons.Fetch(int(min(r.pending-got, 500)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read notification log: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var rec Record
			if err := json.Unmarshal(m.Data(), &rec); err != nil {
				continue
			}
			if len(ring) < limit {
				ring = append(ring, rec)
			} else {
				ring[next] = rec
				next = (next + 1) % limit
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read notification log: %w", err)
		}
		if n == 0 { // records expired meanwhile
			break
		}
		got += uint64(n)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	out := make([]Record, 0, len(ring))
	for i := range len(ring) {
		out = append(out, ring[(next+len(ring)-1-i)%len(ring)])
	}
	return out, nil
}
