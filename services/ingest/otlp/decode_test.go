package otlp

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sawmillhq/sawmill/pkg/event"
)

var now = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func integer(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}
func double(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}
func boolean(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}
func bytesVal(b []byte) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: b}}
}
func array(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}
func kvlist(kvs ...*commonpb.KeyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
}
func at(k, v string) event.Attr             { return event.Attr{Key: k, Value: v} }
func num(k string, v float64) event.NumAttr { return event.NumAttr{Key: k, Value: v} }
func kv(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

// request wraps records in one resource and one scope.
func request(res []*commonpb.KeyValue, scope string, recs ...*logspb.LogRecord) *collogspb.ExportLogsServiceRequest {
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: res},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: scope, Version: "1.0"}, LogRecords: recs}},
	}}}
}

var ts = uint64(now.Add(-time.Minute).UnixNano())

func TestDecodeMapping(t *testing.T) {
	traceID := []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	spanID := []byte{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
	res := []*commonpb.KeyValue{
		kv("service.name", str("checkout")), kv("deployment.environment", str("old")),
		kv("deployment.environment.name", str("prod")), kv("host.name", str("web-1")),
		kv("service.version", str("2.3")), kv("process.pid", integer(4242)), kv("shared", str("resource")),
	}
	f := func(name string, rec *logspb.LogRecord, want event.Event) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			evs, errs := Decode(request(res, "myapp.views", rec), Protobuf, now, event.Limits{})
			if len(errs) != 0 || len(evs) != 1 {
				t.Fatalf("events %d, errors %v", len(evs), errs)
			}
			got := evs[0]
			want.ObservedTime = now.UnixNano()
			if want.Time == 0 {
				want.Time = int64(ts)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
	resAttrs := []event.Attr{at("service.version", "2.3"), at("process.pid", "4242"), at("shared", "resource")}
	resNums := []event.NumAttr{num("process.pid", 4242)}
	base := func(e event.Event) event.Event {
		e.Service, e.Environment, e.Host = "checkout", "prod", "web-1"
		if e.Logger == "" {
			e.Logger = "myapp.views"
		}
		// Resource attributes come last, unless the record has the key.
		for _, a := range resAttrs {
			if !slices.ContainsFunc(e.Attrs, func(b event.Attr) bool { return b.Key == a.Key }) {
				e.Attrs = append(e.Attrs, a)
			}
		}
		for _, a := range resNums {
			if !slices.ContainsFunc(e.NumAttrs, func(b event.NumAttr) bool { return b.Key == a.Key }) {
				e.NumAttrs = append(e.NumAttrs, a)
			}
		}
		return e
	}

	f("string body, ids, severity number", &logspb.LogRecord{
		TimeUnixNano: ts, SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN, SeverityText: "WARNING",
		Body: str("disk almost full"), TraceId: traceID, SpanId: spanID,
		Attributes: []*commonpb.KeyValue{kv("shared", str("record")), kv("duration_ms", double(12.5)),
			kv("ok", boolean(true)), kv("payload", bytesVal([]byte{0, 1, 2})), kv("tags", array(str("a"), integer(1), double(math.Inf(1))))},
	}, base(event.Event{
		Level: "warn", SeverityNumber: 13, Message: "disk almost full",
		TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174",
		Attrs:    []event.Attr{at("shared", "record"), at("duration_ms", "12.5"), at("ok", "true"), at("payload", "AAEC"), at("tags", `["a",1,"+Inf"]`)},
		NumAttrs: []event.NumAttr{num("duration_ms", 12.5)},
	}))

	f("severity text only, observed time fallback", &logspb.LogRecord{
		ObservedTimeUnixNano: ts, SeverityText: "CRITICAL", Body: str("boom"),
	}, base(event.Event{Level: "fatal", SeverityNumber: 21, Message: "boom"}))

	f("map body with message, nested, exception", &logspb.LogRecord{
		TimeUnixNano: ts,
		Body: kvlist(kv("msg", str("ignored: message wins")), kv("message", str("user logged in")),
			kv("user", kvlist(kv("id", integer(7)), kv("name", str("ann")))), kv("exception.type", str("ValueError"))),
		Attributes: []*commonpb.KeyValue{
			kv("exception.message", str("bad value")), kv("exception.stacktrace", str("Traceback ...")),
			kv("request_id", str("req-1")), kv("code.lineno", integer(42)),
		},
	}, base(event.Event{
		Message:   "user logged in",
		RequestID: "req-1",
		Exception: event.Exception{Type: "ValueError", Message: "bad value", Stack: "Traceback ..."},
		Attrs:     []event.Attr{at("code.lineno", "42"), at("msg", "ignored: message wins"), at("user.id", "7"), at("user.name", "ann")},
		NumAttrs:  []event.NumAttr{num("code.lineno", 42), num("user.id", 7)},
	}))

	f("map body without message: event_name", &logspb.LogRecord{
		TimeUnixNano: ts, EventName: "user.login", Body: kvlist(kv("user", str("ann"))),
	}, base(event.Event{Message: "user.login", Attrs: []event.Attr{at("event.name", "user.login"), at("user", "ann")}}))

	f("map body without message or event_name: JSON text", &logspb.LogRecord{
		TimeUnixNano: ts, Body: kvlist(kv("user", str("ann")), kv("n", integer(2))),
	}, base(event.Event{Message: `{"user":"ann","n":2}`, Attrs: []event.Attr{at("user", "ann"), at("n", "2")}, NumAttrs: []event.NumAttr{num("n", 2)}}))

	f("array body", &logspb.LogRecord{TimeUnixNano: ts, Body: array(str("a\"b\n"), boolean(false), kvlist(kv("k", bytesVal([]byte("x")))))},
		base(event.Event{Message: `["a\"b\n",false,{"k":"eA=="}]`}))

	lvl := base(event.Event{Message: "-5"})
	lvl.Attrs = append(lvl.Attrs, event.Attr{Key: "level", Value: "verbose"}) // added by event.Normalize, last
	f("int body, unknown level text kept", &logspb.LogRecord{TimeUnixNano: ts, Body: integer(-5), SeverityText: "verbose"}, lvl)

	f("exception only, all-zero ids absent", &logspb.LogRecord{
		TimeUnixNano: ts, TraceId: make([]byte, 16), SpanId: make([]byte, 8),
		Attributes: []*commonpb.KeyValue{kv("exception.type", str("KeyError"))},
	}, base(event.Event{Exception: event.Exception{Type: "KeyError"}}))

	f("logger attribute does not override the scope name", &logspb.LogRecord{
		TimeUnixNano: ts, Body: str("x"), Attributes: []*commonpb.KeyValue{kv("logger.name", str("other"))},
	}, base(event.Event{Message: "x", Attrs: []event.Attr{at("logger.name", "other")}}))
}

func TestDecodeScopeAndLogger(t *testing.T) {
	rec := &logspb.LogRecord{TimeUnixNano: ts, Body: str("x"), Attributes: []*commonpb.KeyValue{kv("logger", str("django.request")), kv("k", str("rec"))}}
	req := &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("k", str("res")), kv("r", str("res"))}},
		ScopeLogs: []*logspb.ScopeLogs{{
			Scope:      &commonpb.InstrumentationScope{Attributes: []*commonpb.KeyValue{kv("k", str("scope")), kv("r", str("scope")), kv("s", str("scope"))}},
			LogRecords: []*logspb.LogRecord{rec},
		}},
	}}}
	evs, errs := Decode(req, Protobuf, now, event.Limits{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	e := evs[0]
	if e.Logger != "django.request" {
		t.Errorf("logger %q, want the attribute's when the scope has no name", e.Logger)
	}
	want := []event.Attr{at("k", "rec"), at("r", "scope"), at("s", "scope")}
	if !reflect.DeepEqual(e.Attrs, want) {
		t.Errorf("attrs %v, want %v (record > scope > resource)", e.Attrs, want)
	}
}

func TestDecodeRejectsOnlyBadRecords(t *testing.T) {
	big := strings.Repeat("x", 300)
	manyAttrs := make([]*commonpb.KeyValue, 0, 300)
	for i := range 300 {
		manyAttrs = append(manyAttrs, kv("k"+formatInt(int64(i)), integer(int64(i))))
	}
	recs := []*logspb.LogRecord{
		{TimeUnixNano: ts, Body: str("good 0")},
		{TimeUnixNano: ts, Body: str("   ")},
		{TimeUnixNano: ts, Body: str("bad trace"), TraceId: []byte{1, 2, 3}},
		{TimeUnixNano: ts, Body: str("good 3")},
		{TimeUnixNano: uint64(now.Add(48 * time.Hour).UnixNano()), Body: str("future")},
		{TimeUnixNano: ts, Body: str("too many"), Attributes: manyAttrs},
		{TimeUnixNano: ts, Body: str("long key"), Attributes: []*commonpb.KeyValue{kv(big, str("v"))}},
		{TimeUnixNano: math.MaxUint64, Body: str("overflow")},
		{TimeUnixNano: ts, Body: str("dup via body"), Attributes: []*commonpb.KeyValue{kv("a", str("1"))}}, // body key dropped, not a dup
	}
	recs[8].Body = kvlist(kv("message", str("dup via body")), kv("a", str("2")))
	req := request(nil, "s", recs...)
	evs, errs := Decode(req, Protobuf, now, event.Limits{})
	if len(evs)+len(errs) != len(recs) {
		t.Fatalf("%d events + %d errors != %d records", len(evs), len(errs), len(recs))
	}
	wantReasons := map[int]string{
		1: "message is empty",
		2: "trace_id is 3 bytes, want 16",
		4: "in the future",
		6: "longer than 128 bytes",
		7: "in the future",
	}
	if len(errs) != len(wantReasons) {
		t.Fatalf("errors %v", errs)
	}
	for _, e := range errs {
		if !strings.Contains(e.Reason, wantReasons[e.Index]) || e.Record != e.Index {
			t.Errorf("record %d: reason %q, want it to contain %q", e.Index, e.Reason, wantReasons[e.Index])
		}
	}
	var msgs []string
	for _, e := range evs {
		msgs = append(msgs, e.Message)
	}
	// "too many" attributes is repaired (extra attributes dropped, marked), not rejected.
	if want := []string{"good 0", "good 3", "too many", "dup via body"}; !reflect.DeepEqual(msgs, want) {
		t.Fatalf("accepted %q, want %q", msgs, want)
	}
	s := Summary(errs, len(recs), 2)
	if !strings.HasPrefix(s, "5 of 9 log records rejected: resource_logs[0].scope_logs[0].log_records[1]: message is empty; ") ||
		!strings.HasSuffix(s, "; and 3 more") {
		t.Fatalf("summary %q", s)
	}
}

func TestUnmarshalJSON(t *testing.T) {
	f := func(name, body, wantTrace, wantSpan, wantReason string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			req, err := Unmarshal([]byte(body), JSON)
			if err != nil {
				t.Fatal(err)
			}
			evs, errs := Decode(req, JSON, now, event.Limits{})
			if wantReason != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Reason, wantReason) {
					t.Fatalf("errors %v, want %q", errs, wantReason)
				}
				return
			}
			if len(errs) != 0 || len(evs) != 1 {
				t.Fatalf("events %v errors %v", evs, errs)
			}
			if evs[0].TraceID != wantTrace || evs[0].SpanID != wantSpan {
				t.Fatalf("ids %q %q, want %q %q", evs[0].TraceID, evs[0].SpanID, wantTrace, wantSpan)
			}
		})
	}
	rec := func(ids string) string {
		return `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
		"scopeLogs":[{"scope":{"name":"app"},"logRecords":[{"timeUnixNano":"` + formatInt(int64(ts)) + `",
		"severityNumber":9,"body":{"stringValue":"hi"},"unknownField":{"x":1}` + ids + `}]}]}]}`
	}
	f("hex ids (the OTLP/JSON rule)", rec(`,"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174"`),
		"5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "")
	f("base64 ids (plain protobuf JSON) also accepted", rec(`,"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ="`),
		"5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "")
	f("no ids", rec(``), "", "", "")
	f("non-hex trace id", rec(`,"traceId":"zzzzfff798038103d269b633813fc60c"`), "", "", `traceId "zzzzfff798038103d269b633813fc60c" is not 32 hex digits`)
	f("short span id", rec(`,"spanId":"eee19b7e"`), "", "", "spanId must be 16 hex digits")

	// Enum names, int64 as numbers, original field names: lenient.
	req, err := Unmarshal([]byte(`{"resource_logs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":`+formatInt(int64(ts))+
		`,"severityNumber":"SEVERITY_NUMBER_ERROR","body":{"intValue":"12"},"attributes":[{"key":"n","value":{"intValue":5}}]}]}]}]}`), JSON)
	if err != nil {
		t.Fatal(err)
	}
	evs, errs := Decode(req, JSON, now, event.Limits{})
	if len(errs) != 0 || evs[0].Level != "error" || evs[0].Message != "12" || evs[0].NumAttrs[0] != (event.NumAttr{Key: "n", Value: 5}) {
		t.Fatalf("events %+v errors %v", evs, errs)
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	for _, c := range []struct {
		name string
		f    Format
		body string
	}{
		{"json syntax", JSON, `{"resourceLogs":[`},
		{"json wrong type", JSON, `{"resourceLogs":{"a":1}}`},
		{"json array", JSON, `[]`},
		{"protobuf garbage", Protobuf, "\xff\xff\xff\xff"},
		{"protobuf truncated", Protobuf, "\x0a\x10\x0a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Unmarshal([]byte(c.body), c.f); err == nil {
				t.Fatal("no error")
			}
		})
	}
	// An empty body is an empty, valid request.
	req, err := Unmarshal(nil, Protobuf)
	if err != nil || Count(req) != 0 {
		t.Fatalf("empty: %v %v", req, err)
	}
}

func TestDecodeDeepAndWideValues(t *testing.T) {
	// A map nested deeper than maxFlattenDepth becomes JSON text.
	v := str("leaf")
	for range 12 {
		v = kvlist(kv("n", v))
	}
	// A record with many distinct keys takes the set-based duplicate check.
	attrs := []*commonpb.KeyValue{kv("deep", v)}
	for i := range 40 {
		attrs = append(attrs, kv("k"+formatInt(int64(i%30)), integer(int64(i))))
	}
	evs, errs := Decode(request(nil, "s", &logspb.LogRecord{TimeUnixNano: ts, Body: str("x"), Attributes: attrs}), Protobuf, now, event.Limits{})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	e := evs[0]
	if len(e.Attrs) != 31 || len(e.NumAttrs) != 30 {
		t.Fatalf("%d attrs, %d numeric: %v", len(e.Attrs), len(e.NumAttrs), e.Attrs)
	}
	deepKey := "deep" + strings.Repeat(".n", 8)
	if e.Attrs[0].Key != deepKey || e.Attrs[0].Value != `{"n":{"n":{"n":{"n":"leaf"}}}}` {
		t.Fatalf("deep attr %v", e.Attrs[0])
	}
	if e.NumAttrs[29] != (event.NumAttr{Key: "k29", Value: 29}) {
		t.Fatalf("first occurrence must win: %v", e.NumAttrs[29])
	}
}

// Decode must not modify its input (the gRPC layer may log it, retries may
// reuse it).
func TestDecodeDoesNotModifyRequest(t *testing.T) {
	req := request([]*commonpb.KeyValue{kv("service.name", str("a"))}, "s",
		&logspb.LogRecord{TimeUnixNano: ts, Body: kvlist(kv("message", str("m")), kv("x", integer(1))), SeverityText: "odd\xff"})
	before := proto.Clone(req)
	Decode(req, Protobuf, now, event.Limits{})
	if !proto.Equal(before, req) {
		t.Fatal("request modified")
	}
}
