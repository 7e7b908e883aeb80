package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/services/ingest/otlp"
)

// otlpRig is an edge with OTLP registered on a real server (127.0.0.1, free
// ports), a real bus on an in-process NATS, a writer and a ClickHouse
// database; one tenant with an ingest key and a query-only key.
type otlpRig struct {
	*rig
	srv              *server.Server
	stopWriter       func() // nil without a writer
	tenantID         string
	ingestKey, qyKey string
}

func newOTLPRig(t *testing.T, cfg Config) *otlpRig {
	t.Helper()
	r := newOTLPEdge(t, cfg)
	r.stopWriter = startWriter(t, NewWriter(WriterConfig{BatchWait: 50 * time.Millisecond}, quiet, r.bus, r.store))
	t.Cleanup(r.stopWriter)
	return r
}

// newOTLPEdge is newOTLPRig without a writer.
func newOTLPEdge(t *testing.T, cfg Config) *otlpRig {
	t.Helper()
	r := &otlpRig{rig: newRig(t), tenantID: "t" + auth.RandomID(8)}
	keys := auth.NewKeyTable()
	r.ingestKey = otlpAddKey(t, keys, r.tenantID, auth.ScopeIngest)
	r.qyKey = otlpAddKey(t, keys, r.tenantID, auth.ScopeQuery)
	edge := NewEdge(cfg, quiet, r.bus, &auth.Authenticator{Keys: keys, MissWait: -1}, tenant.NewDirectory())
	r.srv = server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", ShutdownTimeout: 2 * time.Second}, quiet)
	edge.RegisterOTLP(r.srv)
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.srv.Shutdown)
	return r
}

// otlpAddKey puts a new API key for tenantID with scopes into keys, as the
// KV watch would, and returns the full key.
func otlpAddKey(t testing.TB, keys *auth.KeyTable, tenantID string, scopes ...auth.Scope) string {
	t.Helper()
	id, secret, full := auth.NewKeySecret()
	b, err := json.Marshal(auth.Key{ID: id, TenantID: tenantID, Scopes: scopes, Hash: auth.HashSecret(secret), CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Apply(auth.KVKey(tenantID, id), b, false); err != nil {
		t.Fatal(err)
	}
	return full
}

// stored waits until the tenant has want events in ClickHouse and returns
// them oldest first; it fails if more arrive.
func (r *otlpRig) stored(t *testing.T, want int) []store.StoredEvent {
	t.Helper()
	var evs []store.StoredEvent
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if evs = r.read(t); len(evs) >= want {
			break
		}
	}
	if len(evs) != want {
		t.Fatalf("%d events stored, want %d", len(evs), want)
	}
	return evs
}

func (r *otlpRig) read(t *testing.T) []store.StoredEvent {
	t.Helper()
	rows, err := r.store.Query(context.Background(),
		"SELECT "+store.EventColumns+" FROM logs WHERE tenant_id = ? ORDER BY ts_ns, seq, idx", r.tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var evs []store.StoredEvent
	for rows.Next() {
		e, err := store.ScanEvent(rows)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func otlpAttr(e store.StoredEvent, key string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func otlpNum(e store.StoredEvent, key string) (float64, bool) {
	for _, a := range e.NumAttrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return 0, false
}

// The real OpenTelemetry Go SDK, with its gRPC and HTTP log exporters,
// ships records to the edge; they are found in ClickHouse with the fields
// the mapping promises.
func TestOTLPFromOpenTelemetrySDK(t *testing.T) {
	exporters := []struct {
		name string
		new  func(ctx context.Context, r *otlpRig) (sdklog.Exporter, error)
	}{
		{"grpc", func(ctx context.Context, r *otlpRig) (sdklog.Exporter, error) {
			return otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(r.srv.GRPCAddr()), otlploggrpc.WithInsecure(),
				otlploggrpc.WithHeaders(map[string]string{"authorization": "Bearer " + r.ingestKey}))
		}},
		{"grpc-gzip", func(ctx context.Context, r *otlpRig) (sdklog.Exporter, error) {
			return otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(r.srv.GRPCAddr()), otlploggrpc.WithInsecure(),
				otlploggrpc.WithCompressor("gzip"),
				otlploggrpc.WithHeaders(map[string]string{"authorization": "Bearer " + r.ingestKey}))
		}},
		{"http", func(ctx context.Context, r *otlpRig) (sdklog.Exporter, error) {
			return otlploghttp.New(ctx, otlploghttp.WithEndpoint(r.srv.HTTPAddr()), otlploghttp.WithInsecure(),
				otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + r.ingestKey}))
		}},
		{"http-gzip", func(ctx context.Context, r *otlpRig) (sdklog.Exporter, error) {
			return otlploghttp.New(ctx, otlploghttp.WithEndpoint(r.srv.HTTPAddr()), otlploghttp.WithInsecure(),
				otlploghttp.WithCompression(otlploghttp.GzipCompression),
				otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + r.ingestKey}))
		}},
	}
	for _, x := range exporters {
		t.Run(x.name, func(t *testing.T) {
			r := newOTLPRig(t, Config{})
			ctx := context.Background()
			exp, err := x.new(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			emitSDKRecords(t, exp)
			checkSDKRecords(t, r.stored(t, 3))
		})
	}
}

var (
	sdkTraceID = trace.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	sdkSpanID  = trace.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
	sdkTime    = time.Now().Add(-time.Minute).Truncate(time.Microsecond)
)

// emitSDKRecords logs three records through a LoggerProvider with a
// synchronous processor, so each Emit is exported before it returns.
func emitSDKRecords(t *testing.T, exp sdklog.Exporter) {
	t.Helper()
	res, err := resource.New(context.Background(), resource.WithAttributes(
		attribute.String("service.name", "checkout"), attribute.String("deployment.environment.name", "prod"),
		attribute.String("host.name", "web-7"), attribute.String("service.version", "2.3.1")))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	logger := lp.Logger("django.request")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: sdkTraceID, SpanID: sdkSpanID, TraceFlags: trace.FlagsSampled}))

	var rec otellog.Record
	rec.SetTimestamp(sdkTime)
	rec.SetSeverity(otellog.SeverityInfo)
	rec.SetSeverityText("INFO")
	rec.SetBody(attribute.StringValue("GET /api/orders/42 200"))
	rec.AddAttributes(attribute.String("http.route", "/api/orders/<id>"), attribute.Int("http.status_code", 200),
		attribute.Float64("duration_ms", 12.5), attribute.Bool("cached", true), attribute.ByteSlice("raw", []byte("hi")),
		attribute.Slice("tags", attribute.StringValue("a"), attribute.Int64Value(2)),
		attribute.Map("user", attribute.String("id", "u1"), attribute.Int("age", 30)), attribute.String("request_id", "req-9"))
	logger.Emit(ctx, rec)

	rec = otellog.Record{}
	rec.SetTimestamp(sdkTime.Add(time.Millisecond))
	rec.SetSeverity(otellog.SeverityError)
	rec.SetBody(attribute.StringValue("payment failed"))
	rec.SetErr(errors.New("card declined"))
	rec.AddAttributes(attribute.String("exception.stacktrace", "goroutine 1 [running]:\nmain.pay()"))
	logger.Emit(ctx, rec)

	rec = otellog.Record{}
	rec.SetTimestamp(sdkTime.Add(2 * time.Millisecond))
	rec.SetSeverityText("WARNING")
	rec.SetBody(attribute.MapValue(attribute.String("message", "slow query"), attribute.Float64("db.duration_ms", 812.5)))
	logger.Emit(context.Background(), rec)

	if err := lp.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func checkSDKRecords(t *testing.T, evs []store.StoredEvent) {
	t.Helper()
	for _, e := range evs {
		if e.Service != "checkout" || e.Environment != "prod" || e.Host != "web-7" || e.Logger != "django.request" {
			t.Errorf("identity of %q: service %q env %q host %q logger %q", e.Message, e.Service, e.Environment, e.Host, e.Logger)
		}
		if v, _ := otlpAttr(e, "service.version"); v != "2.3.1" {
			t.Errorf("%q: resource attribute service.version = %q", e.Message, v)
		}
	}
	info, failed, slow := evs[0], evs[1], evs[2]
	if info.Message != "GET /api/orders/42 200" || info.Level != "info" || info.SeverityNumber != 9 || info.Time != sdkTime.UnixNano() {
		t.Errorf("info record: %+v", info.Event)
	}
	if info.TraceID != "5b8efff798038103d269b633813fc60c" || info.SpanID != "eee19b7ec3c1b174" || info.RequestID != "req-9" {
		t.Errorf("info ids: trace %q span %q request %q", info.TraceID, info.SpanID, info.RequestID)
	}
	for k, want := range map[string]string{"http.route": "/api/orders/<id>", "http.status_code": "200", "duration_ms": "12.5",
		"cached": "true", "raw": "aGk=", "tags": `["a",2]`, "user.id": "u1", "user.age": "30"} {
		if v, ok := otlpAttr(info, k); !ok || v != want {
			t.Errorf("attribute %s = %q, want %q", k, v, want)
		}
	}
	for k, want := range map[string]float64{"http.status_code": 200, "duration_ms": 12.5, "user.age": 30} {
		if v, ok := otlpNum(info, k); !ok || v != want {
			t.Errorf("numeric attribute %s = %v, want %v", k, v, want)
		}
	}
	if failed.Level != "error" || failed.Exception.Type != "*errors.errorString" || failed.Exception.Message != "card declined" ||
		!strings.HasPrefix(failed.Exception.Stack, "goroutine 1") {
		t.Errorf("error record: level %q exception %+v", failed.Level, failed.Exception)
	}
	if slices.ContainsFunc(failed.Attrs, func(a event.Attr) bool { return strings.HasPrefix(a.Key, "exception.") }) {
		t.Errorf("exception attributes kept as attributes: %v", failed.Attrs)
	}
	if slow.Message != "slow query" || slow.Level != "warn" || slow.TraceID != "" {
		t.Errorf("map-body record: %+v", slow.Event)
	}
	if v, ok := otlpNum(slow, "db.duration_ms"); !ok || v != 812.5 {
		t.Errorf("db.duration_ms = %v", v)
	}
}

// otlpRequest is a JSON OTLP request with the given record bodies; an
// empty body makes an invalid record.
func otlpJSON(bodies ...string) string {
	var recs []string
	for i, b := range bodies {
		recs = append(recs, fmt.Sprintf(`{"timeUnixNano":"%d","severityText":"INFO","body":{"stringValue":%q},
			"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
			"attributes":[{"key":"n","value":{"intValue":"%d"}}]}`, time.Now().Add(-time.Second).UnixNano()+int64(i), b, i))
	}
	return `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"curl"}}]},
		"scopeLogs":[{"scope":{"name":"manual"},"logRecords":[` + strings.Join(recs, ",") + `]}]}]}`
}

// post sends body to POST /v1/logs and returns the status, headers and body.
func (r *otlpRig) post(t *testing.T, bearer, contentType string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+r.srv.HTTPAddr()+"/v1/logs", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// OTLP/JSON over plain net/http, with and without gzip, including a bad
// record that is rejected alone and named in partial_success.
func TestOTLPHTTPJSON(t *testing.T) {
	r := newOTLPRig(t, Config{})
	code, hdr, body := r.post(t, r.ingestKey, "application/json", []byte(otlpJSON("first", "second")))
	if code != 200 || hdr.Get("Content-Type") != "application/json" || string(body) != "{}" {
		t.Fatalf("full success: %d %q %s", code, hdr.Get("Content-Type"), body)
	}
	code, hdr, body = r.post(t, r.ingestKey, "application/json; charset=utf-8", gzipped(t, []byte(otlpJSON("third", " ", "fourth"))),
		"Content-Encoding", "gzip")
	var resp collogspb.ExportLogsServiceResponse
	if err := protojson.Unmarshal(body, &resp); code != 200 || err != nil {
		t.Fatalf("partial success: %d %s (%v)", code, body, err)
	}
	ps := resp.GetPartialSuccess()
	if ps.GetRejectedLogRecords() != 1 ||
		ps.GetErrorMessage() != "1 of 3 log records rejected: resource_logs[0].scope_logs[0].log_records[1]: message is empty" {
		t.Fatalf("partial success %v", ps)
	}
	// A request whose every record is bad is still answered 200 with
	// partial_success: the client must not retry it.
	code, _, body = r.post(t, r.ingestKey, "application/json", []byte(otlpJSON("", "\t")))
	resp.Reset()
	if err := protojson.Unmarshal(body, &resp); code != 200 || err != nil || resp.GetPartialSuccess().GetRejectedLogRecords() != 2 {
		t.Fatalf("all rejected: %d %s (%v)", code, body, err)
	}
	evs := r.stored(t, 4)
	for i, want := range []string{"first", "second", "third", "fourth"} {
		e := evs[i]
		if e.Message != want || e.Service != "curl" || e.Logger != "manual" || e.Level != "info" ||
			e.TraceID != "5b8efff798038103d269b633813fc60c" || e.SpanID != "eee19b7ec3c1b174" {
			t.Errorf("event %d: %+v", i, e.Event)
		}
	}
}

// otlpProto is otlpJSON's request as protobuf would carry it (raw ids).
func otlpProto(t *testing.T, bodies ...string) *collogspb.ExportLogsServiceRequest {
	t.Helper()
	req, err := otlp.Unmarshal([]byte(otlpJSON(bodies...)), otlp.JSON)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON reading holds the hex ids as base64 text; put the real ones.
	for _, lr := range req.ResourceLogs[0].ScopeLogs[0].LogRecords {
		lr.TraceId, lr.SpanId = sdkTraceID[:], sdkSpanID[:]
	}
	return req
}

// OTLP/HTTP protobuf with a bad record: the answer is a protobuf
// ExportLogsServiceResponse; Idempotency-Key makes a retry a no-op.
func TestOTLPHTTPProtobuf(t *testing.T) {
	r := newOTLPRig(t, Config{})
	req := otlpProto(t, "one", "", "two")
	// Make record 1 bad in a protobuf-only way: a 3-byte trace id.
	req.ResourceLogs[0].ScopeLogs[0].LogRecords[1].Body = nil
	req.ResourceLogs[0].ScopeLogs[0].LogRecords[1].TraceId = []byte{1, 2, 3}
	pb, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		code, hdr, body := r.post(t, r.ingestKey, "application/x-protobuf", pb, "Idempotency-Key", "batch-1")
		var resp collogspb.ExportLogsServiceResponse
		if err := proto.Unmarshal(body, &resp); code != 200 || err != nil || hdr.Get("Content-Type") != "application/x-protobuf" {
			t.Fatalf("%d %q %v", code, hdr.Get("Content-Type"), err)
		}
		if ps := resp.GetPartialSuccess(); ps.GetRejectedLogRecords() != 1 || !strings.Contains(ps.GetErrorMessage(), "log_records[1]: trace_id is 3 bytes, want 16") {
			t.Fatalf("partial success %v", ps)
		}
	}
	evs := r.stored(t, 2)
	if evs[0].Message != "one" || evs[1].Message != "two" {
		t.Fatalf("stored %q %q", evs[0].Message, evs[1].Message)
	}
}

// Every refused request gets the right status and a google.rpc.Status body
// in the request's content type, and nothing is stored.
func TestOTLPHTTPErrors(t *testing.T) {
	r := newOTLPRig(t, Config{MaxRequestBytes: 64 << 10})
	good := []byte(otlpJSON("never stored"))
	bomb := gzipped(t, bytes.Repeat([]byte(" "), 1<<20))
	cases := []struct {
		name, key, ctype string
		body             []byte
		hdr              []string
		code             int
		grpcCode         codes.Code
		msg              string
	}{
		{"no credentials", "", "application/json", good, nil, 401, codes.Unauthenticated, "missing credentials"},
		{"wrong key", "sm_nope_nope", "application/json", good, nil, 401, codes.Unauthenticated, "invalid API key"},
		{"query-only key", r.qyKey, "application/json", good, nil, 403, codes.PermissionDenied, `lacks the "ingest" scope`},
		{"protobuf, no credentials", "", "application/x-protobuf", nil, nil, 401, codes.Unauthenticated, "missing credentials"},
		{"form content type", r.ingestKey, "application/x-www-form-urlencoded", good, nil, 415, codes.InvalidArgument, "Content-Type must be"},
		{"bad json", r.ingestKey, "application/json", []byte(`{"resourceLogs":[{`), nil, 400, codes.InvalidArgument, "malformed otlp request"},
		{"bad protobuf", r.ingestKey, "application/x-protobuf", []byte("\xff\xff\xff"), nil, 400, codes.InvalidArgument, "malformed otlp request"},
		{"gzip bomb", r.ingestKey, "application/json", bomb, []string{"Content-Encoding", "gzip"}, 413, codes.ResourceExhausted, "exceeds 65536 bytes"},
		{"too large", r.ingestKey, "application/json", bytes.Repeat([]byte(" "), 65<<10), nil, 413, codes.ResourceExhausted, "exceeds 65536 bytes"},
		{"bad gzip", r.ingestKey, "application/json", good, []string{"Content-Encoding", "gzip"}, 400, codes.InvalidArgument, "gzip"},
		{"brotli", r.ingestKey, "application/json", good, []string{"Content-Encoding", "br"}, 415, codes.InvalidArgument, "unsupported content encoding"},
		{"long idempotency key", r.ingestKey, "application/json", good, []string{"Idempotency-Key", strings.Repeat("k", 201)}, 400, codes.InvalidArgument, "Idempotency-Key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, hdr, body := r.post(t, c.key, c.ctype, c.body, c.hdr...)
			st := &spb.Status{}
			var err error
			if strings.HasPrefix(c.ctype, "application/x-protobuf") {
				err = proto.Unmarshal(body, st)
			} else {
				err = protojson.Unmarshal(body, st)
			}
			if err != nil {
				t.Fatalf("%d: body %q is not a Status in the request's format: %v", code, body, err)
			}
			if code != c.code || codes.Code(st.Code) != c.grpcCode || !strings.Contains(st.Message, c.msg) {
				t.Fatalf("got %d %v %q (%s), want %d %v containing %q", code, codes.Code(st.Code), st.Message, hdr.Get("Content-Type"), c.code, c.grpcCode, c.msg)
			}
		})
	}
	if evs := r.read(t); len(evs) != 0 {
		t.Fatalf("%d events stored from refused requests", len(evs))
	}
}

// rawCodec sends bytes as they are, to put malformed protobuf on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// The gRPC LogsService: partial success, auth errors, malformed protobuf.
func TestOTLPGRPC(t *testing.T) {
	r := newOTLPRig(t, Config{})
	conn, err := grpc.NewClient(r.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := collogspb.NewLogsServiceClient(conn)
	req := otlpProto(t, "a", "", "b", "c")
	withKey := func(key string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
	}
	resp, err := client.Export(withKey(r.ingestKey), req)
	if err != nil {
		t.Fatal(err)
	}
	if ps := resp.GetPartialSuccess(); ps.GetRejectedLogRecords() != 1 || !strings.Contains(ps.GetErrorMessage(), "log_records[1]: message is empty") {
		t.Fatalf("partial success %v", ps)
	}
	evs := r.stored(t, 3)
	if evs[2].Message != "c" || evs[2].TraceID != "5b8efff798038103d269b633813fc60c" {
		t.Fatalf("stored %+v", evs[2].Event)
	}
	// An empty request succeeds with nothing to say.
	if resp, err := client.Export(withKey(r.ingestKey), &collogspb.ExportLogsServiceRequest{}); err != nil || resp.PartialSuccess != nil {
		t.Fatalf("empty request: %v %v", resp, err)
	}

	for _, c := range []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"no credentials", context.Background(), codes.Unauthenticated},
		{"query-only key", withKey(r.qyKey), codes.PermissionDenied},
	} {
		if _, err := client.Export(c.ctx, req); status.Code(err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	var out []byte
	err = conn.Invoke(withKey(r.ingestKey), "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
		[]byte("\x0a\x05\xff\xff"), &out, grpc.ForceCodec(rawCodec{}))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "malformed otlp request") {
		t.Fatalf("malformed protobuf: %v, want InvalidArgument", err)
	}
	if n := len(r.read(t)); n != 3 {
		t.Fatalf("%d events stored, want still 3", n)
	}
}

// When JetStream cannot take the batch, OTLP clients are told to retry:
// HTTP 503 with Retry-After, gRPC UNAVAILABLE with RetryInfo.
func TestOTLPBusUnavailable(t *testing.T) {
	r := newOTLPEdge(t, Config{PublishTimeout: 500 * time.Millisecond})
	r.nats.Stop()
	code, hdr, body := r.post(t, r.ingestKey, "application/json", []byte(otlpJSON("lost?")))
	st := &spb.Status{}
	if err := protojson.Unmarshal(body, st); err != nil || code != 503 || hdr.Get("Retry-After") == "" || codes.Code(st.Code) != codes.Unavailable {
		t.Fatalf("http: %d retry-after %q body %s (%v)", code, hdr.Get("Retry-After"), body, err)
	}

	conn, err := grpc.NewClient(r.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := otlpProto(t, "lost?")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+r.ingestKey)
	_, err = collogspb.NewLogsServiceClient(conn).Export(ctx, req)
	st2 := status.Convert(err)
	hasRetry := slices.ContainsFunc(st2.Details(), func(d any) bool { _, ok := d.(*errdetails.RetryInfo); return ok })
	if st2.Code() != codes.Unavailable || !hasRetry {
		t.Fatalf("grpc: %v (details %v)", err, st2.Details())
	}
}
