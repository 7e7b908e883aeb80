package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// stack starts a whole sawmill (every role) against a fresh NATS server and
// a fresh ClickHouse database, on free ports.
func stack(t *testing.T, mutate func(*Config)) (*Stack, *testenv.NATS) {
	t.Helper()
	nats := testenv.StartNATS(t)
	cfg, err := parseConfig("dev", []string{
		"-data-dir", t.TempDir(),
		"-http.addr", "127.0.0.1:0", "-grpc.addr", "127.0.0.1:0", "-syslog.addr", "127.0.0.1:0",
		"-nats.url", nats.URL(),
		"-clickhouse.addr", testenv.ClickHouse(t), "-clickhouse.database", testenv.Database(t),
		"-writer.batch-wait", "100ms",
		"-billing.signup-per-minute", "0", "-billing.bcrypt-cost", "4",
	}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	st, err := Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st, nats
}

type client struct {
	t    *testing.T
	base string
}

// do sends a JSON request and decodes a JSON answer into a map.
func (c client) do(method, path, bearer string, body any, hdr ...string) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: status %d, body is not a JSON object: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m
}

type account struct{ tenant, key, token string }

func (c client) signup(email string) account {
	c.t.Helper()
	code, m := c.do("POST", "/v1/signup", "", map[string]string{"email": email, "password": "correct horse battery", "organization": "Org " + email})
	if code != 200 {
		c.t.Fatalf("signup %s: %d %v", email, code, m)
	}
	a := account{tenant: m["tenant_id"].(string), key: m["api_key"].(string), token: m["token"].(string)}
	if !strings.HasPrefix(a.key, "sm_") || a.tenant == "" || a.token == "" {
		c.t.Fatalf("signup answer %v", m)
	}
	return a
}

// search runs one search over the last hour.
func (c client) search(key, query string, limit int, cursor string) (int, map[string]any) {
	c.t.Helper()
	now := time.Now().UTC()
	return c.do("POST", "/v1/search", key, map[string]any{
		"query": query, "from": now.Add(-time.Hour).Format(time.RFC3339Nano), "to": now.Add(time.Minute).Format(time.RFC3339Nano),
		"limit": limit, "cursor": cursor,
	})
}

func events(m map[string]any) []map[string]any {
	var out []map[string]any
	evs, _ := m["events"].([]any)
	for _, e := range evs {
		out = append(out, e.(map[string]any))
	}
	return out
}

// waitCount polls a search until it returns want events (the writer flushes
// every 100ms here) and fails after 20s.
func (c client) waitCount(key, query string, want int) []map[string]any {
	c.t.Helper()
	var got []map[string]any
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, m := c.search(key, query, 1000, "")
		if code != 200 {
			c.t.Fatalf("search %q: %d %v", query, code, m)
		}
		if got = events(m); len(got) >= want {
			break
		}
	}
	if len(got) != want {
		c.t.Fatalf("search %q: %d events, want %d", query, len(got), want)
	}
	return got
}

func TestEndToEnd(t *testing.T) {
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}

	a := c.signup("alice@a.example")
	b := c.signup("bob@b.example")
	if code, m := c.do("POST", "/v1/signup", "", map[string]string{"email": "ALICE@a.example", "password": "another long one", "organization": "x"}); code != 409 || m["code"] != "already_exists" {
		t.Fatalf("duplicate e-mail: %d %v", code, m)
	}

	// Tenant A ships NDJSON over HTTP, with two bad lines among good ones.
	ndjson := strings.Join([]string{
		`{"asctime":"` + time.Now().UTC().Format("2006-01-02 15:04:05,000") + `","levelname":"ERROR","name":"django.request","message":"Internal Server Error: /checkout","request_id":"req-alpha-1","status_code":500,"duration_ms":812.5,"service":"web"}`,
		`{"message": "broken json`,
		`{"level":"info","msg":"task succeeded","task_id":"c1a2","service":"worker"}`,
		`["not an object"]`,
		`{"level":"warning","message":"slow query alpha","duration_ms":1500}`,
	}, "\n")
	code, m := c.do("POST", "/v1/ingest", a.key, ndjson, "Content-Type", "application/x-ndjson")
	if code != 200 || m["accepted"] != 3.0 || m["rejected"] != 2.0 {
		t.Fatalf("ingest NDJSON: %d %v", code, m)
	}
	errs := m["errors"].([]any)
	if len(errs) != 2 || errs[0].(map[string]any)["index"] != 1.0 || errs[1].(map[string]any)["index"] != 3.0 {
		t.Fatalf("line errors should name lines 1 and 3: %v", errs)
	}
	for _, e := range errs {
		if e.(map[string]any)["reason"] == "" {
			t.Fatalf("line error without a reason: %v", e)
		}
	}

	// Tenant B ships over gRPC, with a secret word and A's request id in it.
	conn, err := grpc.NewClient(st.Server.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+b.key)
	push, err := sawmillv1.NewIngestServiceClient(conn).Push(bctx, &sawmillv1.PushRequest{Events: []*sawmillv1.LogEvent{
		{Message: "bravo secret payment failed", Level: "error", RequestId: "req-alpha-1", Service: "web", Timestamp: timestamppb.Now()},
		{Message: "bravo " + a.tenant, Level: "info"},
		{Message: ""}, // rejected: empty
	}})
	if err != nil || push.Accepted != 2 || push.Rejected != 1 || len(push.Errors) != 1 || push.Errors[0].Index != 2 {
		t.Fatalf("gRPC push: %v %v", push, err)
	}

	got := c.waitCount(a.key, "", 3)
	c.waitCount(b.key, "", 2)
	if got[0]["message"] != "slow query alpha" && got[2]["message"] != "Internal Server Error: /checkout" {
		t.Logf("order: %v", got)
	}
	// The Django line kept its fields.
	dj := c.waitCount(a.key, "req-alpha-1", 1)[0]
	if dj["level"] != "error" || dj["severity_number"] != 17.0 || dj["logger"] != "django.request" || dj["service"] != "web" ||
		dj["request_id"] != "req-alpha-1" || dj["attributes"].(map[string]any)["duration_ms"] != 812.5 {
		t.Fatalf("django event: %v", dj)
	}

	// Isolation: nothing A searches for reaches B's rows.
	for _, q := range []string{"", "bravo", "secret", "req-alpha-1", b.tenant, a.tenant, "payment", `"bravo secret"`,
		`message:bravo`, `service:web`, `level:error`, `' OR 1=1 --`, `tenant_id:` + b.tenant} {
		code, m := c.search(a.key, q, 1000, "")
		if code != 200 && code != 400 {
			t.Fatalf("search %q: %d %v", q, code, m)
		}
		for _, e := range events(m) {
			if strings.Contains(e["message"].(string), "bravo") {
				t.Fatalf("tenant A's search %q returned tenant B's event %v", q, e)
			}
		}
	}
	c.waitCount(b.key, "req-alpha-1", 1)
	c.waitCount(b.key, a.tenant, 1) // B's own line that mentions A's id
	c.waitCount(a.key, "level:warning", 1)
	c.waitCount(a.key, "duration_ms:1500", 1)

	// gRPC search with a session token.
	sctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+a.token)
	sr, err := sawmillv1.NewQueryServiceClient(conn).Search(sctx, &sawmillv1.SearchRequest{
		Query: "task", From: timestamppb.New(time.Now().Add(-time.Hour)), To: timestamppb.New(time.Now().Add(time.Minute))})
	if err != nil || len(sr.Events) != 1 || sr.Events[0].Attributes.Fields["task_id"].GetStringValue() != "c1a2" {
		t.Fatalf("gRPC search: %v %v", sr, err)
	}
	_, err = sawmillv1.NewQueryServiceClient(conn).Search(sctx, &sawmillv1.SearchRequest{Query: "x"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("search without a time range: %v", err)
	}
}

func TestAuthErrors(t *testing.T) {
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("carol@c.example")
	line := `{"message":"hello"}`

	expect := func(name string, code int, m map[string]any, wantCode int, wantErr string) {
		t.Helper()
		if code != wantCode || m["code"] != wantErr || m["message"] == "" {
			t.Fatalf("%s: %d %v, want %d %s with a message", name, code, m, wantCode, wantErr)
		}
	}
	code, m := c.do("POST", "/v1/ingest", "", line)
	expect("no key", code, m, 401, "unauthenticated")
	code, m = c.do("POST", "/v1/ingest", "sm_nosuchkey_abcdefabcdef", line)
	expect("wrong key", code, m, 401, "unauthenticated")
	code, m = c.do("POST", "/v1/ingest", a.key+"x", line)
	expect("wrong secret", code, m, 401, "unauthenticated")

	// Keys: create a query-only key with the session, use it on ingest.
	code, m = c.do("POST", "/v1/keys", a.token, map[string]any{"name": "grafana", "scopes": []string{"query"}})
	if code != 200 {
		t.Fatalf("create key: %d %v", code, m)
	}
	qkey := m["secret"].(string)
	qid := m["key"].(map[string]any)["id"].(string)
	code, m = c.do("POST", "/v1/ingest", qkey, line)
	expect("query key on ingest", code, m, 403, "permission_denied")
	code, m = c.do("POST", "/v1/keys", a.key, map[string]any{"scopes": []string{"query"}})
	expect("ingest key managing keys", code, m, 403, "permission_denied")
	code, m = c.do("POST", "/v1/keys", a.token, map[string]any{"scopes": []string{"root"}})
	expect("unknown scope", code, m, 400, "invalid_argument")

	// Sessions: tampered and expired tokens.
	parts := strings.Split(a.token, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	code, m = c.do("GET", "/v1/keys", tampered, nil)
	expect("tampered token", code, m, 401, "unauthenticated")
	sessions, err := st.sessions(true)
	if err != nil {
		t.Fatal(err)
	}
	expired := expiredToken(t, sessions)
	code, m = c.do("GET", "/v1/keys", expired, nil)
	expect("expired token", code, m, 401, "unauthenticated")

	code, m = c.do("GET", "/v1/keys", a.token, nil)
	if code != 200 || len(m["keys"].([]any)) != 2 {
		t.Fatalf("list keys: %d %v", code, m)
	}
	for _, k := range m["keys"].([]any) {
		if _, leaked := k.(map[string]any)["secret"]; leaked {
			t.Fatal("list shows a secret")
		}
	}

	// Revocation reaches the edge within a second.
	if code, m := c.search(qkey, "", 10, ""); code != 200 {
		t.Fatalf("query key before revocation: %d %v", code, m)
	}
	code, m = c.do("DELETE", "/v1/keys/"+qid, a.token, nil)
	if code != 200 {
		t.Fatalf("revoke: %d %v", code, m)
	}
	revoked := time.Now()
	for {
		code, m = c.search(qkey, "", 10, "")
		if code == 401 {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("revoked key still works after %v: %d %v", time.Since(revoked), code, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, m = c.do("DELETE", "/v1/keys/"+qid, a.token, nil)
	expect("revoke twice", code, m, 404, "not_found")

	// Login.
	code, m = c.do("POST", "/v1/login", "", map[string]string{"email": "carol@c.example", "password": "wrong password!"})
	expect("bad password", code, m, 401, "unauthenticated")
	code, m = c.do("POST", "/v1/login", "", map[string]string{"email": "Carol@C.example", "password": "correct horse battery"})
	if code != 200 || m["token"] == "" || m["tenant_id"] != a.tenant {
		t.Fatalf("login: %d %v", code, m)
	}
}

func TestIngestEdgeCases(t *testing.T) {
	st, _ := stack(t, func(c *Config) { c.Ingest.MaxRequestBytes = 64 << 10 })
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("dave@d.example")

	// gzip + JSON array.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprint(zw, `[{"message":"zipped one"},{"message":"zipped two"}]`)
	zw.Close()
	code, m := c.do("POST", "/v1/ingest", a.key, gz.Bytes(), "Content-Encoding", "gzip", "Content-Type", "application/json")
	if code != 200 || m["accepted"] != 2.0 {
		t.Fatalf("gzip array: %d %v", code, m)
	}
	// Idempotency: the same request twice is stored once.
	for i := 0; i < 2; i++ {
		code, m = c.do("POST", "/v1/ingest", a.key, `{"message":"only once please"}`, "Idempotency-Key", "abc-123")
		if code != 200 || m["accepted"] != 1.0 {
			t.Fatalf("idempotent post %d: %d %v", i, code, m)
		}
	}
	// Nothing valid → 400 naming the lines.
	code, m = c.do("POST", "/v1/ingest", a.key, "{oops\n{\"message\":\"\"}")
	if code != 400 || m["code"] != "invalid_argument" || len(m["details"].(map[string]any)["errors"].([]any)) != 2 {
		t.Fatalf("all bad: %d %v", code, m)
	}
	code, m = c.do("POST", "/v1/ingest", a.key, "")
	if code != 400 {
		t.Fatalf("empty body: %d %v", code, m)
	}
	code, m = c.do("POST", "/v1/ingest", a.key, `{"message":"`+strings.Repeat("x", 70<<10)+`"}`)
	if code != 413 || m["code"] != "payload_too_large" {
		t.Fatalf("too large: %d %v", code, m)
	}
	// A gzip bomb is cut off at the limit, after decompression.
	gz.Reset()
	zw = gzip.NewWriter(&gz)
	zw.Write([]byte(`{"message":"`))
	zw.Write(bytes.Repeat([]byte("a"), 1<<20))
	zw.Write([]byte(`"}`))
	zw.Close()
	code, m = c.do("POST", "/v1/ingest", a.key, gz.Bytes(), "Content-Encoding", "gzip")
	if code != 413 {
		t.Fatalf("gzip bomb: %d %v", code, m)
	}
	c.waitCount(a.key, "zipped", 2)
	c.waitCount(a.key, `"only once"`, 1)
	time.Sleep(300 * time.Millisecond) // a duplicate would have been written by now
	c.waitCount(a.key, `"only once"`, 1)
}

func TestPagination(t *testing.T) {
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("erin@e.example")
	// 25 events, most sharing one timestamp, across three requests.
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano)
	for r := 0; r < 3; r++ {
		var lines []string
		for i := 0; i < 9 && r*9+i < 25; i++ {
			n := r*9 + i
			stamp := ts
			if n%5 == 0 {
				stamp = time.Now().UTC().Add(-time.Duration(n) * time.Second).Format(time.RFC3339Nano)
			}
			lines = append(lines, fmt.Sprintf(`{"timestamp":%q,"message":"page event %d"}`, stamp, n))
		}
		if code, m := c.do("POST", "/v1/ingest", a.key, strings.Join(lines, "\n")); code != 200 {
			t.Fatalf("ingest: %d %v", code, m)
		}
	}
	c.waitCount(a.key, "page", 25)
	seen := map[string]bool{}
	cursor := ""
	var prev string
	for page := 0; ; page++ {
		code, m := c.search(a.key, "page", 10, cursor)
		if code != 200 {
			t.Fatalf("page %d: %d %v", page, code, m)
		}
		for _, e := range events(m) {
			msg := e["message"].(string)
			if seen[msg] {
				t.Fatalf("page %d repeats %q", page, msg)
			}
			seen[msg] = true
			if ts := e["timestamp"].(string); prev != "" && ts > prev {
				t.Fatalf("not newest first: %s after %s", ts, prev)
			}
			prev = e["timestamp"].(string)
		}
		cursor, _ = m["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 25 {
		t.Fatalf("pages returned %d distinct events, want 25", len(seen))
	}
	if code, m := c.search(a.key, "page", 10, "garbage"); code != 400 {
		t.Fatalf("bad cursor: %d %v", code, m)
	}
	if code, m := c.search(a.key, `"unterminated`, 10, ""); code != 400 || m["message"] == "" {
		t.Fatalf("bad query: %d %v", code, m)
	}
}

func TestHealth(t *testing.T) {
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	if code, m := c.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz: %d %v", code, m)
	}
	code, m := c.do("GET", "/readyz", "", nil)
	if code != 200 || m["nats"] != "ok" || m["clickhouse"] != "ok" || m["migrations"] != "ok" {
		t.Fatalf("readyz: %d %v", code, m)
	}
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"sawmill_http_requests_total", "sawmill_writer_lag_messages"} {
		if !bytes.Contains(body, []byte(name)) {
			t.Fatalf("/metrics lacks %s", name)
		}
	}
}

func TestSignupRateLimit(t *testing.T) {
	st, _ := stack(t, func(c *Config) { c.Billing.SignupPerMinute = 2; c.Billing.LoginPerMinute = 1 })
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	c.signup("one@r.example")
	c.signup("two@r.example")
	req, _ := http.NewRequest("POST", c.base+"/v1/signup", strings.NewReader(`{"email":"three@r.example","password":"correct horse battery","organization":"x"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third signup in a minute: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	login := map[string]string{"email": "one@r.example", "password": "correct horse battery"}
	if code, m := c.do("POST", "/v1/login", "", login); code != 200 {
		t.Fatalf("first login: %d %v", code, m)
	}
	if code, m := c.do("POST", "/v1/login", "", login); code != 429 || m["code"] != "resource_exhausted" {
		t.Fatalf("second login in a minute: %d %v", code, m)
	}
}

// While NATS is down the edge refuses with 503 and Retry-After (nothing is
// half-accepted); when NATS is back it accepts again by itself, and what it
// acknowledged is stored.
func TestBusDownBackpressure(t *testing.T) {
	st, nats := stack(t, func(c *Config) { c.Ingest.PublishTimeout = time.Second })
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("frank@f.example")
	if code, m := c.do("POST", "/v1/ingest", a.key, `{"message":"before the outage"}`); code != 200 {
		t.Fatalf("before: %d %v", code, m)
	}
	nats.Stop()
	req, _ := http.NewRequest("POST", c.base+"/v1/ingest", strings.NewReader(`{"message":"during the outage"}`))
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || m["code"] != "unavailable" {
		t.Fatalf("bus down: %d Retry-After=%q %v", resp.StatusCode, resp.Header.Get("Retry-After"), m)
	}
	code, m := c.do("GET", "/readyz", "", nil)
	if code != 503 || m["nats"] == "ok" {
		t.Fatalf("readyz with NATS down: %d %v", code, m)
	}
	nats.Restart(t)
	var ok bool
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, _ := c.do("POST", "/v1/ingest", a.key, `{"message":"after the outage"}`, "Idempotency-Key", "after-1"); code == 200 {
			ok = true
			break
		}
	}
	if !ok {
		t.Fatal("ingest did not recover after NATS came back")
	}
	c.waitCount(a.key, "outage", 2)
	c.waitCount(a.key, "during", 0)
}

// Plans are public; usage is metered exactly (it equals what is stored) and
// per tenant.
func TestPlansAndUsage(t *testing.T) {
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	code, m := c.do("GET", "/v1/plans", "", nil)
	if code != 200 || m["default"] != "free" || len(m["plans"].([]any)) != 4 {
		t.Fatalf("plans: %d %v", code, m)
	}
	free := m["plans"].([]any)[0].(map[string]any)
	if free["name"] != "free" || free["hard_cap"] != true || free["retention_days"] != 7.0 || free["monthly_events"] != "5000000" {
		t.Fatalf("free plan: %v", free)
	}

	a, b := c.signup("gina@g.example"), c.signup("hank@h.example")
	code, m = c.do("POST", "/v1/ingest", a.key, "{\"message\":\"one\"}\n{\"message\":\"two\"}\n{\"bad\n{\"message\":\"three\",\"k\":\"v\"}")
	if code != 200 || m["accepted"] != 3.0 {
		t.Fatalf("ingest: %d %v", code, m)
	}
	c.do("POST", "/v1/ingest", b.key, `{"message":"b's only event"}`)
	c.waitCount(a.key, "", 3)
	c.waitCount(b.key, "", 1)

	now := time.Now().UTC()
	q := "/v1/usage?granularity=hour&from=" + now.Add(-2*time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339)
	// The view's rows become visible a moment after the logs part: poll.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, m = c.do("GET", q, a.key, nil)
		if code != 200 || m["plan"] != "free" {
			t.Fatalf("usage of A: %d %v", code, m)
		}
		if m["total_events"] == "3" || time.Now().After(deadline) {
			break
		}
	}
	if m["total_events"] != "3" {
		t.Fatalf("usage of A: %v events, want 3", m["total_events"])
	}
	// Bytes billed equal the stored events' sizes: "one", "two", "three" plus
	// the attribute, each with the fixed 16 bytes and level "".
	if want := fmt.Sprint(16 + 3 + 16 + 3 + 16 + 5 + 1 + 1); m["total_bytes"] != want {
		t.Fatalf("usage bytes of A: %v, want %s", m["total_bytes"], want)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, m = c.do("GET", q, b.key, nil); code == 200 && m["total_events"] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage of B: %d %v", code, m)
		}
	}
	if code, m = c.do("GET", "/v1/usage?granularity=week&"+q[strings.Index(q, "from="):], a.key, nil); code != 400 {
		t.Fatalf("bad granularity: %d %v", code, m)
	}
	if code, _ = c.do("GET", q, "", nil); code != 401 {
		t.Fatalf("usage without credentials: %d", code)
	}
	// The free plan allows 7 days per query.
	search := func(days int) (int, map[string]any) {
		return c.do("POST", "/v1/search", a.key, map[string]any{
			"from": now.Add(-time.Duration(days) * 24 * time.Hour).Format(time.RFC3339), "to": now.Format(time.RFC3339)})
	}
	if code, m := search(6); code != 200 {
		t.Fatalf("6-day search on the free plan: %d %v", code, m)
	}
	if code, m := search(10); code != 400 || !strings.Contains(m["message"].(string), "at most 7 days") {
		t.Fatalf("10-day search on the free plan: %d %v", code, m)
	}
}

// The whole stack: a live tail over SSE sees a line ingested through the
// edge, and only the tenant's matching lines.
func TestTailEndToEnd(t *testing.T) {
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a, b := c.signup("tina@t.example"), c.signup("tom@t.example")
	req, _ := http.NewRequest("GET", c.base+"/v1/tail?query=level:error", nil)
	req.Header.Set("Authorization", "Bearer "+a.key)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("tail: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c.do("POST", "/v1/ingest", b.key, `{"message":"b's error","level":"error"}`)
	c.do("POST", "/v1/ingest", a.key, "{\"message\":\"a's info\",\"level\":\"info\"}\n{\"message\":\"a's error\",\"level\":\"error\"}")
	lines := make(chan string)
	go func() {
		buf := make([]byte, 64<<10)
		var pending string
		for {
			n, err := resp.Body.Read(buf)
			pending += string(buf[:n])
			for {
				i := strings.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				lines <- pending[:i]
				pending = pending[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	for line := range lines {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("data line is not JSON: %q", data)
		}
		if ev["message"] != "a's error" {
			t.Fatalf("tail delivered %v", ev)
		}
		return
	}
	t.Fatal("tail ended without the line")
}
