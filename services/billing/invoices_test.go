package billing

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// testPlans is a catalogue small enough that a test can exceed its included
// volume with a few thousand rows. Over a 31-day period, hobby includes 10
// events a day and pro 100 a day (and 100 cents of base fee a day), so
// prorations by whole days come out exact.
func testPlans() plan.Catalogue {
	return plan.Catalogue{Default: "hobby", Plans: []plan.Plan{
		{Name: "hobby", MonthlyEvents: 310, MonthlyBytes: 1 << 30, HardCap: true, RetentionDays: 7, MaxQueryDays: 7,
			EventsPerSecond: 100, BytesPerSecond: 1 << 20},
		{Name: "pro", PriceCents: 3100, MonthlyEvents: 3100, MonthlyBytes: 1 << 30, OverageCentsPerMillionEvents: 1_000_000,
			OverageCentsPerGB: 100, RetentionDays: 30, MaxQueryDays: 30, EventsPerSecond: 1000, BytesPerSecond: 1 << 20},
	}}
}

// clock is a settable test clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// billingEnv is one shared NATS and ClickHouse database, and the billing
// processes started on them.
type billingEnv struct {
	natsURL  string
	store    *store.Store
	sessions *auth.Sessions
	clock    *clock
}

func newBillingEnv(tb testing.TB, start time.Time) *billingEnv {
	tb.Helper()
	ctx := context.Background()
	n := testenv.StartNATS(tb)
	st, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(tb), Database: testenv.Database(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	sessions, err := auth.NewSessions([]byte(strings.Repeat("k", 32)), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return &billingEnv{natsURL: n.URL(), store: st, sessions: sessions, clock: &clock{t: start}}
}

// process is one billing process: its own NATS connection, tenant
// directory and Service, sharing the environment's clock.
type process struct {
	s       *Service
	api     *billingAPI
	acc     *accounts
	tenants *tenant.Directory
}

func (e *billingEnv) process(tb testing.TB) *process {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Connect(ctx, bus.Config{URL: e.natsURL, Name: "billing-test", Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	tenants := tenant.NewDirectory()
	if err := b.Follow(ctx, b.Tenants, tenants.Apply); err != nil {
		tb.Fatal(err)
	}
	a := &auth.Authenticator{Keys: auth.NewKeyTable(), Sessions: e.sessions, MissWait: -1}
	s := New(Config{BcryptCost: 4}, log, b, a, testPlans(), e.store)
	s.SetClock(e.clock.now)
	return &process{s: s, api: &billingAPI{s: s}, acc: &accounts{s: s}, tenants: tenants}
}

// signup creates a tenant at the clock's time and returns its id and an
// admin session token.
func (p *process) signup(tb testing.TB, email string) (tenantID, token string) {
	tb.Helper()
	resp, err := p.acc.Signup(context.Background(), &sawmillv1.SignupRequest{Email: email, Password: "correct horse battery", Organization: "Org " + email})
	if err != nil {
		tb.Fatal(err)
	}
	return resp.GetTenantId(), resp.GetToken()
}

// as returns a context carrying the bearer token, as the gateway passes it.
func as(token string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+token))
}

// waitTenant waits (bounded) until the process's directory satisfies ok:
// the directory follows KV asynchronously.
func waitTenant(tb testing.TB, p *process, id string, ok func(tenant.Tenant) bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if t, found := p.tenants.Get(id); found && ok(t) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("tenant %s never reached the expected state in the directory", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantCode(tb testing.TB, err error, code apierr.Code) {
	tb.Helper()
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Code != code {
		tb.Fatalf("err %v, want code %s", err, code)
	}
}

// insertUsage stores n rows for a tenant observed at the given time and
// returns their total size.
func insertUsage(tb testing.TB, st *store.Store, tenantID string, observed time.Time, n int, seq uint64) int64 {
	tb.Helper()
	rows := make([]store.Row, n)
	var size int64
	for i := range rows {
		e := event.Event{Time: observed.Add(-time.Minute).UnixNano(), ObservedTime: observed.UnixNano(), Message: "GET /api/orders 200", Service: "web"}
		rows[i] = store.Row{Tenant: tenantID, RetentionDays: 7, Seq: seq, Idx: uint32(i), Event: e}
		size += int64(rows[i].Size())
	}
	if err := st.Insert(context.Background(), rows); err != nil {
		tb.Fatal(err)
	}
	return size
}

// The must-show test: a tenant on hobby moves to pro 10 days into a 31-day
// period and goes over the prorated included volume. Once the period has
// closed (plus the grace), two billing processes racing, and later runs,
// yield exactly one invoice, identical every time, with hand-computed lines.
func TestInvoiceAcrossPeriodWithPlanChange(t *testing.T) {
	signup := time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC) // period [Oct 3, Nov 3): 31 days
	env := newBillingEnv(t, signup)
	p1, p2 := env.process(t), env.process(t)
	id, token := p1.signup(t, "ops@example.com")
	otherID, otherToken := p1.signup(t, "other@example.com")

	env.clock.set(time.Date(2026, 10, 13, 0, 0, 0, 0, time.UTC))
	ch, err := p1.api.ChangePlan(as(token), &sawmillv1.ChangePlanRequest{Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.GetProration(), "pro from 2026-10-13T00:00:00Z to 2026-11-03T00:00:00Z (67.74% of the period: base fee 21.00 USD of 31.00 USD)") {
		t.Fatalf("proration %q", ch.GetProration())
	}

	// 2,500 events in the period, on both sides of the change and in its
	// last second; 40 just after it (next period); 7 of another tenant.
	var bytes int64
	bytes += insertUsage(t, env.store, id, time.Date(2026, 10, 3, 9, 30, 0, 0, time.UTC), 500, 1)
	bytes += insertUsage(t, env.store, id, time.Date(2026, 10, 20, 14, 0, 0, 0, time.UTC), 1900, 2)
	bytes += insertUsage(t, env.store, id, time.Date(2026, 11, 2, 23, 59, 59, 0, time.UTC), 100, 3)
	insertUsage(t, env.store, id, time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), 40, 4)
	insertUsage(t, env.store, otherID, time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC), 7, 5)

	for _, p := range []*process{p1, p2} {
		waitTenant(t, p, id, func(t tenant.Tenant) bool { return t.Plan == "pro" && len(t.PlanChanges) == 1 })
		waitTenant(t, p, otherID, func(tenant.Tenant) bool { return true })
	}
	ctx := context.Background()

	// Within the grace after the boundary: nothing yet.
	env.clock.set(time.Date(2026, 11, 3, 0, 30, 0, 0, time.UTC))
	if n := p1.s.invoiceAll(ctx, p1.tenants); n != 0 {
		t.Fatalf("%d invoices issued during the grace", n)
	}
	// After it: both processes at once; one invoice per tenant in all.
	env.clock.set(time.Date(2026, 11, 3, 1, 0, 0, 0, time.UTC))
	var wg sync.WaitGroup
	issued := make([]int, 2)
	for i, p := range []*process{p1, p2} {
		wg.Add(1)
		go func() { defer wg.Done(); issued[i] = p.s.invoiceAll(ctx, p.tenants) }()
	}
	wg.Wait()
	if issued[0]+issued[1] != 2 {
		t.Fatalf("issued %v invoices, want 2 in all (one per tenant)", issued)
	}

	inv, err := p1.api.GetInvoice(as(token), &sawmillv1.GetInvoiceRequest{Id: id + ".20261003"})
	if err != nil {
		t.Fatal(err)
	}
	// hobby 10/31 and pro 21/31 of the period: base 0 + 2100; included
	// 100 + 2100 = 2200 events; 300 over at pro's 1 cent each = 300.
	if inv.GetPlan() != "hobby→pro" || inv.GetEvents() != 2500 || inv.GetBytes() != bytes || inv.GetTotalCents() != 2400 ||
		inv.GetCurrency() != "USD" || !inv.GetPeriodStart().AsTime().Equal(time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)) ||
		!inv.GetPeriodEnd().AsTime().Equal(time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)) || inv.GetTenantId() != id {
		t.Fatalf("invoice %v", inv)
	}
	wantLines := []struct {
		amount int64
		qty    float64
		unit   string
	}{{0, 0.322581, plan.UnitMonth}, {2100, 0.677419, plan.UnitMonth}, {0, 0.0022, plan.UnitMillionEvents}, {0, 1, plan.UnitGiB},
		{300, 0.0003, plan.UnitMillionEvents}, {0, 0, plan.UnitGiB}}
	if len(inv.GetLines()) != len(wantLines) {
		t.Fatalf("lines %v", inv.GetLines())
	}
	for i, w := range wantLines {
		if l := inv.GetLines()[i]; l.GetAmountCents() != w.amount || l.GetQuantity() != w.qty || l.GetUnit() != w.unit {
			t.Fatalf("line %d: %v, want %+v", i, l, w)
		}
	}
	stored, _ := protojson.Marshal(inv)

	// Later runs, on either process, change nothing; a recomputation agrees.
	for _, at := range []time.Time{time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)} {
		env.clock.set(at)
		if n := p2.s.invoiceAll(ctx, p2.tenants) + p1.s.invoiceAll(ctx, p1.tenants); n != 0 {
			t.Fatalf("at %s: %d more invoices", at, n)
		}
	}
	again, _ := p2.api.GetInvoice(as(token), &sawmillv1.GetInvoiceRequest{Id: id + ".20261003"})
	if b, _ := protojson.Marshal(again); string(b) != string(stored) {
		t.Fatalf("the stored invoice changed:\n%s\n%s", stored, b)
	}
	tn, _ := p2.tenants.Get(id)
	re, err := p2.s.computeInvoice(ctx, tn, inv.GetPeriodStart().AsTime(), inv.GetPeriodEnd().AsTime(), env.clock.now())
	if err != nil || !sameInvoice(re, inv) {
		t.Fatalf("recomputed %v (%v), stored %v", re, err, inv)
	}

	list, err := p2.api.ListInvoices(as(token), &sawmillv1.ListInvoicesRequest{})
	if err != nil || len(list.GetInvoices()) != 1 || list.GetInvoices()[0].GetId() != inv.GetId() {
		t.Fatalf("list %v, %v", list, err)
	}
	other, err := p2.api.ListInvoices(as(otherToken), &sawmillv1.ListInvoicesRequest{})
	if err != nil || len(other.GetInvoices()) != 1 || other.GetInvoices()[0].GetTotalCents() != 0 || other.GetInvoices()[0].GetEvents() != 7 {
		t.Fatalf("other tenant's list %v, %v", other, err)
	}
}

// Invoices are the caller's only, need the admin scope and a well-formed id.
func TestInvoiceAccess(t *testing.T) {
	env := newBillingEnv(t, time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC))
	p := env.process(t)
	id, token := p.signup(t, "a@example.com")
	otherID, otherToken := p.signup(t, "b@example.com")
	waitTenant(t, p, otherID, func(tenant.Tenant) bool { return true })
	waitTenant(t, p, id, func(tenant.Tenant) bool { return true })
	if l, err := p.api.ListInvoices(as(token), &sawmillv1.ListInvoicesRequest{}); err != nil || len(l.GetInvoices()) != 0 {
		t.Fatalf("before any invoice: %v, %v", l, err)
	}
	// Three closed periods later, the backfill issues all three, once.
	env.clock.set(time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	if n := p.s.invoiceAll(ctx, p.tenants); n != 6 {
		t.Fatalf("issued %d invoices, want 3 per tenant", n)
	}
	if n := p.s.invoiceAll(ctx, p.tenants); n != 0 {
		t.Fatalf("issued %d more", n)
	}
	list, err := p.api.ListInvoices(as(token), &sawmillv1.ListInvoicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, inv := range list.GetInvoices() {
		ids = append(ids, inv.GetId())
	}
	if want := []string{id + ".20260310", id + ".20260210", id + ".20260110"}; strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("ids %v, want %v (newest first)", ids, want)
	}

	queryOnly, _, err := env.sessions.Issue("u1", id, []auth.Scope{auth.ScopeQuery})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		token string
		id    string
		code  apierr.Code
	}{
		{"another tenant's invoice", otherToken, id + ".20260110", apierr.NotFound},
		{"missing period", token, id + ".20250110", apierr.NotFound},
		{"empty id", token, "", apierr.Invalid},
		{"malformed id", token, id + ".2026-01-10", apierr.Invalid},
		{"wildcard", token, id + ".*", apierr.Invalid},
		{"no admin scope", queryOnly, id + ".20260110", apierr.PermissionDenied},
		{"no credential", "", id + ".20260110", apierr.Unauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.api.GetInvoice(as(c.token), &sawmillv1.GetInvoiceRequest{Id: c.id})
			wantCode(t, err, c.code)
		})
	}
	_, err = p.api.ListInvoices(as(queryOnly), &sawmillv1.ListInvoicesRequest{})
	wantCode(t, err, apierr.PermissionDenied)
}

// The REST shapes through the gateway: PUT /v1/plan, GET /v1/invoices and
// GET /v1/invoices/{id}, with snake_case JSON and JSON errors.
func TestInvoiceREST(t *testing.T) {
	env := newBillingEnv(t, time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC))
	p := env.process(t)
	id, token := p.signup(t, "rest@example.com")
	srv := server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := p.s.Register(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	call := func(method, path, body string, wantStatus int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+srv.HTTPAddr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: status %d (%v), want %d: %v", method, path, resp.StatusCode, err, wantStatus, out)
		}
		return out
	}
	env.clock.set(time.Date(2026, 10, 13, 0, 0, 0, 0, time.UTC))
	ch := call("PUT", "/v1/plan", `{"plan":"pro"}`, 200)
	if ch["plan"] != "pro" || ch["effective_at"] != "2026-10-13T00:00:00Z" || !strings.Contains(ch["proration"].(string), "pro rata") {
		t.Fatalf("change plan: %v", ch)
	}
	if e := call("PUT", "/v1/plan", `{"plan":"gold"}`, 400); e["code"] != "invalid_argument" {
		t.Fatalf("bad plan: %v", e)
	}
	waitTenant(t, p, id, func(t tenant.Tenant) bool { return t.Plan == "pro" })
	env.clock.set(time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC))
	p.s.invoiceAll(context.Background(), p.tenants)
	list := call("GET", "/v1/invoices", "", 200)
	invs, _ := list["invoices"].([]any)
	if len(invs) != 1 {
		t.Fatalf("list %v", list)
	}
	inv := invs[0].(map[string]any)
	if inv["id"] != id+".20261003" || inv["total_cents"] != "2100" || inv["plan"] != "hobby→pro" || inv["currency"] != "USD" ||
		inv["period_start"] != "2026-10-03T00:00:00Z" || len(inv["lines"].([]any)) != 6 {
		t.Fatalf("invoice JSON %v", inv)
	}
	if got := call("GET", "/v1/invoices/"+id+".20261003", "", 200); got["id"] != inv["id"] {
		t.Fatalf("get %v", got)
	}
	if e := call("GET", "/v1/invoices/tzzzz.20261003", "", 404); e["code"] != "not_found" {
		t.Fatalf("another tenant's id: %v", e)
	}
}
