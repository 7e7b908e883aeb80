package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/quota"
)

var (
	quotaRefused = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sawmill_ingest_quota_refused_requests_total", Help: "Requests refused because the tenant's hard-capped quota is used up.",
	})
	rateLimited = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sawmill_ingest_rate_limited_events_total", Help: "Events refused by the per-tenant rate limit (never billed), by limit.",
	}, []string{"limit"})
)

// EnableQuotas makes the edge enforce quotas and rate limits: it refuses
// hard-capped tenants over quota according to t (an in-memory copy of the
// quotas bucket the caller keeps current with Bus.Follow), rate-limits each
// tenant to its plan's events/s and bytes/s shared with the other edges
// (quota.RateLimiter), and counts what it accepts for billing. edgeID names
// this edge in its reports. Call before serving, then RunReports.
func (e *Edge) EnableQuotas(t *quota.Table, edgeID string) {
	e.quotas = t
	e.meter = quota.NewMeter()
	e.edgeID = edgeID
	e.rates = quota.NewRateLimiter(edgeID, e.cfg.ReportInterval)
}

// RunReports publishes, every Config.ReportInterval until ctx ends, what
// this edge accepted per tenant since the previous report
// (quota.DeltaSubject). A lost report only delays enforcement: billing
// reconciles with ClickHouse.
// It also follows the other edges' reports, which the rate limiter shares
// the limits by.
func (e *Edge) RunReports(ctx context.Context) {
	sub, err := e.bus.NC.Subscribe(quota.DeltaSubject, func(m *nats.Msg) {
		var r quota.Report
		if json.Unmarshal(m.Data, &r) == nil {
			e.rates.Observe(r, e.now())
		}
	})
	if err != nil {
		e.log.Error("subscribe to usage reports; rate limits ignore other edges", "err", err)
	} else {
		defer sub.Unsubscribe()
	}
	t := time.NewTicker(e.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.report(e.edgeID) // the last interval's counts
			return
		case <-t.C:
			e.report(e.edgeID)
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
	if d.Quota == "spend_cap" {
		return apierr.New(apierr.RateLimited, "the overage spend cap of %d cents for this period is reached; it resets at %s (raise it with PUT /v1/spend-cap)",
			st.SpendCapCents, st.PeriodEnd.Format(time.RFC3339)).
			Retry(st.PeriodEnd.Sub(now)).
			WithDetails(map[string]any{"quota": "spend_cap", "limit": st.SpendCapCents, "plan": st.Plan, "resets_at": st.PeriodEnd.Format(time.RFC3339)})
	}
	limit := st.EventsLimit
	if d.Quota == "bytes" {
		limit = st.BytesLimit
	}
	return apierr.New(apierr.RateLimited, "the monthly %s quota of the %s plan (%d %s) is used up; it resets at %s",
		d.Quota, st.Plan, limit, d.Quota, st.PeriodEnd.Format(time.RFC3339)).
		Retry(st.PeriodEnd.Sub(now)).
		WithDetails(map[string]any{"quota": d.Quota, "limit": limit, "plan": st.Plan, "resets_at": st.PeriodEnd.Format(time.RFC3339)})
}

// rateLimit refuses a request that would take the tenant over its plan's
// events/s or bytes/s, with 429 and Retry-After; it takes nothing then.
func (e *Edge) rateLimit(tenantID string, events, bytes int64) error {
	if e.rates == nil {
		return nil
	}
	lim := e.quotas.Limit(tenantID)
	d := e.rates.Allow(tenantID, lim, events, bytes, e.now())
	if d.Allowed {
		return nil
	}
	rateLimited.WithLabelValues(d.Which).Add(float64(events))
	perSecond := lim.EventsPerSecond
	if d.Which == "bytes" {
		perSecond = lim.BytesPerSecond
	}
	return apierr.New(apierr.RateLimited, "rate limit of %d %s per second exceeded; nothing was stored, retry after %s",
		perSecond, d.Which, d.RetryAfter.Round(time.Millisecond)).
		Retry(d.RetryAfter).
		WithDetails(map[string]any{"limit": d.Which, "per_second": perSecond})
}

// rateHeaders sets RateLimit-Limit (events per second) and, after a refusal
// by the rate limiter, RateLimit-Remaining: 0 and RateLimit-Reset (seconds).
func (e *Edge) rateHeaders(h http.Header, tenantID string, err error) {
	if e.quotas == nil {
		return
	}
	lim := e.quotas.Limit(tenantID)
	if lim.EventsPerSecond <= 0 {
		return
	}
	h.Set("RateLimit-Limit", strconv.FormatInt(lim.EventsPerSecond, 10))
	var ae *apierr.Error
	if errors.As(err, &ae) && ae.Code == apierr.RateLimited {
		if d, ok := ae.Details.(map[string]any); ok && d["per_second"] != nil {
			h.Set("RateLimit-Remaining", "0")
			h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(ae.RetryAfter.Seconds()))))
		}
	}
}

// metered records accepted events for quota enforcement and billing reports.
func (e *Edge) metered(tenantID string, events, bytes int64) {
	if e.meter == nil {
		return
	}
	e.meter.Add(tenantID, events, bytes)
	e.quotas.Record(tenantID, events, bytes)
}

// quotaMetadata sends the quota headers as gRPC response header metadata
// (lower-case keys, as gRPC requires).
func (e *Edge) quotaMetadata(ctx context.Context, tenantID string) {
	h := http.Header{}
	e.quotaHeaders(h, tenantID)
	if len(h) == 0 {
		return
	}
	md := metadata.MD{}
	for k, v := range h {
		md.Set(strings.ToLower(k), v...)
	}
	_ = grpc.SetHeader(ctx, md)
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
