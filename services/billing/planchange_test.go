package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

func loadTenant(tb testing.TB, p *process, id string) tenant.Tenant {
	tb.Helper()
	e, err := p.s.bus.Tenants.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	var t tenant.Tenant
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		tb.Fatal(err)
	}
	return t
}

// rename sets the tenant's name with a revision-checked update, as any
// other writer of the record must.
func rename(p *process, id, name string) error {
	ctx := context.Background()
	for {
		e, err := p.s.bus.Tenants.Get(ctx, id)
		if err != nil {
			return err
		}
		var t tenant.Tenant
		if err := json.Unmarshal(e.Value(), &t); err != nil {
			return err
		}
		t.Name = name
		v, _ := json.Marshal(t)
		if _, err := p.s.bus.Tenants.Update(ctx, id, v, e.Revision()); !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
	}
}

func TestChangePlan(t *testing.T) {
	env := newBillingEnv(t, time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC))
	p := env.process(t)
	id, token := p.signup(t, "ops@example.com")
	queryOnly, _, err := env.sessions.Issue("u1", id, []auth.Scope{auth.ScopeQuery})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name, token, plan string
		code              apierr.Code
	}{
		{"empty plan", token, "", apierr.Invalid},
		{"unknown plan", token, "platinum", apierr.Invalid},
		{"no admin scope", queryOnly, "pro", apierr.PermissionDenied},
		{"no credential", "", "pro", apierr.Unauthenticated},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.api.ChangePlan(as(c.token), &sawmillv1.ChangePlanRequest{Plan: c.plan})
			wantCode(t, err, c.code)
		})
	}
	if tn := loadTenant(t, p, id); tn.Plan != "hobby" || len(tn.PlanChanges) != 0 {
		t.Fatalf("a refused change left %+v", tn)
	}

	at := time.Date(2026, 10, 13, 0, 0, 0, 0, time.UTC)
	env.clock.set(at)
	resp, err := p.api.ChangePlan(as(token), &sawmillv1.ChangePlanRequest{Plan: " pro "})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPlan() != "pro" || !resp.GetEffectiveAt().AsTime().Equal(at) ||
		!strings.Contains(resp.GetProration(), "hobby from 2026-10-03T00:00:00Z to 2026-10-13T00:00:00Z (32.26% of the period") {
		t.Fatalf("response %v", resp)
	}
	tn := loadTenant(t, p, id)
	if tn.Plan != "pro" || tn.RetentionDays != 30 || len(tn.PlanChanges) != 1 ||
		tn.PlanChanges[0] != (tenant.PlanChange{From: "hobby", To: "pro", At: at}) {
		t.Fatalf("tenant %+v", tn)
	}
	// The same plan again changes nothing (PUT is idempotent).
	env.clock.set(at.Add(time.Hour))
	again, err := p.api.ChangePlan(as(token), &sawmillv1.ChangePlanRequest{Plan: "pro"})
	if err != nil || !again.GetEffectiveAt().AsTime().Equal(at) || again.GetProration() != resp.GetProration() {
		t.Fatalf("repeat: %v, %v", again, err)
	}
	if tn := loadTenant(t, p, id); len(tn.PlanChanges) != 1 {
		t.Fatalf("a repeated change was recorded: %+v", tn.PlanChanges)
	}
}

// Concurrent changes from two billing processes each land exactly once, in
// a consistent history (the revision check), and the history is bounded.
func TestChangePlanConcurrent(t *testing.T) {
	env := newBillingEnv(t, time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC))
	p1, p2 := env.process(t), env.process(t)
	id, token := p1.signup(t, "ops@example.com")
	env.clock.set(time.Date(2026, 10, 10, 0, 0, 0, 0, time.UTC))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		p, target := p1, "pro"
		if i%2 == 1 {
			p, target = p2, "hobby"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.api.ChangePlan(as(token), &sawmillv1.ChangePlanRequest{Plan: target})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	tn := loadTenant(t, p1, id)
	from := "hobby"
	for i, c := range tn.PlanChanges {
		if c.From != from || c.To == c.From {
			t.Fatalf("change %d breaks the history %+v", i, tn.PlanChanges)
		}
		from = c.To
	}
	if tn.Plan != from || len(tn.PlanChanges) == 0 {
		t.Fatalf("plan %q after history %+v", tn.Plan, tn.PlanChanges)
	}
	// A concurrent writer of another field of the record (an operator's
	// rename, say) is never lost to a plan change, nor the change to it.
	for round := range 20 {
		env.clock.set(time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC).AddDate(0, round, 0)) // a fresh period each round
		target := [2]string{"pro", "hobby"}[round%2]
		name := fmt.Sprintf("renamed %d", round)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errs[0] = p2.api.ChangePlan(as(token), &sawmillv1.ChangePlanRequest{Plan: target})
		}()
		go func() { defer wg.Done(); errs[1] = rename(p1, id, name) }()
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v, %v", round, errs[0], errs[1])
		}
		if tn := loadTenant(t, p1, id); tn.Name != name || tn.Plan != target {
			t.Fatalf("round %d: lost update: name %q plan %q", round, tn.Name, tn.Plan)
		}
	}
	// Flip until the per-period bound refuses, with a Retry-After.
	fresh := time.Date(2028, 1, 3, 0, 0, 0, 0, time.UTC) // a period start
	env.clock.set(fresh)
	var err error
	for i := 0; i < maxPlanChangesPerPeriod+1 && err == nil; i++ {
		next := "pro"
		if loadTenant(t, p1, id).Plan == "pro" {
			next = "hobby"
		}
		_, err = p1.api.ChangePlan(as(token), &sawmillv1.ChangePlanRequest{Plan: next})
	}
	wantCode(t, err, apierr.RateLimited)
	if n := changesSince(loadTenant(t, p1, id), fresh); n != maxPlanChangesPerPeriod {
		t.Fatalf("%d changes recorded, want the bound %d", n, maxPlanChangesPerPeriod)
	}
}
