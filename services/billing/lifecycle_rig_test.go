package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

var quietLog = slog.New(slog.DiscardHandler)

// lifecycleRig is the billing role (accounts, billing, operator APIs) on a
// real HTTP listener over an in-process NATS and a fresh ClickHouse
// database, with the key table followed from KV as cmd/sawmill wires it.
type lifecycleRig struct {
	svc   *Service
	bus   *bus.Bus
	store *store.Store
	url   string
}

// newLifecycleRig starts a rig; opKey is the operator credential ("":
// operator API disabled).
func newLifecycleRig(tb testing.TB, opKey string) *lifecycleRig {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := testenv.StartNATS(tb)
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: tb.Name(), Logger: quietLog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	tb.Cleanup(cancel) // runs before the bus closes
	st, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(tb), Database: testenv.Database(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	keys := auth.NewKeyTable()
	if err := b.Follow(ctx, b.Keys, keys.Apply); err != nil {
		tb.Fatal(err)
	}
	sessions, err := auth.NewSessions([]byte(strings.Repeat("s", 32)), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	authn := &auth.Authenticator{Keys: keys, Sessions: sessions, MissWait: -1, OperatorKey: opKey}
	svc := New(Config{BcryptCost: 4}, quietLog, b, authn, plan.Builtin(), st)
	srv := server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}, quietLog)
	if err := svc.Register(ctx, srv); err != nil {
		tb.Fatal(err)
	}
	if err := svc.RegisterOperator(ctx, srv); err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	return &lifecycleRig{svc: svc, bus: b, store: st, url: "http://" + srv.HTTPAddr()}
}

// call sends a JSON request (body nil: none) and decodes the JSON answer.
func (r *lifecycleRig) call(tb testing.TB, method, path, bearer string, body any) (int, map[string]any) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			tb.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// account is a signed-up tenant.
type account struct {
	tenant, apiKey, token string
}

func (r *lifecycleRig) signup(tb testing.TB, email string) account {
	tb.Helper()
	code, out := r.call(tb, "POST", "/v1/signup", "", map[string]string{
		"email": email, "password": "correct horse battery", "organization": email})
	if code != 200 {
		tb.Fatalf("signup %s: %d %v", email, code, out)
	}
	return account{tenant: out["tenant_id"].(string), apiKey: out["api_key"].(string), token: out["token"].(string)}
}

// insertRows stores n events of a tenant, observed at now (so usage meters
// them in the current hour).
func (r *lifecycleRig) insertRows(tb testing.TB, tenant string, firstSeq uint64, n int, now time.Time) {
	tb.Helper()
	rows := make([]store.Row, n)
	for i := range rows {
		rows[i] = store.Row{Tenant: tenant, RetentionDays: 7, Seq: firstSeq, Idx: uint32(i), Event: event.Event{
			Time: now.Add(-time.Duration(i) * time.Second).UnixNano(), ObservedTime: now.UnixNano(),
			Level: event.LevelInfo, SeverityNumber: 9, Message: "GET /api/v1/orders/ 200", Service: "web",
		}}
	}
	if err := r.store.Insert(context.Background(), rows); err != nil {
		tb.Fatal(err)
	}
}

// usageStatus is the status of GET /v1/usage for a credential: 200 while
// it works, 401 once its key is gone.
func (r *lifecycleRig) usageStatus(tb testing.TB, bearer string) int {
	tb.Helper()
	now := time.Now().UTC()
	code, _ := r.call(tb, "GET", "/v1/usage?from="+now.Add(-time.Hour).Format(time.RFC3339)+"&to="+now.Add(time.Hour).Format(time.RFC3339), bearer, nil)
	return code
}
