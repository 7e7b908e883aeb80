package query

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// savedEnv is a query Service with saved searches and dashboards on a real
// server over real NATS and ClickHouse (the fixture's rows and keys).
type savedEnv struct {
	*fixture
	bus   *bus.Bus
	state *savedState
	base  string
	grpc  string // gRPC listener address
}

func newSavedEnv(tb testing.TB, rows []store.Row) *savedEnv {
	tb.Helper()
	f := newFixture(tb, rows)
	n := testenv.StartNATS(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: "saved-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	f.svc.SetBus(b)
	st, err := f.svc.savedState()
	if err != nil {
		tb.Fatal(err)
	}
	srv := server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	if err := f.svc.Register(context.Background(), srv); err != nil {
		tb.Fatal(err)
	}
	if err := f.svc.RegisterSaved(context.Background(), srv); err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	return &savedEnv{fixture: f, bus: b, state: st, base: "http://" + srv.HTTPAddr(), grpc: srv.GRPCAddr()}
}

// addKey adds an API key for tenant with scopes under name in e.keys.
func (e *savedEnv) addKey(tb testing.TB, name, tenant string, scopes ...auth.Scope) {
	tb.Helper()
	id, secret, full := auth.NewKeySecret()
	b, _ := json.Marshal(auth.Key{ID: id, TenantID: tenant, Scopes: scopes, Hash: auth.HashSecret(secret)})
	if err := e.svc.auth.Keys.Apply(auth.KVKey(tenant, id), b, false); err != nil {
		tb.Fatal(err)
	}
	e.keys[name] = full
}

// call sends a JSON request as the holder of e.keys[who] and decodes the
// JSON answer.
func (e *savedEnv) call(tb testing.TB, who, method, path, body string) (int, map[string]any) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.keys[who])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%s %s: %d %v: %s", method, path, resp.StatusCode, err, b)
	}
	return resp.StatusCode, m
}

// must is call expecting status want.
func (e *savedEnv) must(tb testing.TB, want int, who, method, path, body string) map[string]any {
	tb.Helper()
	code, m := e.call(tb, who, method, path, body)
	if code != want {
		tb.Fatalf("%s %s %s: status %d, want %d: %v", who, method, path, code, want, m)
	}
	return m
}

func names(list []any) []string {
	var out []string
	for _, x := range list {
		out = append(out, x.(map[string]any)["name"].(string))
	}
	return out
}

func TestSavedSearchCRUD(t *testing.T) {
	e := newSavedEnv(t, nil)
	a := e.must(t, 200, "acme", "POST", "/v1/searches", `{"name": " Errors ", "query": "level:error"}`)
	id := a["id"].(string)
	if a["name"] != "Errors" || a["query"] != "level:error" || a["created_at"] != a["updated_at"] || id == "" {
		t.Fatalf("create: %v", a)
	}
	e.must(t, 200, "acme", "POST", "/v1/searches", `{"name": "api slow", "query": "service:api | stats p95(duration_ms)"}`)
	if got := e.must(t, 200, "acme", "GET", "/v1/searches/"+id, ""); got["name"] != "Errors" || got["query"] != "level:error" {
		t.Fatalf("get: %v", got)
	}
	if got := names(e.must(t, 200, "acme", "GET", "/v1/searches", "")["searches"].([]any)); strings.Join(got, ",") != "api slow,Errors" {
		t.Fatalf("list by name: %v", got)
	}
	// Names are unique per tenant, whatever their case.
	if m := e.must(t, 409, "acme", "POST", "/v1/searches", `{"name": "errors", "query": "x"}`); m["message"] != `a saved search named "Errors" already exists` {
		t.Fatalf("duplicate: %v", m)
	}
	if m := e.must(t, 409, "acme", "PUT", "/v1/searches/"+id, `{"name": "API SLOW", "query": "x"}`); m["code"] != "already_exists" {
		t.Fatalf("rename onto a taken name: %v", m)
	}
	time.Sleep(2 * time.Millisecond) // updated_at must move past created_at
	u := e.must(t, 200, "acme", "PUT", "/v1/searches/"+id, `{"name": "5xx", "query": "status:500"}`)
	if u["id"] != id || u["name"] != "5xx" || u["query"] != "status:500" || u["created_at"] != a["created_at"] || u["updated_at"] == a["updated_at"] {
		t.Fatalf("update: %v (was %v)", u, a)
	}
	// The old name is free again, the new one taken; renaming to itself in
	// another case is fine.
	e.must(t, 200, "acme", "POST", "/v1/searches", `{"name": "Errors", "query": ""}`)
	e.must(t, 409, "acme", "POST", "/v1/searches", `{"name": "5XX", "query": ""}`)
	e.must(t, 200, "acme", "PUT", "/v1/searches/"+id, `{"name": "5XX", "query": "status:500"}`)
	e.must(t, 200, "acme", "DELETE", "/v1/searches/"+id, "")
	e.must(t, 404, "acme", "GET", "/v1/searches/"+id, "")
	e.must(t, 404, "acme", "DELETE", "/v1/searches/"+id, "")
	e.must(t, 404, "acme", "PUT", "/v1/searches/"+id, `{"name": "again", "query": ""}`)
	// Its name is free again.
	e.must(t, 200, "acme", "POST", "/v1/searches", `{"name": "5xx", "query": ""}`)
	if got := names(e.must(t, 200, "acme", "GET", "/v1/searches", "")["searches"].([]any)); strings.Join(got, ",") != "5xx,api slow,Errors" {
		t.Fatalf("list after changes: %v", got)
	}
}

// TestSavedNameRace creates one name from many clients at once: exactly one
// wins, the others get 409.
func TestSavedNameRace(t *testing.T) {
	e := newSavedEnv(t, nil)
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() { codes[i], _ = e.call(t, "acme", "POST", "/v1/searches", `{"name": "same", "query": ""}`) })
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		switch c {
		case 200:
			won++
		case 409:
		default:
			t.Fatalf("status %d", c)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates won, want 1: %v", won, codes)
	}
	if got := e.must(t, 200, "acme", "GET", "/v1/searches", "")["searches"].([]any); len(got) != 1 {
		t.Fatalf("stored %d searches", len(got))
	}
}

// TestSavedTenantIsolation: another tenant cannot read, change or delete a
// search or dashboard by id, nor see it listed, and may reuse its name.
func TestSavedTenantIsolation(t *testing.T) {
	e := newSavedEnv(t, nil)
	s := e.must(t, 200, "acme", "POST", "/v1/searches", `{"name": "mine", "query": "level:error"}`)
	d := e.must(t, 200, "acme", "POST", "/v1/dashboards", `{"name": "mine", "panels": [{"name": "p", "query": "", "kind": "events"}]}`)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/searches/" + s["id"].(string), ""},
		{"PUT", "/v1/searches/" + s["id"].(string), `{"name": "stolen", "query": ""}`},
		{"DELETE", "/v1/searches/" + s["id"].(string), ""},
		{"GET", "/v1/dashboards/" + d["id"].(string), ""},
		{"GET", "/v1/dashboards/" + d["id"].(string) + "/data?from=2026-11-01T12:00:00Z&to=2026-11-01T12:10:00Z", ""},
		{"PUT", "/v1/dashboards/" + d["id"].(string), `{"name": "stolen"}`},
		{"DELETE", "/v1/dashboards/" + d["id"].(string), ""},
	} {
		e.must(t, 404, "globex", c.method, c.path, c.body)
	}
	if l := e.must(t, 200, "globex", "GET", "/v1/searches", ""); len(l["searches"].([]any)) != 0 {
		t.Fatalf("globex sees searches: %v", l)
	}
	if l := e.must(t, 200, "globex", "GET", "/v1/dashboards", ""); len(l["dashboards"].([]any)) != 0 {
		t.Fatalf("globex sees dashboards: %v", l)
	}
	e.must(t, 200, "globex", "POST", "/v1/searches", `{"name": "mine", "query": ""}`)
	if got := e.must(t, 200, "acme", "GET", "/v1/searches/"+s["id"].(string), ""); got["name"] != "mine" || got["query"] != "level:error" {
		t.Fatalf("acme's search changed: %v", got)
	}
	if got := e.must(t, 200, "acme", "GET", "/v1/dashboards/"+d["id"].(string), ""); got["name"] != "mine" || len(got["panels"].([]any)) != 1 {
		t.Fatalf("acme's dashboard changed: %v", got)
	}
}

func TestSavedSearchValidation(t *testing.T) {
	e := newSavedEnv(t, nil)
	e.addKey(t, "ingest", "acme", auth.ScopeIngest)
	e.addKey(t, "admin", "acme", auth.ScopeAdmin)
	long := strings.Repeat("é", 101)
	for _, c := range []struct {
		who, method, path, body string
		code                    int
		message                 string
		position                float64 // -1: no position
	}{
		{"acme", "POST", "/v1/searches", `{"name": "", "query": "x"}`, 400, "name must be 1 to 100 characters", -1},
		{"acme", "POST", "/v1/searches", `{"name": "   ", "query": "x"}`, 400, "name must be 1 to 100 characters", -1},
		{"acme", "POST", "/v1/searches", `{"name": "` + long + `", "query": "x"}`, 400, "name must be 1 to 100 characters", -1},
		{"acme", "POST", "/v1/searches", `{"name": "a\u0007b", "query": "x"}`, 400, "name must not contain control characters", -1},
		{"acme", "POST", "/v1/searches", `{"name": "n", "query": "level:error AND (x"}`, 400, `query: at 16: unclosed "("`, 16},
		{"acme", "POST", "/v1/searches", `{"name": "n", "query": "| stats nope(x)"}`, 400, "", 8},
		{"acme", "GET", "/v1/searches/a.b", "", 400, `invalid saved search id "a.b"`, -1},
		{"acme", "GET", "/v1/searches/nosuch", "", 404, `no saved search "nosuch"`, -1},
		{"ingest", "GET", "/v1/searches", "", 403, `this credential lacks the "query" scope`, -1},
		{"ingest", "POST", "/v1/searches", `{"name": "n", "query": ""}`, 403, `this credential lacks the "query" or "admin" scope`, -1},
		{"admin", "GET", "/v1/searches", "", 403, `this credential lacks the "query" scope`, -1},
		{"nobody", "GET", "/v1/searches", "", 401, "", -1},
	} {
		code, m := e.call(t, c.who, c.method, c.path, c.body)
		if code != c.code || c.message != "" && m["message"] != c.message {
			t.Errorf("%s %s %s: %d %v, want %d %q", c.who, c.method, c.body, code, m, c.code, c.message)
			continue
		}
		if c.position >= 0 {
			if d, _ := m["details"].(map[string]any); d["position"] != c.position {
				t.Errorf("%s: details %v, want position %v", c.body, m["details"], c.position)
			}
		}
	}
	// An admin key may write; nothing bad was stored.
	e.must(t, 200, "admin", "POST", "/v1/searches", `{"name": "by admin", "query": ""}`)
	if got := names(e.must(t, 200, "acme", "GET", "/v1/searches", "")["searches"].([]any)); strings.Join(got, ",") != "by admin" {
		t.Fatalf("stored: %v", got)
	}
}

// TestSavedGRPC drives both services over the gRPC listener.
func TestSavedGRPC(t *testing.T) {
	e := newSavedEnv(t, testRows())
	conn, err := grpc.NewClient(e.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.keys["acme"])
	searches, dashes := sawmillv1.NewSavedSearchServiceClient(conn), sawmillv1.NewDashboardServiceClient(conn)
	s, err := searches.CreateSavedSearch(ctx, &sawmillv1.SavedSearch{Name: "errors", Query: "level:error"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := searches.GetSavedSearch(ctx, &sawmillv1.GetSavedSearchRequest{Id: s.GetId()}); err != nil || got.GetQuery() != "level:error" {
		t.Fatalf("get: %v %v", got, err)
	}
	_, err = searches.CreateSavedSearch(ctx, &sawmillv1.SavedSearch{Name: "bad", Query: "("})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad query: %v", err)
	}
	d, err := dashes.CreateDashboard(ctx, &sawmillv1.Dashboard{Name: "d", Panels: []*sawmillv1.Panel{{Name: "n", Query: "", Kind: "number"}}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := dashes.GetDashboardData(ctx, &sawmillv1.GetDashboardDataRequest{Id: d.GetId(), From: ts(t0), To: ts(t0.Add(10 * time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for _, r := range e.rows {
		if r.Tenant == "acme" && r.Time >= t0.UnixNano() && r.Time < t0.Add(10*time.Minute).UnixNano() {
			want++
		}
	}
	if got := data.GetPanels()[0].GetRows()[0].GetValues()[0].GetNumberValue(); got != want {
		t.Fatalf("count %v, want %v", got, want)
	}
	other := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.keys["globex"])
	if _, err := dashes.DeleteDashboard(other, &sawmillv1.DeleteDashboardRequest{Id: d.GetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("other tenant's delete: %v", err)
	}
}
