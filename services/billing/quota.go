package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/quota"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// QuotaConfig configures quota keeping.
type QuotaConfig struct {
	// Publish is how often changed quota states are written. 0 → 1s.
	Publish time.Duration
	// Reconcile is how often used counts are re-read from ClickHouse. 0 → 10s.
	Reconcile time.Duration
}

// quotaKeeper turns the edges' per-second usage reports and ClickHouse's
// metered usage into each tenant's quota state in the quotas bucket:
//
//	used = max(stored at the last reconcile + reported since,
//	           reported since this period began while this process ran)
//
// Reports fill the gap between an edge accepting events and the writer
// storing them; reconciling with ClickHouse corrects what reports miss (a
// lost report, a billing restart). Several billing processes compute the same
// states; writing them twice is harmless.
type quotaKeeper struct {
	s       *Service
	cfg     QuotaConfig
	tenants *tenant.Directory

	mu    sync.Mutex
	usage map[string]*tenantUsage
}

type tenantUsage struct {
	periodStart time.Time
	stored      quota.Delta // ClickHouse at the last reconcile
	since       quota.Delta // reported since that reconcile
	reported    quota.Delta // reported this period
	written     quota.State
	dirty       bool
}

func newQuotaKeeper(s *Service, cfg QuotaConfig, tenants *tenant.Directory) *quotaKeeper {
	if cfg.Publish == 0 {
		cfg.Publish = time.Second
	}
	if cfg.Reconcile == 0 {
		cfg.Reconcile = 10 * time.Second
	}
	return &quotaKeeper{s: s, cfg: cfg, tenants: tenants, usage: map[string]*tenantUsage{}}
}

// run keeps quotas until ctx ends.
func (q *quotaKeeper) run(ctx context.Context) error {
	sub, err := q.s.bus.NC.Subscribe(quota.DeltaSubject, func(m *nats.Msg) {
		var r quota.Report
		if err := json.Unmarshal(m.Data, &r); err != nil {
			q.s.log.Warn("bad usage report", "err", err)
			return
		}
		q.report(r)
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", quota.DeltaSubject, err)
	}
	defer sub.Unsubscribe()
	if err := q.reconcile(ctx); err != nil {
		q.s.log.Warn("reconcile quotas", "err", err)
	}
	publish := time.NewTicker(q.cfg.Publish)
	defer publish.Stop()
	reconcile := time.NewTicker(q.cfg.Reconcile)
	defer reconcile.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-reconcile.C:
			if err := q.reconcile(ctx); err != nil {
				q.s.log.Warn("reconcile quotas", "err", err)
			}
		case <-publish.C:
			q.publish(ctx)
		}
	}
}

// current returns the usage record of a tenant for the period containing
// now, starting a fresh one when the period rolled over. Holds q.mu.
func (q *quotaKeeper) current(t tenant.Tenant, now time.Time) *tenantUsage {
	start, _ := plan.Period(t.CreatedAt, now)
	u, ok := q.usage[t.ID]
	if !ok || !u.periodStart.Equal(start) {
		u = &tenantUsage{periodStart: start, dirty: true}
		q.usage[t.ID] = u
	}
	return u
}

func (q *quotaKeeper) report(r quota.Report) {
	now := q.s.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, d := range r.Deltas {
		t, ok := q.tenants.Get(id)
		if !ok {
			continue
		}
		u := q.current(t, now)
		u.since.Events += d.Events
		u.since.Bytes += d.Bytes
		u.reported.Events += d.Events
		u.reported.Bytes += d.Bytes
		u.dirty = true
	}
}

// reconcile re-reads every tenant's stored usage for its current period.
func (q *quotaKeeper) reconcile(ctx context.Context) error {
	now := q.s.now()
	rows, err := q.s.store.UsageSince(ctx, now.AddDate(0, -1, -1))
	if err != nil {
		return err
	}
	stored := map[string]quota.Delta{}
	for _, r := range rows {
		t, ok := q.tenants.Get(r.TenantID)
		if !ok {
			continue
		}
		if start, _ := plan.Period(t.CreatedAt, now); r.Hour.Before(start) {
			continue
		}
		d := stored[r.TenantID]
		d.Events += int64(r.Events)
		d.Bytes += int64(r.Bytes)
		stored[r.TenantID] = d
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, t := range q.tenants.All() {
		if t.Deleted {
			delete(q.usage, t.ID)
			continue
		}
		u := q.current(t, now)
		u.stored, u.since = stored[t.ID], quota.Delta{}
		u.dirty = true
	}
	return nil
}

// publish writes the states that changed and the 80%/100% warnings.
func (q *quotaKeeper) publish(ctx context.Context) {
	now := q.s.now()
	type out struct {
		st   quota.State
		warn int
	}
	var outs []out
	q.mu.Lock()
	for id, prev := range q.usage {
		t, ok := q.tenants.Get(id)
		// A plan or spend cap change is republished at once, not at the
		// next report.
		changed := t.Plan != prev.written.Plan || t.SpendCapCents != prev.written.SpendCapCents
		if !ok || t.Deleted || !prev.dirty && !changed {
			continue
		}
		// Roll the record over if the period ended since the last report:
		// a new period's state must not carry the old period's counts.
		u := q.current(t, now)
		p, ok := q.s.plans.Get(t.Plan)
		if !ok {
			p = q.s.plans.DefaultPlan()
		}
		start, end := plan.Period(t.CreatedAt, now)
		// What the period includes, prorated over the plans it is spent on,
		// as its invoice will bill it.
		eventsLimit, bytesLimit := p.MonthlyEvents, p.MonthlyBytes
		if segs, err := q.s.segments(t, start, end); err != nil {
			q.s.log.Warn("quota: plan history, using the current plan's full limits", "tenant", id, "err", err)
		} else {
			eventsLimit, bytesLimit = plan.Included(segs)
		}
		st := quota.State{
			TenantID: id, Plan: p.Name, PeriodStart: start, PeriodEnd: end,
			EventsUsed:  max(u.stored.Events+u.since.Events, u.reported.Events),
			BytesUsed:   max(u.stored.Bytes+u.since.Bytes, u.reported.Bytes),
			EventsLimit: eventsLimit, BytesLimit: bytesLimit, HardCap: p.HardCap,
			EventsPerSecond: p.EventsPerSecond, BytesPerSecond: p.BytesPerSecond,
			OverageCentsPerMillionEvents: p.OverageCentsPerMillionEvents, OverageCentsPerGB: p.OverageCentsPerGB,
			SpendCapCents: t.SpendCapCents,
			Warned:        u.written.Warned, UpdatedAt: now,
		}
		if !u.written.PeriodStart.Equal(start) {
			st.Warned = 0
		}
		warn := 0
		for _, level := range []int{80, 100} {
			if st.Percent() >= level && st.Warned < level {
				warn, st.Warned = level, level
			}
		}
		u.written, u.dirty = st, false
		outs = append(outs, out{st, warn})
	}
	q.mu.Unlock()
	for _, o := range outs {
		b, _ := json.Marshal(o.st)
		if _, err := q.s.bus.Quotas.Put(ctx, o.st.TenantID, b); err != nil {
			q.s.log.Warn("write quota state", "tenant", o.st.TenantID, "err", err)
			q.mu.Lock()
			if u, ok := q.usage[o.st.TenantID]; ok {
				u.dirty = true
			}
			q.mu.Unlock()
			continue
		}
		if o.warn > 0 {
			w, _ := json.Marshal(quota.Warning{TenantID: o.st.TenantID, Level: o.warn, State: o.st, Published: now})
			// Through JetStream (the WARNINGS stream) so that alerts delivers it
			// even if no alerts process runs now; the msg id makes a
			// republished warning (after a billing restart) count once.
			id := fmt.Sprintf("%s/%s/%d", o.st.TenantID, o.st.PeriodStart.Format("20060102"), o.warn)
			if _, err := q.s.bus.JS.Publish(ctx, quota.WarningSubjectPrefix+o.st.TenantID, w, jetstream.WithMsgID(id)); err != nil {
				q.s.log.Warn("publish quota warning", "tenant", o.st.TenantID, "err", err)
			}
			q.s.log.Info("quota warning", "tenant", o.st.TenantID, "level", o.warn)
		}
	}
}

// RunQuotas keeps every tenant's quota state in the quotas bucket current
// until ctx ends (see quotaKeeper). tenants must be kept current by the
// caller (Bus.Follow on the tenants bucket).
func (s *Service) RunQuotas(ctx context.Context, tenants *tenant.Directory, cfg QuotaConfig) error {
	return newQuotaKeeper(s, cfg, tenants).run(ctx)
}

// SetClock replaces the service's clock (tests cross period boundaries with
// it). Call before serving.
func (s *Service) SetClock(now func() time.Time) { s.now = now }
