package quota

import (
	"sync"
	"time"
)

// RateLimiter enforces per-tenant events/s and bytes/s limits across any
// number of edges without a network call per request. Every edge publishes a
// Report of what it admitted each interval; each edge Observes the others'
// reports and refills its own token buckets at
//
//	local rate = max(0, limit − rate the other edges admitted in their last report)
//
// so the edges share the limit in proportion to where the tenant's traffic
// actually goes. Error bound: the others' rates are at most one report old,
// so when traffic moves between edges the admitted total can exceed the
// limit by up to one interval's worth (limit × interval) plus each edge's
// burst (one second of its local rate), and then settles at the limit. A
// peer that stops reporting is forgotten after three intervals. Safe for
// concurrent use.
type RateLimiter struct {
	self     string
	interval time.Duration

	mu      sync.Mutex
	peers   map[string]peerReport
	buckets map[string]*buckets
}

type peerReport struct {
	at     time.Time // when we received it
	period time.Duration
	deltas map[string]Delta
}

type buckets struct {
	events, bytes tokenBucket
}

// tokenBucket holds up to one second of its rate; it may go into debt so a
// batch larger than a second's worth is admitted once the bucket is full,
// and the long-run rate still holds.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter for the edge named self, whose peers
// report every interval.
func NewRateLimiter(self string, interval time.Duration) *RateLimiter {
	return &RateLimiter{self: self, interval: interval, peers: map[string]peerReport{}, buckets: map[string]*buckets{}}
}

// Observe records another edge's report; the edge's own reports are ignored.
func (l *RateLimiter) Observe(r Report, now time.Time) {
	if r.Edge == l.self {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	period := l.interval
	if prev, ok := l.peers[r.Edge]; ok {
		if d := now.Sub(prev.at); d > period/2 && d < 3*period {
			period = d
		}
	}
	l.peers[r.Edge] = peerReport{at: now, period: period, deltas: r.Deltas}
}

// othersRate returns what the other edges admitted for tenant per second.
// Holds l.mu.
func (l *RateLimiter) othersRate(tenant string, now time.Time) (events, bytes float64) {
	for edge, p := range l.peers {
		if now.Sub(p.at) > 3*l.interval {
			delete(l.peers, edge)
			continue
		}
		if d, ok := p.deltas[tenant]; ok {
			events += float64(d.Events) / p.period.Seconds()
			bytes += float64(d.Bytes) / p.period.Seconds()
		}
	}
	return events, bytes
}

// Limit is a tenant's rate limit; zero fields are unlimited.
type Limit struct {
	EventsPerSecond int64
	BytesPerSecond  int64
}

// RateDecision is the outcome of Allow.
type RateDecision struct {
	Allowed bool
	// RetryAfter says when a refused request may succeed.
	RetryAfter time.Duration
	// Which names the exceeded limit: "events" or "bytes".
	Which string
	// RemainingEvents is what this edge could admit right now.
	RemainingEvents int64
}

// Allow takes events and bytes from the tenant's buckets if both have room
// (a full bucket admits any one request), or refuses and takes nothing.
func (l *RateLimiter) Allow(tenant string, lim Limit, events, bytes int64, now time.Time) RateDecision {
	if lim.EventsPerSecond <= 0 && lim.BytesPerSecond <= 0 {
		return RateDecision{Allowed: true, RemainingEvents: -1}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[tenant]
	if !ok {
		b = &buckets{}
		l.buckets[tenant] = b
	}
	oe, ob := l.othersRate(tenant, now)
	re := localRate(lim.EventsPerSecond, oe)
	rb := localRate(lim.BytesPerSecond, ob)
	b.events.refill(re, now)
	b.bytes.refill(rb, now)
	d := RateDecision{Allowed: true, RemainingEvents: int64(max(b.events.tokens, 0))}
	if lim.EventsPerSecond > 0 && !b.events.has(re, events) {
		d = RateDecision{Which: "events", RetryAfter: b.events.wait(re, events)}
	} else if lim.BytesPerSecond > 0 && !b.bytes.has(rb, bytes) {
		d = RateDecision{Which: "bytes", RetryAfter: b.bytes.wait(rb, bytes)}
	}
	if !d.Allowed {
		return d
	}
	b.events.tokens -= float64(events)
	b.bytes.tokens -= float64(bytes)
	d.RemainingEvents = int64(max(b.events.tokens, 0))
	return d
}

func localRate(limit int64, others float64) float64 {
	if limit <= 0 {
		return 0
	}
	return max(float64(limit)-others, 0)
}

func (t *tokenBucket) refill(rate float64, now time.Time) {
	if t.last.IsZero() {
		t.tokens, t.last = rate, now
		return
	}
	t.tokens = min(t.tokens+rate*now.Sub(t.last).Seconds(), rate)
	t.last = now
}

// has reports whether n fits, or the bucket is full (a request larger than
// a second's worth goes through once, leaving a debt).
func (t *tokenBucket) has(rate float64, n int64) bool {
	return t.tokens >= float64(n) || (rate > 0 && t.tokens >= rate)
}

func (t *tokenBucket) wait(rate float64, n int64) time.Duration {
	if rate <= 0 {
		return time.Second // the others use the whole limit: look again after their next report
	}
	need := min(float64(n), rate) - t.tokens
	return max(time.Duration(need/rate*float64(time.Second)), 10*time.Millisecond)
}
