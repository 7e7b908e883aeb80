package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// clock is a test clock: real time shifted by an adjustable offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// A free tenant driven past its quota through two edge nodes at once is
// refused on both within 2 s; the overshoot is reported; when the period
// rolls over the tenant is let in again.
func TestQuotaTwoEdges(t *testing.T) {
	const limit = 3000
	plans := filepath.Join(t.TempDir(), "plans.json")
	os.WriteFile(plans, []byte(fmt.Sprintf(`{"default":"tiny","plans":[{"name":"tiny","monthly_events":%d,
		"monthly_bytes":1073741824,"hard_cap":true,"retention_days":7,"max_query_days":7}]}`, limit)), 0o644)
	nats := testenv.StartNATS(t)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	clk := &clock{}
	node := func() *Stack {
		cfg, err := parseConfig("dev", []string{
			"-data-dir", t.TempDir(), "-http.addr", "127.0.0.1:0", "-grpc.addr", "127.0.0.1:0", "-syslog.addr", "127.0.0.1:0",
			"-nats.url", nats.URL(), "-clickhouse.addr", chAddr, "-clickhouse.database", db,
			"-auth.jwt-key", strings.Repeat("q", 32), "-plans", plans,
			"-writer.batch-wait", "100ms", "-ingest.report-interval", "200ms",
			"-billing.signup-per-minute", "0", "-billing.bcrypt-cost", "4",
		}, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		cfg.Clock = clk.now
		cfg.Quota.Publish = 200 * time.Millisecond
		st, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		return st
	}
	n1, n2 := node(), node()
	c1 := client{t: t, base: "http://" + n1.Server.HTTPAddr()}
	c2 := client{t: t, base: "http://" + n2.Server.HTTPAddr()}
	a := c1.signup("quota@q.example")

	batch := strings.Repeat(`{"message":"counted"}`+"\n", 25)
	var accepted atomic.Int64
	var crossed atomic.Int64 // unix nanos when accepted first reached the limit
	refusedAt := [2]time.Time{}
	var wg sync.WaitGroup
	for i, c := range []client{c1, c2} {
		wg.Add(1)
		go func(i int, c client) {
			defer wg.Done()
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
				req, _ := http.NewRequest("POST", c.base+"/v1/ingest", strings.NewReader(batch))
				req.Header.Set("Authorization", "Bearer "+a.key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					if accepted.Add(25) >= limit {
						crossed.CompareAndSwap(0, time.Now().UnixNano())
					}
					time.Sleep(5 * time.Millisecond)
				case 429:
					if resp.Header.Get("Retry-After") == "" {
						t.Error("429 without Retry-After")
					}
					refusedAt[i] = time.Now()
					return
				default:
					t.Errorf("edge %d: status %d", i, resp.StatusCode)
					return
				}
			}
			t.Errorf("edge %d never refused the tenant", i)
		}(i, c)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	cross := time.Unix(0, crossed.Load())
	lag := max(refusedAt[0].Sub(cross), refusedAt[1].Sub(cross))
	overshoot := accepted.Load() - limit
	t.Logf("quota %d events: accepted %d (overshoot %d, %.1f%%); both edges refusing %v after the limit was crossed",
		limit, accepted.Load(), overshoot, float64(overshoot)*100/limit, lag.Round(time.Millisecond))
	if lag > 2*time.Second {
		t.Fatalf("edges refused %v after the quota was used up, want within 2s", lag)
	}

	// The refusal says which quota and when it resets; headers say where
	// the tenant stands.
	code, m := c2.do("POST", "/v1/ingest", a.key, batch)
	d, _ := m["details"].(map[string]any)
	if code != 429 || m["code"] != "resource_exhausted" || d["quota"] != "events" || d["resets_at"] == nil {
		t.Fatalf("over quota: %d %v", code, m)
	}

	// Everything accepted is stored and metered, no more.
	now := time.Now().UTC()
	q := "/v1/usage?granularity=hour&from=" + now.Add(-2*time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339)
	want := fmt.Sprint(accepted.Load())
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, m := c1.do("GET", q, a.key, nil)
		if m["total_events"] == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %v, want %s events", m["total_events"], want)
		}
	}

	// The period rolls over: the tenant is let in again.
	clk.advance(32 * 24 * time.Hour)
	for _, c := range []client{c1, c2} {
		req, _ := http.NewRequest("POST", c.base+"/v1/ingest", strings.NewReader(batch))
		req.Header.Set("Authorization", "Bearer "+a.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("after the period rolled over: %d", resp.StatusCode)
		}
		if resp.Header.Get("Sawmill-Quota-Events-Limit") != fmt.Sprint(limit) {
			t.Fatalf("quota headers: %v", resp.Header)
		}
	}
}

// twoNodes starts two sawmill processes (every role) sharing NATS and
// ClickHouse, with the given plan catalogue and fast quota reporting.
func twoNodes(t *testing.T, plansJSON string, clk *clock) (*Stack, *Stack) {
	t.Helper()
	plans := filepath.Join(t.TempDir(), "plans.json")
	os.WriteFile(plans, []byte(plansJSON), 0o644)
	nats := testenv.StartNATS(t)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	node := func() *Stack {
		cfg, err := parseConfig("dev", []string{
			"-data-dir", t.TempDir(), "-http.addr", "127.0.0.1:0", "-grpc.addr", "127.0.0.1:0", "-syslog.addr", "127.0.0.1:0",
			"-nats.url", nats.URL(), "-clickhouse.addr", chAddr, "-clickhouse.database", db,
			"-auth.jwt-key", strings.Repeat("q", 32), "-plans", plans,
			"-writer.batch-wait", "100ms", "-ingest.report-interval", "200ms",
			"-billing.signup-per-minute", "0", "-billing.bcrypt-cost", "4",
		}, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		if clk != nil {
			cfg.Clock = clk.now
		}
		cfg.Quota.Publish = 200 * time.Millisecond
		st, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(st.Close)
		return st
	}
	return node(), node()
}

// Two edges, two clients each, as fast as they can: the tenant's rate limit
// holds within the documented bound (limit × duration + one report interval
// of the limit + one second of burst per edge).
func TestRateLimitTwoEdges(t *testing.T) {
	const perSecond = 2000
	n1, n2 := twoNodes(t, fmt.Sprintf(`{"default":"rl","plans":[{"name":"rl","monthly_events":100000000,
		"monthly_bytes":107374182400,"retention_days":7,"max_query_days":7,"events_per_second":%d}]}`, perSecond), nil)
	c1 := client{t: t, base: "http://" + n1.Server.HTTPAddr()}
	a := c1.signup("rate@r.example")
	batch := strings.Repeat(`{"message":"paced"}`+"\n", 50)
	post := func(base string) (int, http.Header) {
		req, _ := http.NewRequest("POST", base+"/v1/ingest", strings.NewReader(batch))
		req.Header.Set("Authorization", "Bearer "+a.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	// Billing writes the tenant's limits after its first traffic.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, h := post(c1.base); h.Get("RateLimit-Limit") == fmt.Sprint(perSecond) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rate limit never applied")
		}
	}
	time.Sleep(time.Second) // let the bucket and reports settle

	const dur = 4 * time.Second
	var admitted, refused atomic.Int64
	var sawHeaders atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for _, base := range []string{"http://" + n1.Server.HTTPAddr(), "http://" + n1.Server.HTTPAddr(), "http://" + n2.Server.HTTPAddr(), "http://" + n2.Server.HTTPAddr()} {
		wg.Add(1)
		go func(base string) {
			defer wg.Done()
			for time.Since(start) < dur {
				code, h := post(base)
				switch code {
				case 200:
					admitted.Add(50)
				case 429:
					refused.Add(50)
					if h.Get("Retry-After") != "" && h.Get("RateLimit-Remaining") == "0" && h.Get("RateLimit-Reset") != "" {
						sawHeaders.Store(true)
					}
					time.Sleep(20 * time.Millisecond)
				default:
					t.Errorf("status %d", code)
					return
				}
			}
		}(base)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	rate := float64(admitted.Load()) / elapsed
	bound := perSecond*elapsed + perSecond*0.2 + 2*perSecond
	t.Logf("limit %d/s over two edges: admitted %d in %.1fs (%.0f/s), refused %d; bound %.0f",
		perSecond, admitted.Load(), elapsed, rate, refused.Load(), bound)
	if float64(admitted.Load()) > bound {
		t.Fatalf("admitted %d events, above the bound %.0f", admitted.Load(), bound)
	}
	if rate < 0.6*perSecond {
		t.Fatalf("admitted only %.0f/s of a %d/s limit", rate, perSecond)
	}
	if refused.Load() == 0 || !sawHeaders.Load() {
		t.Fatalf("never refused with Retry-After and RateLimit-* headers (refused %d)", refused.Load())
	}
}

// A paid plan accrues overage up to the tenant's spend cap, then is refused;
// the usage API shows where the tenant stands.
func TestSpendCapAndUsageStatus(t *testing.T) {
	n1, _ := twoNodes(t, `{"default":"paid","plans":[{"name":"paid","price_cents":900,"monthly_events":200,
		"monthly_bytes":1073741824,"overage_cents_per_million_events":1000000,"retention_days":7,"max_query_days":7}]}`, nil)
	c := client{t: t, base: "http://" + n1.Server.HTTPAddr()}
	a := c.signup("cap@c.example")
	// 1,000,000 cents per million events: one cent per extra event.
	if code, m := c.do("PUT", "/v1/spend-cap", a.token, map[string]any{"spend_cap_cents": 300}); code != 200 || m["spend_cap_cents"] != "300" {
		t.Fatalf("set spend cap: %d %v", code, m)
	}
	if code, _ := c.do("PUT", "/v1/spend-cap", a.key, map[string]any{"spend_cap_cents": 1}); code != 403 {
		t.Fatalf("spend cap with an ingest key: %d", code)
	}
	batch := strings.Repeat(`{"message":"billed"}`+"\n", 50)
	var accepted int
	var refusal map[string]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && refusal == nil; {
		code, m := c.do("POST", "/v1/ingest", a.key, batch)
		switch code {
		case 200:
			accepted += 50
			time.Sleep(20 * time.Millisecond)
		case 429:
			refusal = m
		default:
			t.Fatalf("ingest: %d %v", code, m)
		}
	}
	if refusal == nil || refusal["details"].(map[string]any)["quota"] != "spend_cap" {
		t.Fatalf("never refused by the spend cap (accepted %d): %v", accepted, refusal)
	}
	t.Logf("included 200 events, cap 300 cents at 1 cent per extra event: accepted %d before the cap bit", accepted)
	if accepted < 500 {
		t.Fatalf("refused after %d events, before the cap of 200 + 300 was reached", accepted)
	}
	// Every ingest path answers with the quota headers: OTLP/HTTP, ES bulk,
	// and gRPC (as response metadata).
	for _, r := range []struct{ path, ctype, body string }{
		{"/v1/logs", "application/json", `{"resourceLogs":[]}`},
		{"/v1/es/_bulk", "application/x-ndjson", "{\"index\":{}}\n{\"message\":\"x\"}\n"},
	} {
		req, _ := http.NewRequest("POST", c.base+r.path, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer "+a.key)
		req.Header.Set("Content-Type", r.ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Sawmill-Quota-Events-Limit") != "200" {
			t.Fatalf("%s: no quota headers: %d %v", r.path, resp.StatusCode, resp.Header)
		}
	}
	conn, err := grpc.NewClient(n1.Server.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var hdr metadata.MD
	gctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+a.key)
	sawmillv1.NewIngestServiceClient(conn).Push(gctx, &sawmillv1.PushRequest{Events: []*sawmillv1.LogEvent{{Message: "x"}}}, grpc.Header(&hdr))
	if got := hdr.Get("sawmill-quota-events-limit"); len(got) != 1 || got[0] != "200" {
		t.Fatalf("gRPC quota metadata: %v", hdr)
	}

	now := time.Now().UTC()
	q := "/v1/usage?from=" + now.Add(-time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339)
	_, m := c.do("GET", q, a.key, nil)
	st, _ := m["quota"].(map[string]any)
	if st == nil || st["spend_cap_cents"] != "300" || st["hard_cap"] != false || st["events_limit"] != "200" || st["overage_cents"] == "0" {
		t.Fatalf("usage quota status: %v", m["quota"])
	}
}
