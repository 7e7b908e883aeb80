package query

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

const (
	tenantA = "taaaaaaaaaaaa"
	tenantB = "tbbbbbbbbbbbb"
)

// tailEnv is a query role with tail enabled on a real server and a real
// NATS, and a bus client that publishes exactly as the ingest edge does.
type tailEnv struct {
	t    testing.TB
	svc  *Service
	bus  *bus.Bus
	srv  *server.Server
	keys *auth.KeyTable
	base string
	grpc sawmillv1.QueryServiceClient
	nats *testenv.NATS
	stop context.CancelFunc // stops the role: every tail ends
}

func newTailEnv(t testing.TB, cfg TailConfig) *tailEnv {
	t.Helper()
	return newTailEnvOn(t, cfg, testenv.StartNATS(t), auth.NewKeyTable())
}

// newTailEnvOn starts a query node on NATS n with the API keys of keys:
// two of them on one n are two query nodes of one deployment.
func newTailEnvOn(t testing.TB, cfg TailConfig, n *testenv.NATS, keys *auth.KeyTable) *tailEnv {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: "tail-test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	svc := New(Config{}, log, &auth.Authenticator{Keys: keys, MissWait: -1}, nil)
	svc.EnableTail(ctx, b, cfg)
	srv := server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second}, log)
	if err := svc.Register(ctx, srv); err != nil {
		t.Fatal(err)
	}
	svc.RegisterTail(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	t.Cleanup(cancel) // runs first: ends the tails a test left open
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &tailEnv{t: t, svc: svc, bus: b, srv: srv, keys: keys, base: "http://" + srv.HTTPAddr(),
		grpc: sawmillv1.NewQueryServiceClient(conn), nats: n, stop: cancel}
}

// key stores an API key for tenant with scopes and returns it.
func (e *tailEnv) key(tenant string, scopes ...auth.Scope) (full, kvKey string) {
	e.t.Helper()
	id, secret, full := auth.NewKeySecret()
	j, _ := json.Marshal(auth.Key{ID: id, TenantID: tenant, Scopes: scopes, Hash: auth.HashSecret(secret)})
	if err := e.keys.Apply(auth.KVKey(tenant, id), j, false); err != nil {
		e.t.Fatal(err)
	}
	return full, auth.KVKey(tenant, id)
}

// publish stores one batch on the tenant's subject as the ingest edge does
// and returns once JetStream acknowledged it. It retries (with one message
// id, so a retry is never stored twice) while NATS restarts.
func (e *tailEnv) publish(tenant string, evs ...event.Event) {
	e.t.Helper()
	b := bus.Batch{Data: event.AppendBatch(nil, evs), Events: len(evs), RetentionDays: 7, MsgID: auth.RandomID(10)}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _, err := e.bus.PublishBatch(ctx, tenant, b)
		cancel()
		if err == nil {
			return
		}
		if attempt == 50 {
			e.t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ev(level, service, msg string, attrs ...string) event.Event {
	n, _ := event.ParseLevel(level)
	e := event.Event{Time: time.Now().UnixNano(), ObservedTime: time.Now().UnixNano(), Level: event.LevelName(n), SeverityNumber: n,
		Message: msg, Service: service, Environment: "prod", Host: "web-1"}
	for i := 0; i+1 < len(attrs); i += 2 {
		e.Attrs = append(e.Attrs, event.Attr{Key: attrs[i], Value: attrs[i+1]})
	}
	return e
}

// delivery is what a tail client received: events (by message) or a missed
// count, or the error that ended the stream.
type delivery struct {
	messages []string
	missed   int64
	err      string
}

// tailClient is an open tail over SSE or gRPC. Its reader hands over one
// delivery at a time: a test that stops receiving is a client that stops
// reading, and the transport's buffers fill up.
type tailClient struct {
	c    chan delivery
	stop func()
	done chan struct{}
}

func (c *tailClient) close() {
	c.stop()
	<-c.done
}

// next returns the next delivery, failing tb after timeout.
func (c *tailClient) next(tb testing.TB, timeout time.Duration) delivery {
	tb.Helper()
	select {
	case d, ok := <-c.c:
		if !ok {
			tb.Fatal("tail stream ended")
		}
		return d
	case <-time.After(timeout):
		tb.Fatalf("no tail delivery within %s", timeout)
	}
	return delivery{}
}

// openError is a refused tail: status and error body.
type openError struct {
	status     int
	code       string
	body       map[string]any
	retryAfter string
}

// openSSE opens GET /v1/tail. The credential goes in the Authorization
// header, or in access_token when viaParam.
func (e *tailEnv) openSSE(key, query string, viaParam bool) (*tailClient, *openError) {
	e.t.Helper()
	u := e.base + "/v1/tail?query=" + url.QueryEscape(query)
	if viaParam {
		u += "&access_token=" + url.QueryEscape(key)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	if !viaParam && key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		defer cancel()
		defer resp.Body.Close()
		oe := &openError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		if err := json.NewDecoder(resp.Body).Decode(&oe.body); err != nil {
			e.t.Fatalf("error body: %v", err)
		}
		oe.code, _ = oe.body["code"].(string)
		return nil, oe
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		e.t.Fatalf("Content-Type %q", ct)
	}
	c := &tailClient{c: make(chan delivery), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.c)
		defer resp.Body.Close()
		readSSE(ctx, resp.Body, c.c)
	}()
	return c, nil
}

// readSSE parses frames into deliveries; comments are ignored.
func readSSE(ctx context.Context, r io.Reader, out chan<- delivery) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var name string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		case line == "" && len(data) > 0:
			d := sseDelivery(name, data)
			name, data = "", nil
			select {
			case out <- d:
			case <-ctx.Done():
				return
			}
		}
	}
}

func sseDelivery(name string, data []string) delivery {
	var d delivery
	switch name {
	case "missed":
		var m struct{ Missed int64 }
		if err := json.Unmarshal([]byte(data[0]), &m); err != nil || len(data) != 1 {
			return delivery{err: fmt.Sprintf("bad missed frame %q", data)}
		}
		d.missed = m.Missed
	case "error":
		d.err = data[0]
	case "":
		for _, line := range data {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				return delivery{err: fmt.Sprintf("data line is not JSON: %q", line)}
			}
			msg, _ := m["message"].(string)
			d.messages = append(d.messages, msg)
		}
	default:
		d.err = "unknown event " + name
	}
	return d
}

// openGRPC opens QueryService.Tail and waits for its headers, which the
// server sends once the tail is live.
func (e *tailEnv) openGRPC(key, query string) (*tailClient, error) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
	st, err := e.grpc.Tail(ctx, &sawmillv1.TailRequest{Query: query})
	if err != nil {
		cancel()
		return nil, err
	}
	if md, err := st.Header(); err != nil || md == nil {
		_, err = st.Recv()
		cancel()
		return nil, err
	}
	c := &tailClient{c: make(chan delivery), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.c)
		for {
			resp, err := st.Recv()
			if err != nil {
				if err != io.EOF && status.Code(err) != codes.Canceled {
					select {
					case c.c <- delivery{err: err.Error()}:
					case <-ctx.Done():
					}
				}
				return
			}
			d := delivery{missed: resp.GetMissed()}
			for _, ev := range resp.GetEvents() {
				d.messages = append(d.messages, ev.GetMessage())
			}
			select {
			case c.c <- d:
			case <-ctx.Done():
				return
			}
		}
	}()
	return c, nil
}

// open opens a tail over the named transport: "sse", "sse-param" or "grpc".
func (e *tailEnv) open(transport, key, query string) *tailClient {
	e.t.Helper()
	var c *tailClient
	switch transport {
	case "grpc":
		var err error
		if c, err = e.openGRPC(key, query); err != nil {
			e.t.Fatalf("open grpc tail: %v", err)
		}
	default:
		var oe *openError
		if c, oe = e.openSSE(key, query, transport == "sse-param"); oe != nil {
			e.t.Fatalf("open sse tail: %d %v", oe.status, oe.body)
		}
	}
	e.t.Cleanup(c.close)
	return c
}

var transports = []string{"sse", "sse-param", "grpc"}

// TestTailDelivers: a tail receives what its query matches within 1 s of the
// publish ack, nothing else, and nothing of another tenant.
func TestTailDelivers(t *testing.T) {
	const query = `level:error service:checkout (timeout OR "connection refused") -healthcheck`
	q, err := lql.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			e := newTailEnv(t, TailConfig{})
			keyA, _ := e.key(tenantA, auth.ScopeQuery)
			c := e.open(tr, keyA, query)

			// Tenant B's lines match the query too, and come first.
			e.publish(tenantB, ev("error", "checkout", "B: upstream timeout"), ev("error", "checkout", "B: connection refused"))
			batch := []event.Event{
				ev("error", "checkout", "A1: payment timeout", "order_id", "42"),
				ev("info", "checkout", "A2: payment timeout"),
				ev("error", "search", "A3: upstream timeout"),
				ev("error", "checkout", "A4: db Connection Refused"),
				ev("error", "checkout", "A5: healthcheck timeout"),
				ev("critical", "checkout", "A6: timeout"),
				ev("error", "checkout", "A7: all good"),
			}
			var want []string
			for i := range batch {
				if q.Match(&batch[i]) {
					want = append(want, batch[i].Message)
				}
			}
			if len(want) != 2 {
				t.Fatalf("test data: %d matching lines, want 2: %v", len(want), want)
			}
			e.publish(tenantA, batch...)
			got := receive(t, c, len(want), time.Second) // within 1 s of the ack
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("got %q, want %q", got, want)
			}
			// A sentinel after more B lines: had anything of B (or a
			// non-matching line) reached A's tail, it would come before it.
			e.publish(tenantB, ev("error", "checkout", "B: timeout again"))
			e.publish(tenantA, ev("error", "checkout", "A8: sentinel timeout"))
			if got := receive(t, c, 1, 5*time.Second); got[0] != "A8: sentinel timeout" {
				t.Fatalf("after the first delivery got %q", got)
			}
		})
	}
}

// receive collects n event messages (missed counts are an error here).
func receive(tb testing.TB, c *tailClient, n int, timeout time.Duration) []string {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var got []string
	for len(got) < n {
		d := c.next(tb, time.Until(deadline))
		if d.err != "" || d.missed != 0 {
			tb.Fatalf("unexpected delivery %+v", d)
		}
		got = append(got, d.messages...)
	}
	return got
}

// TestTailSSEFormat: one JSON event per data line, with search's snake_case
// field names.
func TestTailSSEFormat(t *testing.T) {
	e := newTailEnv(t, TailConfig{})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	req, _ := http.NewRequest("GET", e.base+"/v1/tail?query=hello", nil)
	req.Header.Set("Authorization", "Bearer "+keyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	x := ev("warning", "web", "hello\nsecond line", "user_id", "42")
	x.TraceID = "abc"
	x.NumAttrs = []event.NumAttr{{Key: "duration_ms", Value: 12.5}}
	e.publish(tenantA, x)
	var line string
	for !strings.HasPrefix(line, "data: ") {
		if line, err = br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	attrs, _ := m["attributes"].(map[string]any)
	if m["message"] != "hello\nsecond line" || m["level"] != "warn" || m["severity_number"] != 13.0 ||
		m["trace_id"] != "abc" || attrs["user_id"] != "42" || attrs["duration_ms"] != 12.5 {
		t.Fatalf("event JSON %v", m)
	}
	if _, err := time.Parse(time.RFC3339Nano, m["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}
	if next, _ := br.ReadString('\n'); next != "\n" {
		t.Fatalf("frame not ended after one data line: %q", next)
	}
}

// TestTailErrors: refusals before the stream starts, over both transports.
func TestTailErrors(t *testing.T) {
	e := newTailEnv(t, TailConfig{})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	ingestOnly, _ := e.key(tenantA, auth.ScopeIngest)
	f := func(key, query string, wantStatus int, wantCode codes.Code, wantMsg string) {
		t.Helper()
		_, oe := e.openSSE(key, query, false)
		if oe == nil || oe.status != wantStatus || !strings.Contains(oe.body["message"].(string), wantMsg) {
			t.Fatalf("sse %q: got %+v, want %d %q", query, oe, wantStatus, wantMsg)
		}
		_, err := e.openGRPC(key, query)
		if status.Code(err) != wantCode || !strings.Contains(status.Convert(err).Message(), wantMsg) {
			t.Fatalf("grpc %q: got %v, want %v %q", query, err, wantCode, wantMsg)
		}
	}
	f(keyA, `level:error (timeout`, 400, codes.InvalidArgument, `at 12: `)
	f(keyA, `level:loud`, 400, codes.InvalidArgument, `at 6: `)
	f(keyA, `user:/(/`, 400, codes.InvalidArgument, `at 6: invalid regular expression`)
	f("", `x`, 401, codes.Unauthenticated, "missing credentials")
	f("sm_nope_nope", `x`, 401, codes.Unauthenticated, "invalid API key")
	f(ingestOnly, `x`, 403, codes.PermissionDenied, `"query" scope`)

	_, oe := e.openSSE(keyA, `a (`, false)
	if pos, _ := oe.body["details"].(map[string]any)["position"].(float64); pos != 2 {
		t.Fatalf("details %v, want position 2", oe.body["details"])
	}
}

// TestTailLimit: one tail over the tenant's limit is 429 with Retry-After (or
// ResourceExhausted); other tenants are not affected; closing a tail frees
// its slot.
func TestTailLimit(t *testing.T) {
	e := newTailEnv(t, TailConfig{MaxPerTenant: 2})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	keyB, _ := e.key(tenantB, auth.ScopeQuery)
	first := e.open("sse", keyA, "")
	e.open("grpc", keyA, "")
	_, oe := e.openSSE(keyA, "", false)
	if oe == nil || oe.status != 429 || oe.code != "resource_exhausted" || oe.retryAfter == "" {
		t.Fatalf("third sse tail: %+v", oe)
	}
	if _, err := e.openGRPC(keyA, ""); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third grpc tail: %v", err)
	}
	e.open("sse", keyB, "")
	first.close()
	waitFor(t, "slot freed", func() bool { return tailState(t, e).openTails() == 2 })
	e.open("sse-param", keyA, "")
}

func tailState(tb testing.TB, e *tailEnv) *tailer {
	tb.Helper()
	t, err := e.svc.tailer()
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// waitFor polls cond until it holds; it fails tb after 10 s (a generous
// bound for something that takes milliseconds, not a timing assertion).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTailBufferOverflow: a batch larger than the client's buffer delivers
// what fits and reports the rest as missed.
func TestTailBufferOverflow(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			e := newTailEnv(t, TailConfig{BufferEvents: 10})
			keyA, _ := e.key(tenantA, auth.ScopeQuery)
			c := e.open(tr, keyA, "boom")
			batch := make([]event.Event, 100)
			for i := range batch {
				batch[i] = ev("error", "web", fmt.Sprintf("boom %d", i))
			}
			e.publish(tenantA, batch...)
			var got []string
			var missed int64
			for len(got)+int(missed) < len(batch) {
				d := c.next(t, 10*time.Second)
				if d.err != "" {
					t.Fatal(d.err)
				}
				got, missed = append(got, d.messages...), missed+d.missed
			}
			if len(got) != 10 || missed != 90 || got[0] != "boom 0" || got[9] != "boom 9" {
				t.Fatalf("got %d events (%q...), missed %d; want the first 10 and 90 missed", len(got), got[:min(len(got), 3)], missed)
			}
		})
	}
}

// TestTailSlowClient: a client that stops reading never slows publishing;
// once it reads again it gets every event or a count of those it missed.
func TestTailSlowClient(t *testing.T) {
	for _, tr := range []string{"sse", "grpc"} {
		t.Run(tr, func(t *testing.T) {
			e := newTailEnv(t, TailConfig{BufferEvents: 200})
			keyA, _ := e.key(tenantA, auth.ScopeQuery)
			c := e.open(tr, keyA, "")
			tl := tailState(t, e)
			big := strings.Repeat("x", 2000)
			published := 0
			// The client reads nothing meanwhile: its socket buffers fill,
			// then its tail buffer, then events are dropped.
			for i := 0; missedSoFar(tl) == 0; i++ {
				if published > 2_000_000 {
					t.Fatal("no event dropped after 2M events to a client that reads nothing")
				}
				batch := make([]event.Event, 200)
				for j := range batch {
					batch[j] = ev("info", "web", fmt.Sprintf("%d-%d %s", i, j, big))
				}
				e.publish(tenantA, batch...)
				published += len(batch)
			}
			// Every event is delivered or counted: read until all are
			// accounted for (a lost one would hang here and fail).
			var got, missed int64
			for got+missed < int64(published) {
				d := c.next(t, 10*time.Second)
				if d.err != "" {
					t.Fatal(d.err)
				}
				got, missed = got+int64(len(d.messages)), missed+d.missed
			}
			t.Logf("published %d, received %d, missed %d", published, got, missed)
			if missed == 0 || got+missed != int64(published) {
				t.Fatalf("received %d + missed %d, published %d", got, missed, published)
			}
		})
	}
}

// TestTailStalledClient: a client that accepts nothing for WriteTimeout is
// disconnected, and its slot is free for the next tail at once: gRPC's
// Send has no deadline of its own, SSE's write has one.
func TestTailStalledClient(t *testing.T) {
	for _, tr := range []string{"sse", "grpc"} {
		t.Run(tr, func(t *testing.T) {
			e := newTailEnv(t, TailConfig{MaxPerTenant: 1, BufferEvents: 50, WriteTimeout: time.Second})
			keyA, _ := e.key(tenantA, auth.ScopeQuery)
			stalled := e.open(tr, keyA, "")
			defer stalled.close()
			tl := tailState(t, e)
			big := strings.Repeat("x", 2000)
			// The client reads nothing: its socket buffers fill and the
			// server's write blocks, as long as there are events to write.
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; tl.openTails() > 0; i++ {
				if time.Now().After(deadline) {
					t.Fatalf("the stalled tail still open after 20 s (%d events dropped)", missedSoFar(tl))
				}
				batch := make([]event.Event, 20)
				for j := range batch {
					batch[j] = ev("info", "web", fmt.Sprintf("%d-%d %s", i, j, big))
				}
				e.publish(tenantA, batch...)
				time.Sleep(5 * time.Millisecond)
			}
			// The gRPC send left blocked ends with the stream.
			waitFor(t, "no send goroutine left", func() bool {
				buf := make([]byte, 1<<20)
				return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "sendWithin")
			})
			next := e.open(tr, keyA, "fresh")
			defer next.close()
			e.publish(tenantA, ev("info", "web", "fresh line"))
			if got := receive(t, next, 1, 10*time.Second); got[0] != "fresh line" {
				t.Fatalf("the next tail got %q", got)
			}
		})
	}
}

// missedSoFar reads the drop counter of the node's tails.
func missedSoFar(t *tailer) int64 { return t.dropped.Load() }

// TestTailRelease: tails that end (client gone, role stopped) release their
// goroutines, their slot and their consumer on the server.
func TestTailRelease(t *testing.T) {
	e := newTailEnv(t, TailConfig{MaxPerTenant: 100})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	tl := tailState(t, e)
	// Warm up the connections' and servers' own goroutines.
	for _, tr := range transports {
		c := e.open(tr, keyA, "")
		e.publish(tenantA, ev("info", "web", "warm"))
		receive(t, c, 1, 10*time.Second)
		c.close()
	}
	waitFor(t, "warm-up tails closed", func() bool { return tl.openTails() == 0 })
	base := runtime.NumGoroutine()

	var clients []*tailClient
	for i := 0; i < 10; i++ {
		clients = append(clients, e.open(transports[i%len(transports)], keyA, "x"))
	}
	if n := tl.openTails(); n != 10 {
		t.Fatalf("%d tails open, want 10", n)
	}
	if n := consumers(t, e); n != 10 {
		t.Fatalf("%d consumers on %s, want 10", n, bus.LogsStream)
	}
	for _, c := range clients {
		c.close()
	}
	waitFor(t, "tails closed", func() bool { return tl.openTails() == 0 })
	waitFor(t, "consumers deleted", func() bool { return consumers(t, e) == 0 })
	waitFor(t, fmt.Sprintf("goroutines back to %d", base), func() bool { return runtime.NumGoroutine() <= base })
}

// TestTailLimitAcrossNodes: the per-tenant tail limit counts the tails of
// every query node, and a slot freed on one node is usable on another.
func TestTailLimitAcrossNodes(t *testing.T) {
	a := newTailEnv(t, TailConfig{MaxPerTenant: 2})
	b := newTailEnvOn(t, TailConfig{MaxPerTenant: 2}, a.nats, a.keys)
	keyA, _ := a.key(tenantA, auth.ScopeQuery)
	keyB, _ := a.key(tenantB, auth.ScopeQuery)
	c1 := a.open("sse", keyA, "")
	c2 := a.open("grpc", keyA, "")
	if _, oe := b.openSSE(keyA, "", false); oe == nil || oe.status != 429 || oe.retryAfter == "" {
		t.Fatalf("third tail of the tenant on another node: %+v, want 429 with Retry-After", oe)
	}
	if _, err := b.openGRPC(keyA, ""); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third tail over gRPC on another node: %v, want ResourceExhausted", err)
	}
	other := b.open("sse", keyB, "") // another tenant is not limited by A's tails
	other.close()
	c1.close()
	var c3 *tailClient
	waitFor(t, "a slot freed on node a to be usable on node b", func() bool {
		c, oe := b.openSSE(keyA, "", false)
		if oe != nil {
			return false
		}
		c3 = c
		return true
	})
	b.publish(tenantA, ev("error", "web", "after the move"))
	receive(t, c3, 1, 10*time.Second)
	c2.close()
	c3.close()
}

// consumers counts the tails' consumers on the LOGS stream.
func consumers(tb testing.TB, e *tailEnv) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.bus.JS.Stream(ctx, bus.LogsStream)
	if err != nil {
		tb.Fatal(err)
	}
	// Every tail's consumer; not the writers' durable one, which bus.Connect
	// creates.
	n := 0
	names := s.ConsumerNames(ctx)
	for name := range names.Name() {
		if name != bus.WriterConsumer {
			n++
		}
	}
	if err := names.Err(); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestTailRevokedKey: a tail ends at the next keepalive after its key is
// revoked, with an error event; keepalive comments flow meanwhile.
func TestTailRevokedKey(t *testing.T) {
	for _, tr := range []string{"sse", "grpc"} {
		t.Run(tr, func(t *testing.T) {
			e := newTailEnv(t, TailConfig{KeepAlive: 20 * time.Millisecond})
			keyA, kv := e.key(tenantA, auth.ScopeQuery)
			c := e.open(tr, keyA, "")
			e.publish(tenantA, ev("info", "web", "before"))
			receive(t, c, 1, 10*time.Second)
			if err := e.keys.Apply(kv, nil, true); err != nil {
				t.Fatal(err)
			}
			d := c.next(t, 10*time.Second)
			if !strings.Contains(d.err, "invalid API key") {
				t.Fatalf("after revocation got %+v", d)
			}
		})
	}
}

// TestTailKeepalive: an idle SSE stream carries keepalive comments.
func TestTailKeepalive(t *testing.T) {
	e := newTailEnv(t, TailConfig{KeepAlive: 20 * time.Millisecond})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	req, _ := http.NewRequest("GET", e.base+"/v1/tail", nil)
	req.Header.Set("Authorization", "Bearer "+keyA)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for n := 0; n < 3; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": keepalive\n" {
			n++
		}
	}
}

// TestTailNotEnabled: without EnableTail the routes say so.
func TestTailNotEnabled(t *testing.T) {
	svc := New(Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), &auth.Authenticator{Keys: auth.NewKeyTable()}, nil)
	if err := svc.Tail(&sawmillv1.TailRequest{}, nil); apierr.From(err).Code != apierr.Unavailable {
		t.Fatalf("gRPC Tail without EnableTail: %v", err)
	}
	rec := httptest.NewRecorder()
	svc.serveTail(rec, httptest.NewRequest("GET", "/v1/tail", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET /v1/tail without EnableTail: %d %s", rec.Code, rec.Body)
	}
}

// TestTailShowsStoredOnce: a retried publish with the same message id
// (Idempotency-Key) is stored once, and the tail shows it once.
func TestTailShowsStoredOnce(t *testing.T) {
	e := newTailEnv(t, TailConfig{})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	c := e.open("sse", keyA, "")
	data := event.AppendBatch(nil, []event.Event{ev("info", "web", "retried")})
	for i := 0; i < 3; i++ {
		b := bus.Batch{Data: data, Events: 1, RetentionDays: 7, MsgID: tenantA + ":idem-1:0"}
		if _, _, err := e.bus.PublishBatch(context.Background(), tenantA, b); err != nil {
			t.Fatal(err)
		}
	}
	e.publish(tenantA, ev("info", "web", "sentinel"))
	if got := receive(t, c, 2, 10*time.Second); strings.Join(got, "|") != "retried|sentinel" {
		t.Fatalf("got %q", got)
	}
}

// TestTailSurvivesNATSRestart: a tail open across a NATS restart goes on
// delivering what is stored after it.
func TestTailSurvivesNATSRestart(t *testing.T) {
	e := newTailEnv(t, TailConfig{})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	c := e.open("grpc", keyA, "")
	e.publish(tenantA, ev("info", "web", "before"))
	receive(t, c, 1, 10*time.Second)
	e.nats.Restart(t)
	waitFor(t, "bus reconnected", func() bool { return e.bus.NC.IsConnected() })
	e.publish(tenantA, ev("info", "web", "after"))
	if got := receive(t, c, 1, 30*time.Second); got[0] != "after" {
		t.Fatalf("got %q", got)
	}
}

// TestTailRoleStop: stopping the role (its context) ends open tails.
func TestTailRoleStop(t *testing.T) {
	e := newTailEnv(t, TailConfig{})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	sse, grpcTail := e.open("sse", keyA, ""), e.open("grpc", keyA, "")
	e.stop()
	for _, c := range []*tailClient{sse, grpcTail} {
		select {
		case _, ok := <-c.c:
			if ok {
				t.Fatal("delivery after the role stopped")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("tail still open 10 s after the role stopped")
		}
	}
	waitFor(t, "tails released", func() bool { return tailState(t, e).openTails() == 0 })
}

// TestTailResume: an SSE client reconnecting with Last-Event-ID (as
// EventSource does) gets every matching event stored after that one, also
// those stored while it was away, and nothing twice.
func TestTailResume(t *testing.T) {
	e := newTailEnv(t, TailConfig{})
	keyA, _ := e.key(tenantA, auth.ScopeQuery)
	get := func(lastID string) (*http.Response, *bufio.Reader) {
		req, _ := http.NewRequest("GET", e.base+"/v1/tail?query=-skip", nil)
		req.Header.Set("Authorization", "Bearer "+keyA)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return resp, bufio.NewReader(resp.Body)
	}
	// next returns the id and message of the next event.
	next := func(br *bufio.Reader) (id, msg string) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimSpace(strings.TrimPrefix(line, "id: "))
			case strings.HasPrefix(line, "data: "):
				var m map[string]any
				if err := json.Unmarshal([]byte(line[len("data: "):]), &m); err != nil {
					t.Fatal(err)
				}
				if id == "" {
					t.Fatalf("event without id: %q", line)
				}
				return id, m["message"].(string)
			}
		}
	}
	resp, br := get("")
	e.publish(tenantA, ev("info", "web", "1"), ev("info", "web", "2"), ev("info", "web", "skip 3"), ev("info", "web", "4"))
	e.publish(tenantA, ev("info", "web", "5"))
	next(br)
	lastID, msg := next(br)
	if msg != "2" {
		t.Fatalf("second event %q", msg)
	}
	resp.Body.Close()
	waitFor(t, "first tail closed", func() bool { return tailState(t, e).openTails() == 0 })
	e.publish(tenantA, ev("info", "web", "6 while away"))

	resp, br = get(lastID)
	defer resp.Body.Close()
	e.publish(tenantA, ev("info", "web", "7"))
	var got []string
	for len(got) < 4 {
		_, msg := next(br)
		got = append(got, msg)
	}
	if want := "4|5|6 while away|7"; strings.Join(got, "|") != want {
		t.Fatalf("resumed with %q, want %s", got, want)
	}

	for _, bad := range []string{"x", "12", "0-1", "1-x", "-1-2"} {
		req, _ := http.NewRequest("GET", e.base+"/v1/tail", nil)
		req.Header.Set("Authorization", "Bearer "+keyA)
		req.Header.Set("Last-Event-ID", bad)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("Last-Event-ID %q: status %d, want 400", bad, resp.StatusCode)
		}
	}
}

// A suspended tenant cannot open a tail.
func TestTailSuspendedTenant(t *testing.T) {
	e := newTailEnv(t, TailConfig{})
	d := tenant.NewDirectory()
	b, _ := json.Marshal(tenant.Tenant{ID: "tsusp", Suspended: true, SuspendedReason: "unpaid invoice"})
	d.Apply("tsusp", b, false)
	e.svc.SetTenants(d)
	key, _ := e.key("tsusp", auth.ScopeQuery)
	c, oe := e.openSSE(key, "", false)
	if c != nil {
		c.close()
		t.Fatal("a suspended tenant opened a tail")
	}
	if oe.status != 403 {
		t.Fatalf("suspended tenant's tail: %d", oe.status)
	}
}
