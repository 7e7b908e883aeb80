package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// maxPlanChangesPerPeriod bounds a tenant's plan changes in one billing
// period, and so the growth of its record's history and its invoice's lines.
const maxPlanChangesPerPeriod = 10

// planUpdateAttempts bounds the read-modify-write retries of ChangePlan when
// the tenant record changes under it.
const planUpdateAttempts = 8

// ChangePlan moves the caller's tenant to another plan at once: the change
// is recorded in the tenant record's PlanChanges (a KV Update checked
// against the revision read, retried on conflict), Plan and RetentionDays
// follow the new plan, and the answer states how the current period will be
// billed (see plan.ComputeInvoice). Changing to the current plan changes
// nothing and answers as if it had (PUT is idempotent).
func (b *billingAPI) ChangePlan(ctx context.Context, req *sawmillv1.ChangePlanRequest) (*sawmillv1.ChangePlanResponse, error) {
	p, err := b.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	s := b.s
	name := strings.TrimSpace(req.GetPlan())
	np, ok := s.plans.Get(name)
	if !ok {
		var names []string
		for _, pl := range s.plans.Plans {
			names = append(names, pl.Name)
		}
		if name == "" {
			return nil, apierr.New(apierr.Invalid, "plan is required: one of %s", strings.Join(names, ", "))
		}
		return nil, apierr.New(apierr.Invalid, "unknown plan %q: choose one of %s", name, strings.Join(names, ", "))
	}
	for range planUpdateAttempts {
		e, err := s.bus.Tenants.Get(ctx, p.TenantID)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, apierr.New(apierr.NotFound, "tenant not found")
		}
		if err != nil {
			return nil, apierr.Wrap(err, "load tenant")
		}
		var t tenant.Tenant
		if err := json.Unmarshal(e.Value(), &t); err != nil {
			return nil, apierr.Wrap(err, "decode tenant")
		}
		if t.Deleted {
			return nil, apierr.New(apierr.Conflict, "the account is being deleted")
		}
		now := s.now().UTC()
		start, end := plan.Period(t.CreatedAt, now)
		effective := t.CreatedAt
		if t.Plan != np.Name {
			if n := changesSince(t, start); n >= maxPlanChangesPerPeriod {
				return nil, apierr.New(apierr.RateLimited, "at most %d plan changes per billing period; the next period starts %s",
					maxPlanChangesPerPeriod, end.Format(time.RFC3339)).Retry(end.Sub(now))
			}
			t.PlanChanges = append(t.PlanChanges, tenant.PlanChange{From: t.Plan, To: np.Name, At: now})
			t.Plan, t.RetentionDays = np.Name, np.RetentionDays
			v, err := json.Marshal(t)
			if err != nil {
				return nil, apierr.Wrap(err, "encode tenant")
			}
			if _, err := s.bus.Tenants.Update(ctx, t.ID, v, e.Revision()); errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				continue // changed under us: read again
			} else if err != nil {
				return nil, apierr.Wrap(err, "update tenant")
			}
			s.log.Info("plan changed", "tenant", t.ID, "from", t.PlanChanges[len(t.PlanChanges)-1].From, "to", np.Name)
		}
		if n := len(t.PlanChanges); n > 0 {
			effective = t.PlanChanges[n-1].At
		}
		segs, err := s.segments(t, start, end)
		if err != nil {
			return nil, apierr.Wrap(err, "prorate")
		}
		return &sawmillv1.ChangePlanResponse{Plan: np.Name, EffectiveAt: timestamppb.New(effective), Proration: plan.Proration(segs)}, nil
	}
	return nil, apierr.New(apierr.Unavailable, "the account is being changed concurrently; retry").Retry(time.Second)
}

// changesSince counts t's plan changes at or after since.
func changesSince(t tenant.Tenant, since time.Time) int {
	n := 0
	for _, c := range t.PlanChanges {
		if !c.At.Before(since) {
			n++
		}
	}
	return n
}

// segments returns the plans t was on during [start, end), from its plan
// history: the plan in force at start is the target of the last change at
// or before start, else the origin of the first change, else t.Plan. It
// fails when a plan of the history is no longer in the catalogue.
func (s *Service) segments(t tenant.Tenant, start, end time.Time) ([]plan.Segment, error) {
	hist := append([]tenant.PlanChange(nil), t.PlanChanges...)
	sort.SliceStable(hist, func(i, j int) bool { return hist[i].At.Before(hist[j].At) })
	initial := t.Plan
	if len(hist) > 0 {
		initial = hist[0].From
	}
	var changes []plan.Change
	for _, c := range hist {
		if !c.At.After(start) {
			initial = c.To
			continue
		}
		if !c.At.Before(end) {
			break
		}
		to, ok := s.plans.Get(c.To)
		if !ok {
			return nil, fmt.Errorf("plan %q of tenant %s is not in the catalogue", c.To, t.ID)
		}
		changes = append(changes, plan.Change{At: c.At, To: to})
	}
	first, ok := s.plans.Get(initial)
	if !ok {
		return nil, fmt.Errorf("plan %q of tenant %s is not in the catalogue", initial, t.ID)
	}
	return plan.Segments(start, end, first, changes), nil
}
