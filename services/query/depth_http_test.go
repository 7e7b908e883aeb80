package query

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// TestDepthHTTP goes through the REST gateway: search gives ids,
// POST /v1/search/context and POST /v1/correlate take them, and a suspended
// tenant gets 403 with the reason in JSON.
func TestDepthHTTP(t *testing.T) {
	f := newFixture(t, depthRows())
	d := tenant.NewDirectory()
	f.svc.SetTenants(d)
	f.svc.setClock(func() time.Time { return t0.Add(time.Hour) })
	srv := server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err := f.svc.Register(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+srv.HTTPAddr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.keys["acme"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, b)
		}
		return resp.StatusCode, m
	}
	rng := `"from": "2026-11-01T12:00:00Z", "to": "2026-11-01T12:10:00Z"`
	code, m := post("/v1/search", `{"query": "\"acme line 100\"", `+rng+`}`)
	if code != 200 || len(m["events"].([]any)) != 1 {
		t.Fatalf("search: %d %v", code, m)
	}
	id := m["events"].([]any)[0].(map[string]any)["id"].(string)
	code, m = post("/v1/search/context", `{"id": "`+id+`", "before": 2, "after": 3}`)
	if code != 200 || len(m["events"].([]any)) != 6 || m["hit"].(float64) != 2 {
		t.Fatalf("context: %d %v", code, m)
	}
	if got := m["events"].([]any)[2].(map[string]any)["message"]; got != "acme line 100" {
		t.Fatalf("context hit: %v", got)
	}
	code, m = post("/v1/correlate", `{"request_id": "req-2", "limit": 5, `+rng+`}`)
	if code != 200 || len(m["events"].([]any)) != 5 || m["truncated"] != true {
		t.Fatalf("correlate: %d %v", code, m)
	}
	code, m = post("/v1/correlate", `{`+rng+`}`)
	if code != 400 || m["message"] != "request_id or trace_id is required" {
		t.Fatalf("correlate without an id: %d %v", code, m)
	}
	if err := d.Apply("acme", tenantJSON(t, tenant.Tenant{ID: "acme", Suspended: true, SuspendedReason: "unpaid invoice"}), false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/search", `{` + rng + `}`},
		{"/v1/search/context", `{"id": "` + id + `"}`},
		{"/v1/correlate", `{"request_id": "req-2", ` + rng + `}`},
		{"/v1/aggregate", `{"query": "| stats count()", ` + rng + `}`},
	} {
		code, m = post(c.path, c.body)
		if code != 403 || m["message"] != "tenant suspended: unpaid invoice" {
			t.Errorf("%s as a suspended tenant: %d %v", c.path, code, m)
		}
	}
}
