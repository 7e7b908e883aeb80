package query

import (
	"time"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// SetTenants makes the Service consult d, the in-memory copy of the tenants
// bucket (follow it with bus.Follow(ctx, b.Tenants, d.Apply)), on every
// Search, Aggregate, Context and Correlate: a suspended or deleted tenant is
// refused with 403, and no query sees rows older than now minus the
// tenant's retention days, even before the retention job drops them. Call it
// once, before the server starts.
func (s *Service) SetTenants(d *tenant.Directory) { s.tenants = d }

// setClock replaces time.Now for retention clipping (tests).
func (s *Service) setClock(now func() time.Time) { s.clock = now }

func (s *Service) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// admit checks that tenant may query now and returns the oldest instant it
// may see (zero: no floor). Unknown tenants (the directory may lag a signup
// by a moment) get the default retention.
func (s *Service) admit(id string) (floor time.Time, err error) {
	d := s.tenants
	if d == nil { // a Service without SetTenants: no clipping, no refusal
		return time.Time{}, nil
	}
	if t, ok := d.Get(id); ok {
		switch {
		case t.Deleted:
			return time.Time{}, apierr.New(apierr.PermissionDenied, "tenant suspended: account deleted")
		case t.Suspended:
			reason := t.SuspendedReason
			if reason == "" {
				reason = "suspended by an operator"
			}
			return time.Time{}, apierr.New(apierr.PermissionDenied, "tenant suspended: %s", reason)
		}
	}
	return s.now().Add(-time.Duration(d.RetentionDays(id)) * 24 * time.Hour), nil
}

// tenantRange validates a request's [from, to) (see timeRange), admits the
// tenant and clips from to its retention floor. A range wholly older than
// the floor comes back empty (from == to): it selects nothing.
func (s *Service) tenantRange(id string, req rangeRequest) (from, to time.Time, err error) {
	from, to, err = s.timeRange(req)
	if err != nil {
		return from, to, err
	}
	floor, err := s.admit(id)
	if err != nil {
		return from, to, err
	}
	if days := s.maxQueryDays(id); days > 0 && to.Sub(from) > time.Duration(days)*24*time.Hour {
		return from, to, apierr.New(apierr.Invalid, "the time range spans %s; your plan allows at most %d days per query",
			to.Sub(from).Round(time.Second), days)
	}
	if from.Before(floor) {
		from = floor
	}
	if from.After(to) {
		from = to
	}
	return from, to, nil
}

// SetPlans makes queries honour each tenant's plan's max_query_days (with
// SetTenants); without it only -query.max-range applies.
func (s *Service) SetPlans(c plan.Catalogue) { s.plans = &c }

// maxQueryDays is the tenant's plan's longest query range in days, 0 when
// unknown.
func (s *Service) maxQueryDays(id string) int {
	if s.plans == nil || s.tenants == nil {
		return 0
	}
	t, ok := s.tenants.Get(id)
	if !ok {
		return 0
	}
	p, ok := s.plans.Get(t.Plan)
	if !ok {
		p = s.plans.DefaultPlan()
	}
	return p.MaxQueryDays
}
