package billing

import (
	"context"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// maxSpendCapCents bounds a spend cap (a million dollars), so that cap
// arithmetic never overflows.
const maxSpendCapCents = 100_000_000

// SetSpendCap records the tenant's cap on overage per period. The quota
// keeper republishes the tenant's state within a publish interval, and
// edges refuse ingest once the period's overage reaches the cap.
func (b *billingAPI) SetSpendCap(ctx context.Context, req *sawmillv1.SetSpendCapRequest) (*sawmillv1.SetSpendCapResponse, error) {
	p, err := b.s.auth.GRPC(ctx, auth.ScopeAdmin)
	if err != nil {
		return nil, err
	}
	c := req.GetSpendCapCents()
	if c < 0 || c > maxSpendCapCents {
		return nil, apierr.New(apierr.Invalid, "spend_cap_cents must be 0 (no cap) to %d", maxSpendCapCents)
	}
	t, err := b.s.lifecycleUpdate(ctx, p.TenantID, func(t *tenant.Tenant) bool {
		if t.SpendCapCents == c {
			return false
		}
		t.SpendCapCents = c
		return true
	})
	if err != nil {
		return nil, err
	}
	return &sawmillv1.SetSpendCapResponse{SpendCapCents: t.SpendCapCents}, nil
}
