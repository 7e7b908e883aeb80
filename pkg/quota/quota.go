// Package quota provides real-time quota enforcement shared by edges and
// billing: the per-tenant quota State that billing writes to the quotas KV
// bucket, the Table edges follow to decide without a network call, and the
// Meter edges use to report what they accept (Reports on DeltaSubject, once
// a second). It holds no connection: callers wire it to the bus.
package quota

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// DeltaSubject is the core NATS subject edges publish Reports on.
const DeltaSubject = "usage.deltas"

// WarningSubjectPrefix + tenant id carries Warning events (80% and 100%).
const WarningSubjectPrefix = "quota.warnings."

// State is a tenant's quota in its current billing period, as billing last
// computed it. Used counts are estimates between ClickHouse reconciliations:
// see docs/ARCHITECTURE.md for their error bound.
type State struct {
	TenantID    string    `json:"tenant_id"`
	Plan        string    `json:"plan"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	EventsUsed  int64     `json:"events_used"`
	BytesUsed   int64     `json:"bytes_used"`
	EventsLimit int64     `json:"events_limit"` // included per period
	BytesLimit  int64     `json:"bytes_limit"`
	HardCap     bool      `json:"hard_cap"`
	// Overage prices and the tenant's spend cap (0: none): a tenant without
	// a hard cap is refused once its overage reaches the cap.
	OverageCentsPerMillionEvents int64 `json:"overage_cents_per_million_events,omitempty"`
	OverageCentsPerGB            int64 `json:"overage_cents_per_gb,omitempty"`
	SpendCapCents                int64 `json:"spend_cap_cents,omitempty"`
	// The plan's rate limits (0: none), enforced by RateLimiter.
	EventsPerSecond int64 `json:"events_per_second"`
	BytesPerSecond  int64 `json:"bytes_per_second"`
	// Warned is the highest warning level published this period: 0, 80, 100.
	Warned    int       `json:"warned"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Percent returns how much of the larger-used quota is consumed, in percent.
func (s State) Percent() int {
	p := 0
	if s.EventsLimit > 0 {
		p = max(p, int(s.EventsUsed*100/s.EventsLimit))
	}
	if s.BytesLimit > 0 {
		p = max(p, int(s.BytesUsed*100/s.BytesLimit))
	}
	return p
}

// OverageCents is what the used volume beyond the included one costs, in
// cents, rounded up (the same arithmetic as plan.Plan.Overage).
func (s State) OverageCents() int64 {
	var c int64
	if x := s.EventsUsed - s.EventsLimit; x > 0 {
		c += (x*s.OverageCentsPerMillionEvents + 999_999) / 1_000_000
	}
	if x := s.BytesUsed - s.BytesLimit; x > 0 {
		c += (x*s.OverageCentsPerGB + (1 << 30) - 1) / (1 << 30)
	}
	return c
}

// Warning is published when a tenant crosses 80% or 100% of a quota.
type Warning struct {
	TenantID  string    `json:"tenant_id"`
	Level     int       `json:"level"` // 80 or 100
	State     State     `json:"state"`
	Published time.Time `json:"published"`
}

// Delta is volume accepted by an edge for one tenant.
type Delta struct {
	Events int64 `json:"events"`
	Bytes  int64 `json:"bytes"`
}

// Report is what an edge publishes each second: the volume it accepted per
// tenant since its previous report.
type Report struct {
	Edge   string           `json:"edge"`
	At     time.Time        `json:"at"`
	Deltas map[string]Delta `json:"deltas"`
}

// Meter counts accepted volume per tenant until drained. Safe for
// concurrent use.
type Meter struct {
	mu sync.Mutex
	m  map[string]Delta
}

// NewMeter returns an empty meter.
func NewMeter() *Meter { return &Meter{m: map[string]Delta{}} }

// Add records accepted volume.
func (m *Meter) Add(tenant string, events, bytes int64) {
	m.mu.Lock()
	d := m.m[tenant]
	d.Events += events
	d.Bytes += bytes
	m.m[tenant] = d
	m.mu.Unlock()
}

// Drain returns the counts since the previous Drain and resets them; nil
// when nothing was accepted.
func (m *Meter) Drain() map[string]Delta {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) == 0 {
		return nil
	}
	out := m.m
	m.m = map[string]Delta{}
	return out
}

// Table is an edge's in-memory copy of the quotas bucket, plus what this
// edge accepted since each state was written, so one edge stops a tenant as
// soon as its own traffic crosses the limit. Safe for concurrent use.
type Table struct {
	mu sync.RWMutex
	m  map[string]*entry
}

type entry struct {
	st    State
	local Delta // accepted here since st was written
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{m: map[string]*entry{}} }

// Apply records a change of the quotas bucket (key: tenant id, value: State).
func (t *Table) Apply(key string, value []byte, deleted bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if deleted {
		delete(t.m, key)
		return nil
	}
	var st State
	if err := json.Unmarshal(value, &st); err != nil {
		return fmt.Errorf("decode quota %s: %w", key, err)
	}
	t.m[key] = &entry{st: st}
	return nil
}

// Limit returns the tenant's rate limit as of its latest state (none when
// billing has written no state yet).
func (t *Table) Limit(tenant string) Limit {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if e, ok := t.m[tenant]; ok {
		return Limit{EventsPerSecond: e.st.EventsPerSecond, BytesPerSecond: e.st.BytesPerSecond}
	}
	return Limit{}
}

// Record adds volume this edge accepted for tenant.
func (t *Table) Record(tenant string, events, bytes int64) {
	t.mu.Lock()
	if e, ok := t.m[tenant]; ok {
		e.local.Events += events
		e.local.Bytes += bytes
	}
	t.mu.Unlock()
}

// Decision is the outcome of Admit.
type Decision struct {
	Allowed bool
	// Known is false when billing has not written a state for the tenant
	// yet (a new tenant): it is let in.
	Known bool
	State State // with this edge's local volume added to the used counts
	// Quota names the exhausted quota ("events" or "bytes") when refused.
	Quota string
}

// Admit decides whether tenant may ingest now. A hard-capped tenant whose
// estimated use has reached a limit is refused until its period ends; a
// state whose period has ended no longer refuses (billing writes the new
// period's state shortly).
func (t *Table) Admit(tenant string, now time.Time) Decision {
	t.mu.RLock()
	e, ok := t.m[tenant]
	var st State
	if ok {
		st = e.st
		st.EventsUsed += e.local.Events
		st.BytesUsed += e.local.Bytes
	}
	t.mu.RUnlock()
	if !ok {
		return Decision{Allowed: true}
	}
	d := Decision{Allowed: true, Known: true, State: st}
	if !now.Before(st.PeriodEnd) {
		return d
	}
	if !st.HardCap {
		if st.SpendCapCents > 0 && st.OverageCents() >= st.SpendCapCents {
			d.Allowed, d.Quota = false, "spend_cap"
		}
		return d
	}
	switch {
	case st.EventsLimit > 0 && st.EventsUsed >= st.EventsLimit:
		d.Allowed, d.Quota = false, "events"
	case st.BytesLimit > 0 && st.BytesUsed >= st.BytesLimit:
		d.Allowed, d.Quota = false, "bytes"
	}
	return d
}
