// Package ratelimit provides in-process token-bucket limiters keyed by a
// string (a client address, a tenant). It is local to one process: limits
// that must hold across nodes are built on top of it elsewhere.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed holds one token bucket per key, refilling at a fixed rate with a
// burst. Buckets idle for longer than it takes to refill are forgotten, so
// memory stays bounded by the number of recently active keys. It is safe for
// concurrent use.
type Keyed struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
	now     func() time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// NewKeyed returns a limiter allowing perMinute events a minute per key with
// bursts of burst. perMinute <= 0 disables limiting.
func NewKeyed(perMinute float64, burst int) *Keyed {
	if burst < 1 {
		burst = 1
	}
	lim := rate.Inf
	if perMinute > 0 {
		lim = rate.Limit(perMinute / 60)
	}
	return &Keyed{limit: lim, burst: burst, buckets: map[string]*bucket{}, now: time.Now}
}

// Allow takes one token for key. When none is left it returns false and how
// long until one will be.
func (k *Keyed) Allow(key string) (bool, time.Duration) {
	if k.limit == rate.Inf {
		return true, 0
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweepLocked(now)
	b, ok := k.buckets[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (k *Keyed) sweepLocked(now time.Time) {
	full := time.Duration(float64(k.burst) / float64(k.limit) * float64(time.Second))
	if now.Sub(k.sweep) < full {
		return
	}
	k.sweep = now
	for key, b := range k.buckets {
		if now.Sub(b.seen) > full {
			delete(k.buckets, key)
		}
	}
}
