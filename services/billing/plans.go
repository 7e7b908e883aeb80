package billing

import (
	"context"
	"encoding/json"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/quota"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// maxUsageRange bounds one usage request.
const maxUsageRange = 400 * 24 * time.Hour

// billingAPI implements sawmill.v1.BillingService.
type billingAPI struct {
	sawmillv1.UnimplementedBillingServiceServer
	s *Service
}

func (b *billingAPI) ListPlans(context.Context, *sawmillv1.ListPlansRequest) (*sawmillv1.ListPlansResponse, error) {
	c := b.s.plans
	resp := &sawmillv1.ListPlansResponse{Default: c.Default}
	for _, p := range c.Plans {
		resp.Plans = append(resp.Plans, planProto(p))
	}
	return resp, nil
}

func planProto(p plan.Plan) *sawmillv1.Plan {
	return &sawmillv1.Plan{
		Name: p.Name, PriceCents: p.PriceCents, MonthlyEvents: p.MonthlyEvents, MonthlyBytes: p.MonthlyBytes,
		HardCap: p.HardCap, OverageCentsPerMillionEvents: p.OverageCentsPerMillionEvents, OverageCentsPerGb: p.OverageCentsPerGB,
		RetentionDays: int32(p.RetentionDays), EventsPerSecond: p.EventsPerSecond, BytesPerSecond: p.BytesPerSecond,
		MaxQueryDays: int32(p.MaxQueryDays), AlertRules: int32(p.AlertRules),
	}
}

func (b *billingAPI) GetUsage(ctx context.Context, req *sawmillv1.GetUsageRequest) (*sawmillv1.GetUsageResponse, error) {
	p, err := b.s.auth.GRPC(ctx, auth.ScopeQuery)
	if err != nil {
		if p, err = b.s.auth.GRPC(ctx, auth.ScopeAdmin); err != nil {
			return nil, err
		}
	}
	if req.GetFrom() == nil || req.GetTo() == nil {
		return nil, apierr.New(apierr.Invalid, "from and to are required (RFC 3339 times)")
	}
	from, to := req.GetFrom().AsTime(), req.GetTo().AsTime()
	if !to.After(from) || to.Sub(from) > maxUsageRange {
		return nil, apierr.New(apierr.Invalid, "the range must be positive and at most %d days", int(maxUsageRange.Hours()/24))
	}
	g := store.Daily
	switch req.GetGranularity() {
	case "", "day":
	case "hour":
		g = store.Hourly
	default:
		return nil, apierr.New(apierr.Invalid, "granularity must be hour or day, not %q", req.GetGranularity())
	}
	rows, err := b.s.store.Usage(ctx, p.TenantID, from, to, g)
	if err != nil {
		return nil, apierr.Wrap(err, "read usage")
	}
	resp := &sawmillv1.GetUsageResponse{}
	var t tenant.Tenant
	if found, err := getJSON(ctx, b.s.bus.Tenants, p.TenantID, &t); err == nil && found {
		resp.Plan = t.Plan
	}
	if e, err := b.s.bus.Quotas.Get(ctx, p.TenantID); err == nil {
		var st quota.State
		if json.Unmarshal(e.Value(), &st) == nil {
			resp.Quota = &sawmillv1.QuotaStatus{
				PeriodStart: timestamppb.New(st.PeriodStart), PeriodEnd: timestamppb.New(st.PeriodEnd),
				EventsUsed: st.EventsUsed, EventsLimit: st.EventsLimit, BytesUsed: st.BytesUsed, BytesLimit: st.BytesLimit,
				Percent: int32(st.Percent()), Warned: int32(st.Warned), HardCap: st.HardCap,
				OverageCents: st.OverageCents(), SpendCapCents: st.SpendCapCents,
			}
		}
	}
	for _, r := range rows {
		resp.Periods = append(resp.Periods, &sawmillv1.UsagePeriod{Start: timestamppb.New(r.Start), Events: int64(r.Events), Bytes: int64(r.Bytes)})
		resp.TotalEvents += int64(r.Events)
		resp.TotalBytes += int64(r.Bytes)
	}
	return resp, nil
}
