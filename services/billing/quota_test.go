package billing

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
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

// Crossing 80% and then 100% of a quota stores one warning each in the
// WARNINGS stream (alerts delivers them from there), none for a report that
// crosses nothing, and none twice.
func TestQuotaWarningsStored(t *testing.T) {
	r := newLifecycleRig(t, "")
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	r.svc.SetClock(func() time.Time { return now })
	dir := tenant.NewDirectory()
	tn := tenant.Tenant{ID: "tw", Plan: "free", RetentionDays: 7, CreatedAt: time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)}
	b, _ := json.Marshal(tn)
	dir.Apply(tn.ID, b, false)
	q := newQuotaKeeper(r.svc, QuotaConfig{}, dir)
	for _, events := range []int64{1_000_000, 3_100_000, 100, 1_000_000, 5} { // free: 5M a month
		q.report(quota.Report{Edge: "e1", Deltas: map[string]quota.Delta{"tw": {Events: events}}})
		q.publish(ctx)
	}
	st, err := r.bus.JS.Stream(ctx, bus.WarningsStream)
	if err != nil {
		t.Fatal(err)
	}
	var levels []int
	for seq := uint64(1); ; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			break
		}
		if m.Subject != quota.WarningSubjectPrefix+"tw" {
			continue // another test's tenant
		}
		var w quota.Warning
		if err := json.Unmarshal(m.Data, &w); err != nil || w.TenantID != "tw" {
			t.Fatalf("message %d: %s %s (%v)", seq, m.Subject, m.Data, err)
		}
		levels = append(levels, w.Level)
	}
	if len(levels) != 2 || levels[0] != 80 || levels[1] != 100 {
		t.Fatalf("warnings %v, want [80 100]", levels)
	}
}

// After a mid-period plan change the quota is the period's prorated
// included volume, as the invoice bills it, not the new plan's monthly
// volume: a team tenant that moves to free halfway through a period has
// half of each included, hard-capped by free, so 30M events already used
// are within it, and 53M are over.
func TestQuotaProratedAfterPlanChange(t *testing.T) {
	r := newLifecycleRig(t, "")
	ctx := context.Background()
	start := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC) // periods anchored at the 15th
	half := start.Add(15 * 24 * time.Hour)                 // of a 30-day period
	now := half.Add(time.Hour)
	r.svc.SetClock(func() time.Time { return now })
	dir := tenant.NewDirectory()
	tn := tenant.Tenant{ID: "tp", Plan: "free", RetentionDays: 7, CreatedAt: time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC),
		PlanChanges: []tenant.PlanChange{{From: "team", To: "free", At: half}}}
	b, _ := json.Marshal(tn)
	dir.Apply(tn.ID, b, false)
	q := newQuotaKeeper(r.svc, QuotaConfig{}, dir)
	wantEvents := int64(100_000_000/2 + 5_000_000/2) // team's and free's monthly events, half each
	wantBytes := int64(100<<30/2 + 5<<30/2)
	for _, c := range []struct {
		used int64
		over bool
	}{{30_000_000, false}, {23_000_000, true}} {
		q.report(quota.Report{Edge: "e1", Deltas: map[string]quota.Delta{"tp": {Events: c.used}}})
		q.publish(ctx)
		e, err := r.bus.Quotas.Get(ctx, "tp")
		if err != nil {
			t.Fatal(err)
		}
		var st quota.State
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			t.Fatal(err)
		}
		if st.EventsLimit != wantEvents || st.BytesLimit != wantBytes || !st.HardCap || st.Plan != "free" {
			t.Fatalf("state %+v: want limits %d events, %d bytes, hard-capped free", st, wantEvents, wantBytes)
		}
		if over := st.EventsUsed >= st.EventsLimit; over != c.over {
			t.Fatalf("%d events used of %d: over = %v, want %v", st.EventsUsed, st.EventsLimit, over, c.over)
		}
	}
}
