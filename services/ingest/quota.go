package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/quota"
)

var quotaRefused = promauto.NewCounter(prometheus.CounterOpts{
	Name: "sawmill_ingest_quota_refused_requests_total", Help: "Requests refused because the tenant's hard-capped quota is used up.",
})

// EnableQuotas makes the edge refuse hard-capped tenants over quota
// according to t (an in-memory copy of the quotas bucket the caller keeps
// current with Bus.Follow) and count what it accepts for billing. Call
// before serving; RunReports publishes the counts.
func (e *Edge) EnableQuotas(t *quota.Table) {
	e.quotas = t
	e.meter = quota.NewMeter()
}

// RunReports publishes, every Config.ReportInterval until ctx ends, what
// this edge accepted per tenant since the previous report
// (quota.DeltaSubject). A lost report only delays enforcement: billing
// reconciles with ClickHouse.
func (e *Edge) RunReports(ctx context.Context, edgeID string) {
	t := time.NewTicker(e.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.report(edgeID) // the last second's counts
			return
		case <-t.C:
			e.report(edgeID)
		}
	}
}

func (e *Edge) report(edgeID string) {
	d := e.meter.Drain()
	if d == nil {
		return
	}
	b, _ := json.Marshal(quota.Report{Edge: edgeID, At: e.now().UTC(), Deltas: d})
	if err := e.bus.NC.Publish(quota.DeltaSubject, b); err != nil {
		e.log.Warn("publish usage report", "err", err)
	}
}

// admit refuses a hard-capped tenant whose quota is used up, with 429, a
// Retry-After until the period resets, and a body naming the quota.
func (e *Edge) admit(tenantID string) error {
	if e.quotas == nil {
		return nil
	}
	now := e.now()
	d := e.quotas.Admit(tenantID, now)
	if d.Allowed {
		return nil
	}
	quotaRefused.Inc()
	st := d.State
	limit := st.EventsLimit
	if d.Quota == "bytes" {
		limit = st.BytesLimit
	}
	return apierr.New(apierr.RateLimited, "the monthly %s quota of the %s plan (%d %s) is used up; it resets at %s",
		d.Quota, st.Plan, limit, d.Quota, st.PeriodEnd.Format(time.RFC3339)).
		Retry(st.PeriodEnd.Sub(now)).
		WithDetails(map[string]any{"quota": d.Quota, "limit": limit, "plan": st.Plan, "resets_at": st.PeriodEnd.Format(time.RFC3339)})
}

// metered records accepted events for quota enforcement and billing reports.
func (e *Edge) metered(tenantID string, evs []event.Event) {
	if e.meter == nil {
		return
	}
	var bytes int64
	for i := range evs {
		bytes += int64(evs[i].Size())
	}
	e.meter.Add(tenantID, int64(len(evs)), bytes)
	e.quotas.Record(tenantID, int64(len(evs)), bytes)
}

// quotaHeaders tells a client where it stands before it is cut off:
// Sawmill-Quota-Events-Used/-Limit, Sawmill-Quota-Bytes-Used/-Limit and
// Sawmill-Quota-Reset (RFC 3339), from this edge's latest knowledge.
func (e *Edge) quotaHeaders(h http.Header, tenantID string) {
	if e.quotas == nil {
		return
	}
	d := e.quotas.Admit(tenantID, e.now())
	if !d.Known {
		return
	}
	st := d.State
	h.Set("Sawmill-Quota-Events-Used", strconv.FormatInt(st.EventsUsed, 10))
	h.Set("Sawmill-Quota-Events-Limit", strconv.FormatInt(st.EventsLimit, 10))
	h.Set("Sawmill-Quota-Bytes-Used", strconv.FormatInt(st.BytesUsed, 10))
	h.Set("Sawmill-Quota-Bytes-Limit", strconv.FormatInt(st.BytesLimit, 10))
	h.Set("Sawmill-Quota-Reset", st.PeriodEnd.Format(time.RFC3339))
}

// SetClock replaces the edge's clock (tests cross quota periods with it).
// Call before serving.
func (e *Edge) SetClock(now func() time.Time) { e.now = now }
