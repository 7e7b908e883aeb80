package query

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/eventpb"
	"github.com/sawmillhq/sawmill/pkg/lql"
)

// Live tail follows a tenant's batches on the LOGS stream with a JetStream
// ordered consumer (ephemeral, in memory, no acks) that starts at
// DeliverNew, and filters them in memory with lql.Query.Match. A core NATS
// subscription would be cheaper for the server, but it sees every publish,
// including a client's retry with the same Idempotency-Key that JetStream
// acknowledged as a duplicate and did not store: the tail would show lines
// twice that search shows once. The ordered consumer shows exactly what was
// stored, in stream order, and resumes after a NATS reconnect from the last
// batch it saw instead of silently skipping what was published meanwhile.
// Stream positions also make SSE resumable: each event's id is its
// (sequence, index) in the stream, and a reconnect with Last-Event-ID starts
// the consumer there (DeliverByStartSequence). Its cost is one ephemeral
// consumer per tail on the server, bounded by TailConfig.MaxPerTenant and
// MaxTotal, and deleted when the tail ends. Limits are per query node.

var (
	tailActive = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sawmill_tail_active", Help: "Live tails currently open on this node.",
	})
	tailMissed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_tail_missed_events_total", Help: "Matching events dropped because a tail client read too slowly.",
	})
	tailBadBatches = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_tail_undecodable_batches_total", Help: "Bus messages a tail could not decode and skipped.",
	})
)

// tailRetryAfter is what a client over its tail limit is told to wait.
const tailRetryAfter = 5 * time.Second

// TailConfig configures live tail. The zero value gives the documented
// defaults.
type TailConfig struct {
	// MaxPerTenant bounds the concurrent tails of one tenant across every
	// query node (counted by their consumers on the LOGS stream);
	// one more is refused with 429 and Retry-After. 0 → 5.
	MaxPerTenant int
	// MaxTotal bounds the concurrent tails on this node over all tenants.
	// 0 → 1000.
	MaxTotal int
	// BufferEvents and BufferBytes (by event.Size) bound the matching events
	// held for one client that reads slower than its tenant logs; events
	// beyond them are dropped, counted, and reported to the client as
	// missed. 0 → 1000 events and 4 MiB.
	BufferEvents int
	BufferBytes  int
	// KeepAlive is the interval of SSE keepalive comments and of the check
	// that the tail's credential is still valid (a revoked key ends its
	// tails). 0 → 15 s.
	KeepAlive time.Duration
	// WriteTimeout bounds one write to a tail client (SSE or gRPC): a
	// client that accepts nothing for this long is disconnected, and its
	// slot freed. 0 → 1 minute.
	WriteTimeout time.Duration
}

// RegisterFlags registers the tail flags under "tail.".
func (c *TailConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.MaxPerTenant, "tail.max-per-tenant", 5, "concurrent live tails per tenant, across every query node")
	fs.IntVar(&c.MaxTotal, "tail.max-total", 1000, "concurrent live tails on this node")
	fs.IntVar(&c.BufferEvents, "tail.buffer-events", 1000, "events buffered per slow tail client before dropping")
	fs.IntVar(&c.BufferBytes, "tail.buffer-bytes", 4<<20, "bytes buffered per slow tail client before dropping")
	fs.DurationVar(&c.KeepAlive, "tail.keepalive", 15*time.Second, "interval of SSE keepalive comments and credential re-checks")
	fs.DurationVar(&c.WriteTimeout, "tail.write-timeout", time.Minute, "disconnect a tail client (SSE or gRPC) that accepts nothing for this long")
}

// Validate reports a configuration that cannot work.
func (c *TailConfig) Validate() error {
	if c.MaxPerTenant < 0 || c.MaxTotal < 0 || c.BufferEvents < 0 || c.BufferBytes < 0 || c.KeepAlive < 0 || c.WriteTimeout < 0 {
		return errors.New("tail: limits must not be negative")
	}
	return nil
}

func (c *TailConfig) defaults() {
	if c.MaxPerTenant == 0 {
		c.MaxPerTenant = 5
	}
	if c.MaxTotal == 0 {
		c.MaxTotal = 1000
	}
	if c.BufferEvents == 0 {
		c.BufferEvents = 1000
	}
	if c.BufferBytes == 0 {
		c.BufferBytes = 4 << 20
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 15 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = time.Minute
	}
}

// tailer is the live tail state of one Service.
type tailer struct {
	cfg  TailConfig
	bus  *bus.Bus
	log  *slog.Logger
	done <-chan struct{} // closed when the role stops: every tail ends

	// admit refuses a suspended or deleted tenant (Service.admit).
	admit func(tenant string) error

	mu     sync.Mutex
	active map[string]int // tenant → open tails
	total  int
	// dropped counts the events dropped for slow clients of this node.
	dropped atomic.Int64
}

// EnableTail turns on live tail (gRPC Tail and, after RegisterTail, GET
// /v1/tail) backed by b. When ctx ends, every open tail ends. Call it once,
// before the server starts.
func (s *Service) EnableTail(ctx context.Context, b *bus.Bus, cfg TailConfig) {
	cfg.defaults()
	s.tail = &tailer{cfg: cfg, bus: b, log: s.log, done: ctx.Done(), active: map[string]int{},
		admit: func(id string) error { _, err := s.admit(id); return err }}
}

// tailer answers Unavailable on a Service without EnableTail.
func (s *Service) tailer() (*tailer, error) {
	if s.tail == nil {
		return nil, apierr.New(apierr.Unavailable, "live tail is not enabled on this node").Retry(time.Minute)
	}
	return s.tail, nil
}

// Tail streams the events of the caller's tenant that match req.Query as
// they are stored, from the moment the response headers are sent (a client
// may wait for them to know the tail is live). Each message carries the
// events buffered since the previous one, oldest first, and the number of
// matching events dropped meanwhile because the client read too slowly. A
// bad query is InvalidArgument with its position; more than MaxPerTenant
// tails is ResourceExhausted with retry info. The stream ends when the
// client cancels, the credential is revoked, or the role stops.
func (s *Service) Tail(req *sawmillv1.TailRequest, stream grpc.ServerStreamingServer[sawmillv1.TailResponse]) error {
	t, err := s.tailer()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	var authz string
	if v := md.Get("authorization"); len(v) > 0 {
		authz = v[0]
	}
	bearer := bearerToken(authz)
	sess, err := t.open(ctx, s.auth, bearer, req.GetQuery(), tailPos{})
	if err != nil {
		return err
	}
	defer sess.close()
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return nil // the client went away
	}
	return sess.run(ctx, func(evs []tailEvent, missed int64) error {
		return sendWithin(t.cfg.WriteTimeout, func() error { return sendTail(stream, evs, missed) })
	}, nil)
}

// errTailStalled ends a tail whose client accepted nothing for the
// configured WriteTimeout.
var errTailStalled = apierr.New(apierr.Unavailable, "tail: the client accepted nothing for too long; reconnect to go on")

// sendWithin runs send, a gRPC stream's Send, on a goroutine of its own,
// giving up with errTailStalled after timeout: Send waits for the client's
// flow-control window without a deadline, so a client that stops reading
// would otherwise hold its tail slot until its connection dies. The send
// goroutine ends once the handler returns and gRPC closes the stream.
func sendWithin(timeout time.Duration, send func() error) error {
	done := make(chan error, 1)
	go func() { done <- send() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return errTailStalled
	}
}

// maxTailMessageBytes keeps each TailResponse well under gRPC's default 4 MiB
// receive limit.
const maxTailMessageBytes = 1 << 20

// sendTail sends evs in messages of at most maxTailMessageBytes (by event
// size; at least one event each); missed rides on the first.
func sendTail(stream grpc.ServerStreamingServer[sawmillv1.TailResponse], evs []tailEvent, missed int64) error {
	resp := &sawmillv1.TailResponse{Missed: missed}
	size := 0
	for i := range evs {
		if n := evs[i].Size(); size+n > maxTailMessageBytes && len(resp.Events) > 0 {
			if err := stream.Send(resp); err != nil {
				return err
			}
			resp, size = &sawmillv1.TailResponse{}, 0
		}
		resp.Events = append(resp.Events, eventpb.ToProto(&evs[i].Event))
		size += evs[i].Size()
	}
	if len(resp.Events) == 0 && resp.Missed == 0 {
		return nil
	}
	return stream.Send(resp)
}

// bearerToken extracts the credential of an Authorization value ("Bearer x",
// scheme case-insensitive).
func bearerToken(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// tailSession is one open tail: its consumer on the bus and its buffer.
type tailSession struct {
	t      *tailer
	authn  *auth.Authenticator
	bearer string
	tenant string
	q      *lql.Query
	buf    *tailBuffer
	// after, when set, is the position of the last event the client saw:
	// the tail resumes right after it.
	after tailPos
	// name prefixes the session's consumer on the LOGS stream ("tail_..."),
	// by which every query node counts the tenant's tails.
	name string
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext
}

// open authenticates bearer with the query scope, parses the query, takes a
// slot of the tenant's tail limit and starts following the tenant's subject:
// right after the position after if it is set (as far as the stream still
// holds it), otherwise from now on. When it returns, every batch stored from
// now on reaches the session.
func (t *tailer) open(ctx context.Context, authn *auth.Authenticator, bearer, query string, after tailPos) (*tailSession, error) {
	p, err := authn.Authenticate(ctx, bearer)
	if err != nil {
		return nil, err
	}
	if err := p.Require(auth.ScopeQuery); err != nil {
		return nil, err
	}
	if err := t.admit(p.TenantID); err != nil {
		return nil, err
	}
	if !validSubjectToken(p.TenantID) {
		return nil, apierr.Wrap(fmt.Errorf("tenant id %q", p.TenantID), "tail: invalid tenant id")
	}
	q, err := parseTailQuery(query)
	if err != nil {
		return nil, err
	}
	if err := t.acquire(p.TenantID); err != nil {
		return nil, err
	}
	sess := &tailSession{t: t, authn: authn, bearer: bearer, tenant: p.TenantID, q: q, after: after,
		name: "tail_" + auth.RandomID(8), buf: newTailBuffer(t.cfg.BufferEvents, t.cfg.BufferBytes)}
	if err := sess.follow(ctx); err != nil {
		t.release(p.TenantID)
		t.log.Warn("tail: follow failed", "tenant", p.TenantID, "err", err)
		return nil, apierr.New(apierr.Unavailable, "live tail is unavailable: the bus did not answer").Retry(time.Second)
	}
	within, err := sess.withinClusterLimit(ctx)
	if err != nil {
		// The local limit still holds; the cluster-wide one is best effort.
		t.log.Warn("tail: count the tenant's tails", "tenant", p.TenantID, "err", err)
	} else if !within {
		sess.close()
		return nil, apierr.New(apierr.RateLimited, "too many live tails: at most %d per tenant; close one or retry later", t.cfg.MaxPerTenant).Retry(tailRetryAfter)
	}
	return sess, nil
}

// withinClusterLimit reports whether the session's consumer is among the
// tenant's first MaxPerTenant tail consumers on the LOGS stream, by creation
// time, counting the tails of every query node: the per-tenant limit holds
// across the cluster, and of two tails opened at once on two nodes when one
// slot is left, exactly one stays. A crashed node's consumers count until
// their inactivity threshold removes them.
func (s *tailSession) withinClusterLimit(ctx context.Context) (bool, error) {
	stream, err := s.t.bus.JS.Stream(ctx, bus.LogsStream)
	if err != nil {
		return false, fmt.Errorf("logs stream: %w", err)
	}
	type tail struct {
		name    string
		created time.Time
	}
	var tails []tail
	subject := bus.LogsSubject(s.tenant)
	list := stream.ListConsumers(ctx)
	for info := range list.Info() {
		filter := info.Config.FilterSubject
		if len(info.Config.FilterSubjects) == 1 {
			filter = info.Config.FilterSubjects[0]
		}
		if strings.HasPrefix(info.Name, "tail_") && filter == subject {
			tails = append(tails, tail{info.Name, info.Created})
		}
	}
	if err := list.Err(); err != nil {
		return false, fmt.Errorf("list consumers: %w", err)
	}
	slices.SortFunc(tails, func(a, b tail) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for i, x := range tails {
		if strings.HasPrefix(x.name, s.name) {
			return i < s.t.cfg.MaxPerTenant, nil
		}
	}
	return true, nil // not listed yet: do not refuse on a lag
}

// follow creates the ordered consumer and starts consuming into the buffer.
func (s *tailSession) follow(ctx context.Context) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{bus.LogsSubject(s.tenant)},
		DeliverPolicy:     jetstream.DeliverNewPolicy,
		InactiveThreshold: time.Minute, // a crashed node's consumers go away by themselves
		NamePrefix:        s.name,
	}
	if s.after.seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.after.seq
	}
	cons, err := s.t.bus.JS.OrderedConsumer(ctx, bus.LogsStream, cfg)
	if err != nil {
		return fmt.Errorf("create ordered consumer: %w", err)
	}
	cc, err := cons.Consume(s.onBatch,
		jetstream.PullMaxMessagesWithBytesLimit(500, 8<<20),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			s.t.log.Debug("tail: consume", "tenant", s.tenant, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	s.cons, s.cc = cons, cc
	return nil
}

// onBatch runs on the consumer's goroutine for every batch of the tenant: it
// must never block, so a slow client costs drops, not ingest throughput.
func (s *tailSession) onBatch(msg jetstream.Msg) {
	evs, err := event.DecodeBatch(msg.Data())
	if err != nil {
		tailBadBatches.Inc()
		s.t.log.Warn("tail: skipping undecodable batch", "subject", msg.Subject(), "err", err)
		return
	}
	first := tailPos{}
	if md, err := msg.Metadata(); err == nil {
		first.seq = md.Sequence.Stream
	}
	if s.after.seq > 0 && first.seq == s.after.seq {
		// The batch of the last event the client saw: skip through it.
		skip := min(int(s.after.idx)+1, len(evs))
		evs, first.idx = evs[skip:], uint32(skip)
	}
	if n := s.buf.push(evs, first, s.q, len(msg.Data())); n > 0 {
		tailMissed.Add(float64(n))
		s.t.dropped.Add(n)
	}
}

// close stops consuming, deletes the server's consumer and frees the slot.
func (s *tailSession) close() {
	s.cc.Stop()
	select {
	case <-s.cc.Closed():
	case <-time.After(5 * time.Second):
		s.t.log.Warn("tail: consumer did not stop in time", "tenant", s.tenant)
	}
	if info := s.cons.CachedInfo(); info != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.t.bus.JS.DeleteConsumer(ctx, bus.LogsStream, info.Name)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			s.t.log.Debug("tail: delete consumer", "name", info.Name, "err", err)
		}
	}
	s.t.release(s.tenant)
}

// run delivers buffered events through send until ctx ends, the role stops,
// send fails or the credential stops being valid. keepalive, when not nil,
// is called every KeepAlive interval without events. It returns the error
// to end the stream with (nil when the client went away or the role stops).
func (s *tailSession) run(ctx context.Context, send func([]tailEvent, int64) error, keepalive func() error) error {
	tick := time.NewTicker(s.t.cfg.KeepAlive)
	defer tick.Stop()
	var spare []tailEvent
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.t.done:
			return nil
		case <-tick.C:
			if err := s.recheck(ctx); err != nil {
				return err
			}
			if keepalive != nil {
				if err := keepalive(); err != nil {
					return nil
				}
			}
		case <-s.buf.ready:
			evs, missed := s.buf.take(spare)
			if err := send(evs, missed); errors.Is(err, errTailStalled) {
				return err // evs may still be read: not reused
			} else if err != nil {
				return nil
			}
			clear(evs) // let the sent events' text go
			spare = evs[:0]
		}
	}
}

// recheck fails once the tail's credential has been revoked or has
// expired, or its tenant has been suspended or deleted.
func (s *tailSession) recheck(ctx context.Context) error {
	p, err := s.authn.Authenticate(ctx, s.bearer)
	if err != nil {
		return err
	}
	if err := p.Require(auth.ScopeQuery); err != nil {
		return err
	}
	return s.t.admit(p.TenantID)
}

// acquire takes a tail slot for tenant or fails with RateLimited.
func (t *tailer) acquire(tenant string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active[tenant] >= t.cfg.MaxPerTenant {
		return apierr.New(apierr.RateLimited, "too many live tails: at most %d per tenant; close one or retry later", t.cfg.MaxPerTenant).Retry(tailRetryAfter)
	}
	if t.total >= t.cfg.MaxTotal {
		return apierr.New(apierr.RateLimited, "this node serves as many live tails as it can; retry later").Retry(tailRetryAfter)
	}
	t.active[tenant]++
	t.total++
	tailActive.Inc()
	return nil
}

func (t *tailer) release(tenant string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active[tenant]--; t.active[tenant] <= 0 {
		delete(t.active, tenant)
	}
	t.total--
	tailActive.Dec()
}

// openTails reports the tails open on this node.
func (t *tailer) openTails() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// parseTailQuery parses an LQL query; a bad one is Invalid with its
// position, as search reports it.
func parseTailQuery(s string) (*lql.Query, error) {
	q, err := lql.Parse(s)
	if err != nil {
		var pe *lql.Error
		if errors.As(err, &pe) {
			return nil, apierr.New(apierr.Invalid, "query: %s", pe.Error()).WithDetails(map[string]any{"position": pe.Pos})
		}
		return nil, apierr.New(apierr.Invalid, "query: %v", err)
	}
	return q, nil
}

// validSubjectToken reports whether s can be one token of a NATS subject, so
// that no tenant id can widen the filter to other tenants' subjects.
func validSubjectToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}
