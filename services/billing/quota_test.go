package billing

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/quota"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// A quota state written after the period ended belongs to the new period
// and must not carry the old period's counts (a hard-capped tenant would be
// refused all through its new period).
func TestQuotaStateRollsOver(t *testing.T) {
	r := newLifecycleRig(t, "")
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	r.svc.SetClock(func() time.Time { return now })
	dir := tenant.NewDirectory()
	tn := tenant.Tenant{ID: "tq", Plan: "free", RetentionDays: 7, CreatedAt: time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)}
	b, _ := json.Marshal(tn)
	dir.Apply(tn.ID, b, false)
	q := newQuotaKeeper(r.svc, QuotaConfig{}, dir)

	state := func() quota.State {
		t.Helper()
		e, err := r.bus.Quotas.Get(ctx, "tq")
		if err != nil {
			t.Fatal(err)
		}
		var st quota.State
		json.Unmarshal(e.Value(), &st)
		return st
	}
	q.report(quota.Report{Edge: "e1", Deltas: map[string]quota.Delta{"tq": {Events: 6_000_000, Bytes: 100}}})
	q.publish(ctx)
	if st := state(); st.EventsUsed != 6_000_000 || !st.PeriodStart.Equal(time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first period: %+v", st)
	}
	// The clock crosses the period end; a late report of the old period's
	// traffic marks the record dirty before any new-period report.
	q.report(quota.Report{Edge: "e1", Deltas: map[string]quota.Delta{"tq": {Events: 10}}})
	now = time.Date(2026, 12, 15, 0, 0, 1, 0, time.UTC)
	q.publish(ctx)
	st := state()
	if !st.PeriodStart.Equal(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)) || st.EventsUsed != 0 {
		t.Fatalf("after the rollover: %+v", st)
	}
}
