package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// maxSuspendReason bounds the reason shown to a suspended tenant's clients.
const maxSuspendReason = 200

// operatorAPI implements sawmill.v1.OperatorService. Every method needs
// auth.ScopeOperator, which only the configured operator credential
// (auth.Authenticator.OperatorKey) carries; without one every call is 403.
type operatorAPI struct {
	sawmillv1.UnimplementedOperatorServiceServer
	s *Service
}

// RegisterOperator installs the gRPC OperatorService and its REST routes
// (/v1/operator/tenants...) on srv.
func (s *Service) RegisterOperator(ctx context.Context, srv *server.Server) error {
	op := &operatorAPI{s: s}
	sawmillv1.RegisterOperatorServiceServer(srv.GRPC, op)
	if err := sawmillv1.RegisterOperatorServiceHandlerServer(ctx, srv.Gateway, op); err != nil {
		return fmt.Errorf("register operator gateway: %w", err)
	}
	return nil
}

// ListTenants lists every tenant but those deleted (their tombstones stay
// in the tenants bucket), oldest first, with usage in each one's current
// billing period.
func (o *operatorAPI) ListTenants(ctx context.Context, _ *sawmillv1.ListTenantsRequest) (*sawmillv1.ListTenantsResponse, error) {
	if _, err := o.s.auth.GRPC(ctx, auth.ScopeOperator); err != nil {
		return nil, err
	}
	tenants, err := o.s.allTenants(ctx)
	if err != nil {
		return nil, apierr.Wrap(err, "list tenants")
	}
	now := o.s.now()
	since := now
	for _, t := range tenants {
		if start, _ := plan.Period(t.CreatedAt, now); start.Before(since) {
			since = start
		}
	}
	usage := map[string][2]int64{}
	if len(tenants) > 0 {
		rows, err := o.s.store.UsageSince(ctx, since)
		if err != nil {
			return nil, apierr.Wrap(err, "read usage")
		}
		byID := map[string]tenant.Tenant{}
		for _, t := range tenants {
			byID[t.ID] = t
		}
		for _, r := range rows {
			t, ok := byID[r.TenantID]
			if !ok {
				continue
			}
			if start, _ := plan.Period(t.CreatedAt, now); r.Hour.Before(start) {
				continue
			}
			u := usage[r.TenantID]
			usage[r.TenantID] = [2]int64{u[0] + int64(r.Events), u[1] + int64(r.Bytes)}
		}
	}
	resp := &sawmillv1.ListTenantsResponse{}
	for _, t := range tenants {
		u := usage[t.ID]
		resp.Tenants = append(resp.Tenants, summaryProto(t, u[0], u[1]))
	}
	return resp, nil
}

// allTenants loads every live tenant record, oldest first.
func (s *Service) allTenants(ctx context.Context) ([]tenant.Tenant, error) {
	lister, err := s.bus.Tenants.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []tenant.Tenant
	for id := range lister.Keys() {
		var t tenant.Tenant
		found, err := getJSON(ctx, s.bus.Tenants, id, &t)
		if err != nil {
			return nil, fmt.Errorf("load tenant %s: %w", id, err)
		}
		if found && !t.Deleted {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// SetTenantPlan moves a tenant to a plan of the catalogue, records the
// change (for prorated invoices) and sets the retention class new rows
// get; rows already stored keep theirs. Setting the current plan changes
// nothing.
func (o *operatorAPI) SetTenantPlan(ctx context.Context, req *sawmillv1.SetTenantPlanRequest) (*sawmillv1.TenantSummary, error) {
	if _, err := o.s.auth.GRPC(ctx, auth.ScopeOperator); err != nil {
		return nil, err
	}
	p, ok := o.s.plans.Get(req.GetPlan())
	if !ok {
		return nil, apierr.New(apierr.Invalid, "unknown plan %q: use one of %s", req.GetPlan(), planNames(o.s.plans))
	}
	now := o.s.now().UTC()
	t, err := o.s.lifecycleUpdate(ctx, req.GetTenantId(), func(t *tenant.Tenant) bool {
		if t.Plan == p.Name {
			return false
		}
		t.PlanChanges = append(t.PlanChanges, tenant.PlanChange{From: t.Plan, To: p.Name, At: now})
		t.Plan, t.RetentionDays = p.Name, p.RetentionDays
		return true
	})
	if err != nil {
		return nil, err
	}
	o.s.log.Info("operator: plan set", "tenant", t.ID, "plan", t.Plan)
	return o.s.summary(ctx, t)
}

// SuspendTenant marks a tenant suspended; edges and queries refuse it
// (403 "tenant suspended: <reason>") as soon as their KV watch delivers
// the record. Suspending again replaces the reason.
func (o *operatorAPI) SuspendTenant(ctx context.Context, req *sawmillv1.SuspendTenantRequest) (*sawmillv1.TenantSummary, error) {
	if _, err := o.s.auth.GRPC(ctx, auth.ScopeOperator); err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(req.GetReason())
	if utf8.RuneCountInString(reason) > maxSuspendReason || strings.ContainsFunc(reason, isControl) {
		return nil, apierr.New(apierr.Invalid, "reason must be at most %d characters, without control characters", maxSuspendReason)
	}
	t, err := o.s.lifecycleUpdate(ctx, req.GetTenantId(), func(t *tenant.Tenant) bool {
		if t.Suspended && t.SuspendedReason == reason {
			return false
		}
		t.Suspended, t.SuspendedReason = true, reason
		return true
	})
	if err != nil {
		return nil, err
	}
	o.s.log.Info("operator: tenant suspended", "tenant", t.ID, "reason", reason)
	return o.s.summary(ctx, t)
}

// ResumeTenant lifts a suspension; resuming an active tenant changes
// nothing.
func (o *operatorAPI) ResumeTenant(ctx context.Context, req *sawmillv1.ResumeTenantRequest) (*sawmillv1.TenantSummary, error) {
	if _, err := o.s.auth.GRPC(ctx, auth.ScopeOperator); err != nil {
		return nil, err
	}
	t, err := o.s.lifecycleUpdate(ctx, req.GetTenantId(), func(t *tenant.Tenant) bool {
		if !t.Suspended {
			return false
		}
		t.Suspended, t.SuspendedReason = false, ""
		return true
	})
	if err != nil {
		return nil, err
	}
	o.s.log.Info("operator: tenant resumed", "tenant", t.ID)
	return o.s.summary(ctx, t)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// validTenantID reports whether id can be a tenants-bucket key of ours.
func validTenantID(id string) bool {
	if len(id) < 2 || len(id) > 64 || id[0] != 't' {
		return false
	}
	for _, r := range id[1:] {
		if !('a' <= r && r <= 'z' || '2' <= r && r <= '7') {
			return false
		}
	}
	return true
}

// lifecycleUpdate applies change to a live tenant's record (see
// casTenant) and returns the record as stored. change returns false when
// there is nothing to write. A deleted or unknown tenant is not_found.
func (s *Service) lifecycleUpdate(ctx context.Context, id string, change func(*tenant.Tenant) bool) (tenant.Tenant, error) {
	if !validTenantID(id) {
		return tenant.Tenant{}, apierr.New(apierr.Invalid, "invalid tenant id %q", id)
	}
	return s.casTenant(ctx, id, func(t *tenant.Tenant) (bool, error) {
		if t.Deleted {
			return false, apierr.New(apierr.NotFound, "no tenant %q (deleted)", id)
		}
		return change(t), nil
	})
}

// casTenant applies change to a tenant's record with an optimistic
// compare-and-set, retried when another writer got there first, and
// returns the record as stored. change returns false when there is nothing
// to write, or an error to abort with. An unknown tenant is not_found.
func (s *Service) casTenant(ctx context.Context, id string, change func(*tenant.Tenant) (bool, error)) (tenant.Tenant, error) {
	for range 10 {
		e, err := s.bus.Tenants.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return tenant.Tenant{}, apierr.New(apierr.NotFound, "no tenant %q", id)
		}
		if err != nil {
			return tenant.Tenant{}, apierr.Wrap(err, "load tenant")
		}
		var t tenant.Tenant
		if err := json.Unmarshal(e.Value(), &t); err != nil {
			return tenant.Tenant{}, apierr.Wrap(err, "decode tenant")
		}
		if write, err := change(&t); err != nil || !write {
			return t, err
		}
		b, err := json.Marshal(t)
		if err != nil {
			return tenant.Tenant{}, apierr.Wrap(err, "encode tenant")
		}
		if _, err := s.bus.Tenants.Update(ctx, id, b, e.Revision()); err == nil {
			return t, nil
		} else if !isRevisionConflict(err) {
			return tenant.Tenant{}, apierr.Wrap(err, "store tenant")
		}
	}
	return tenant.Tenant{}, apierr.New(apierr.Unavailable, "tenant %q is being changed concurrently; retry", id).Retry(time.Second)
}

// isRevisionConflict reports whether a KV Update lost a race.
func isRevisionConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// summary returns t as the operator sees it, with usage in its current
// billing period.
func (s *Service) summary(ctx context.Context, t tenant.Tenant) (*sawmillv1.TenantSummary, error) {
	start, end := plan.Period(t.CreatedAt, s.now())
	rows, err := s.store.Usage(ctx, t.ID, start, end, store.Daily)
	if err != nil {
		return nil, apierr.Wrap(err, "read usage")
	}
	var events, bytes int64
	for _, r := range rows {
		events += int64(r.Events)
		bytes += int64(r.Bytes)
	}
	return summaryProto(t, events, bytes), nil
}

func summaryProto(t tenant.Tenant, events, bytes int64) *sawmillv1.TenantSummary {
	return &sawmillv1.TenantSummary{
		Id: t.ID, Name: t.Name, Plan: t.Plan, Suspended: t.Suspended, SuspendedReason: t.SuspendedReason,
		CreatedAt: timestamppb.New(t.CreatedAt), PeriodEvents: events, PeriodBytes: bytes,
	}
}

// planNames lists the catalogue's plan names for error messages.
func planNames(c plan.Catalogue) string {
	names := make([]string, len(c.Plans))
	for i, p := range c.Plans {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}
