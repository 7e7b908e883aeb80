package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonSamples are OTLP/JSON bodies shaped like what real senders produce:
// the OpenTelemetry Collector's otlphttp exporter, the JS and Python SDKs
// with the http/json protocol, and hand-written curl requests.
var jsonSamples = []string{
	// Collector-style: hex ids, int64 as strings, enum as number.
	`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},
	{"key":"host.name","value":{"stringValue":"ip-10-0-0-12"}},{"key":"telemetry.sdk.language","value":{"stringValue":"python"}}]},
	"scopeLogs":[{"scope":{"name":"django.request","version":"1.2.0"},"logRecords":[{"timeUnixNano":"1795687140000000000",
	"observedTimeUnixNano":"1795687140000100000","severityNumber":17,"severityText":"ERROR",
	"body":{"stringValue":"Internal Server Error: /api/orders/"},"attributes":[{"key":"http.route","value":{"stringValue":"/api/orders/"}},
	{"key":"http.status_code","value":{"intValue":"500"}},{"key":"exception.type","value":{"stringValue":"KeyError"}},
	{"key":"exception.stacktrace","value":{"stringValue":"Traceback (most recent call last):\n  File \"views.py\", line 3\nKeyError: 'id'"}}],
	"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","flags":1}]}]}]}`,
	// JS SDK style: map body, double, bool, array, bytes, kvlist attribute.
	`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}},
	{"key":"deployment.environment.name","value":{"stringValue":"staging"}}]},"scopeLogs":[{"scope":{"name":"pino"},
	"logRecords":[{"timeUnixNano":1795687140000000000,"severityNumber":9,"body":{"kvlistValue":{"values":[
	{"key":"msg","value":{"stringValue":"request completed"}},{"key":"res","value":{"kvlistValue":{"values":[{"key":"statusCode","value":{"intValue":200}}]}}},
	{"key":"responseTime","value":{"doubleValue":12.75}}]}},"attributes":[{"key":"cached","value":{"boolValue":false}},
	{"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"2"}]}}},{"key":"blob","value":{"bytesValue":"aGVsbG8="}}]}]}]}]}`,
	// Minimal curl request: no resource, no time.
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hello from curl"}}]}]}]}`,
	// Empty and nearly empty.
	`{}`,
	`{"resourceLogs":[]}`,
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}`,
	// Bad ids, enum name, event name.
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"eventName":"browser.click","severityNumber":"SEVERITY_NUMBER_INFO",
	"traceId":"not-hex","spanId":"eee19b7ec3c1b174","body":{"kvlistValue":{"values":[{"key":"x","value":{"doubleValue":"NaN"}}]}}}]}]}]}`,
}

// sampleRequest is a realistic request: one resource as an OTel SDK
// describes a Django service, one scope, n records like an access log with
// trace context.
func sampleRequest(n int) *collogspb.ExportLogsServiceRequest {
	res := []*commonpb.KeyValue{
		kv("service.name", str("checkout")), kv("service.version", str("2026.11.3")),
		kv("deployment.environment.name", str("production")), kv("host.name", str("ip-10-0-3-17")),
		kv("telemetry.sdk.language", str("python")), kv("telemetry.sdk.name", str("opentelemetry")),
		kv("telemetry.sdk.version", str("1.38.0")), kv("process.pid", integer(4711)),
	}
	recs := make([]*logspb.LogRecord, n)
	for i := range recs {
		tid := make([]byte, 16)
		sid := make([]byte, 8)
		for j := range tid {
			tid[j] = byte(i*7 + j + 1)
		}
		for j := range sid {
			sid[j] = byte(i*3 + j + 1)
		}
		recs[i] = &logspb.LogRecord{
			TimeUnixNano:         ts + uint64(i),
			ObservedTimeUnixNano: ts + uint64(i) + 1000,
			SeverityNumber:       logspb.SeverityNumber_SEVERITY_NUMBER_INFO,
			SeverityText:         "INFO",
			Body:                 str(fmt.Sprintf("GET /api/orders/%d/ HTTP/1.1 200 completed in %d ms", 1000+i, 10+i%90)),
			Attributes: []*commonpb.KeyValue{
				kv("http.request.method", str("GET")), kv("http.route", str("/api/orders/<id>/")),
				kv("http.response.status_code", integer(200)), kv("duration_ms", double(float64(10+i%90)+0.25)),
				kv("user_id", str(fmt.Sprintf("u%06d", i%500))), kv("code.lineno", integer(212)),
			},
			TraceId: tid, SpanId: sid, Flags: 1,
		}
	}
	return &collogspb.ExportLogsServiceRequest{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: res},
		ScopeLogs: []*logspb.ScopeLogs{{Scope: &commonpb.InstrumentationScope{Name: "django.request"}, LogRecords: recs}},
	}}}
}

func mustProto(tb testing.TB, m proto.Message) []byte {
	tb.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustJSON encodes m as OTLP/JSON: protojson's output with ids turned from
// base64 into hex, as the spec requires.
func mustJSON(tb testing.TB, m *collogspb.ExportLogsServiceRequest) []byte {
	tb.Helper()
	c := proto.Clone(m).(*collogspb.ExportLogsServiceRequest)
	for _, rl := range c.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				// Store the hex text's base64 reading so protojson writes the hex text.
				lr.TraceId = hexAsBase64(tb, lr.TraceId)
				lr.SpanId = hexAsBase64(tb, lr.SpanId)
			}
		}
	}
	b, err := protojson.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func hexAsBase64(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	if len(raw) == 0 {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(hex.EncodeToString(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
