package native

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// as builds attributes from key, value pairs.
func as(kv ...string) []event.Attr {
	var out []event.Attr
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, event.Attr{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// ns builds numeric attributes from key, value pairs.
func ns(kv ...any) []event.NumAttr {
	var out []event.NumAttr
	for i := 0; i+1 < len(kv); i += 2 {
		v, ok := kv[i+1].(float64)
		if !ok {
			v = float64(kv[i+1].(int))
		}
		out = append(out, event.NumAttr{Key: kv[i].(string), Value: v})
	}
	return out
}

func TestDecodeLoggers(t *testing.T) {
	now := testNow.UnixNano()
	f := func(name, line string, want event.Event) {
		t.Helper()
		got := decodeOne(t, line)
		want.ObservedTime = now
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, want)
		}
	}
	f("python-json-logger with traceback", pythonJSONLoggerLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:02.481Z"), Level: "error", SeverityNumber: 17,
		Message: "Payment capture failed", Logger: "orders.views",
		Attrs:    as("pathname", "/app/orders/views.py", "lineno", "142", "order_id", "ord_81723"),
		NumAttrs: ns("lineno", 142),
		Exception: event.Exception{
			Type: "payments.errors.CardDeclined", Message: "card declined: insufficient funds",
			Stack: "Traceback (most recent call last):\n  File \"/app/orders/views.py\", line 140, in capture\n    gateway.capture(order)\n  File \"/app/payments/gateway.py\", line 88, in capture\n    raise CardDeclined(\"insufficient funds\")\npayments.errors.CardDeclined: card declined: insufficient funds",
		},
	})
	f("django request", djangoRequestLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:03.120482Z"), Level: "info", SeverityNumber: 9,
		Message: `"GET /api/orders/?page=2 HTTP/1.1" 200 5123`, Logger: "django.server",
		Service: "shop-web", Environment: "production", Host: "web-3",
		RequestID: "9f1c6d0e-2b7a-4d8e-9a51-0c3f1f6b2e11",
		Attrs: as("method", "GET", "path", "/api/orders/", "status_code", "200",
			"duration_ms", "48.213", "user_id", "4211"),
		NumAttrs: ns("status_code", 200, "duration_ms", 48.213, "user_id", 4211),
	})
	f("celery task", celeryTaskLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:04.002Z"), Level: "warn", SeverityNumber: 13,
		Message: "Task orders.tasks.send_receipt[6b2a0c1e] retry: Retry in 30s",
		Logger:  "celery.app.trace", Host: "worker-1@shop",
		Attrs: as("task_id", "6b2a0c1e-77f3-4b7e-8d2c-5e0f9a1b3c4d",
			"task_name", "orders.tasks.send_receipt", "retries", "2"),
		NumAttrs: ns("retries", 2),
	})
	f("structlog", structlogLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:05.123456Z"), Level: "info", SeverityNumber: 9,
		Message: "user logged in", Logger: "auth.views",
		Attrs: as("user_id", "u_42"),
	})
	f("structlog exception, float epoch", structlogExcLine, event.Event{
		Time: 1772270105500000000, Level: "error", SeverityNumber: 17, Message: "job failed",
		Exception: event.Exception{
			Type: "ZeroDivisionError", Message: "division by zero",
			Stack: "Traceback (most recent call last):\n  File \"/app/jobs.py\", line 9, in run\n    1/0\n    ~^~\nZeroDivisionError: division by zero",
		},
	})
	f("go slog", slogLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:06.123456789Z"), Level: "warn", SeverityNumber: 13,
		Message: "slow query",
		Attrs: as("duration", "1.5", "query", "SELECT * FROM orders WHERE id = $1",
			"db.host", "pg-1", "db.port", "5432"),
		NumAttrs: ns("duration", 1.5, "db.port", 5432),
	})
	f("pino", pinoLine, event.Event{
		Time: 1772270107000000000, Level: "error", SeverityNumber: 17,
		Message: "request failed", Host: "api-7",
		Attrs:    as("pid", "4242", "reqId", "req-1"),
		NumAttrs: ns("pid", 4242),
		Exception: event.Exception{
			Type: "TypeError", Message: "Cannot read properties of undefined (reading 'id')",
			Stack: "TypeError: Cannot read properties of undefined (reading 'id')\n    at handler (/srv/app.js:10:5)",
		},
	})
	f("bunyan", bunyanLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:08Z"), Level: "info", SeverityNumber: 9,
		Message: "invoice sent", Logger: "billing", Host: "bill-1",
		Attrs:    as("pid", "123", "v", "0"),
		NumAttrs: ns("pid", 123, "v", 0),
	})
	f("ECS", ecsLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:09.321Z"), Level: "error", SeverityNumber: 17,
		Message: "Order sync failed", Service: "sync", Logger: "app.sync", Host: "sync-2",
		TraceID: "0af7651916cd43dd8448eb211c80319c",
		Attrs: as("ecs.version", "1.6.0", "log.origin.file.line", "33",
			"log.origin.file.name", "sync.py"),
		NumAttrs: ns("log.origin.file.line", 33),
		Exception: event.Exception{
			Type: "ConnectionError", Message: "timed out",
			Stack: "Traceback (most recent call last):\n  File \"sync.py\", line 33, in run\nConnectionError: timed out",
		},
	})
	f("logstash java", logstashJavaLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:10.111Z"), Level: "warn", SeverityNumber: 13,
		Message: "Consumer stopped", Logger: "com.shop.Consumer",
		Attrs:    as("@version", "1", "thread_name", "main", "level_value", "30000"),
		NumAttrs: ns("level_value", 30000),
		Exception: event.Exception{
			Type: "java.lang.IllegalStateException", Message: "closed",
			Stack: "java.lang.IllegalStateException: closed\n\tat com.shop.Consumer.poll(Consumer.java:10)",
		},
	})
	f("docker json-file", dockerLine, event.Event{
		Time: ts(t, "2026-02-28T09:15:11.123456789Z"), Message: "listening on :8000\n",
		Attrs: as("stream", "stdout"),
	})
}

// TestDecodeMapping checks the field mapping rules one at a time.
func TestDecodeMapping(t *testing.T) {
	t0 := testNow.UnixNano()
	f := func(name, line string, want event.Event) {
		t.Helper()
		got := decodeOne(t, line)
		if want.Time == 0 {
			want.Time = t0
		}
		want.ObservedTime = t0
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s\n got %#v\nwant %#v", name, line, got, want)
		}
	}
	f("no time: receive time", `{"msg":"m"}`, event.Event{Message: "m"})
	f("alias priority, loser kept", `{"msg":"second","message":"first","time":"2026-01-01T00:00:00Z","timestamp":"2026-01-02T00:00:00Z"}`,
		event.Event{Time: ts(t, "2026-01-02T00:00:00Z"), Message: "first",
			Attrs: as("msg", "second", "time", "2026-01-01T00:00:00Z")})
	f("null is absent", `{"message":null,"msg":"m","x":null}`, event.Event{Message: "m"})
	f("wrong kind falls through", `{"host":{"name":"h1"},"exception":{"type":"E"},"msg":"m"}`,
		event.Event{Host: "h1", Message: "m", Exception: event.Exception{Type: "E"}})
	f("precision kept", `{"msg":"m","big":12345678901234567890123,"id":"007","f":1.10}`,
		event.Event{Message: "m",
			Attrs:    as("big", "12345678901234567890123", "id", "007", "f", "1.10"),
			NumAttrs: ns("big", 1.2345678901234568e22, "f", 1.1)})
	f("numeric string is no number", `{"msg":"m","n":"42"}`, event.Event{Message: "m", Attrs: as("n", "42")})
	f("huge number: text only", `{"msg":"m","n":1e400}`, event.Event{Message: "m", Attrs: as("n", "1e400")})
	f("booleans, arrays", `{"msg":"m","ok":true,"no":false,"tags":[ "a", 1 , {"b" : null} ]}`,
		event.Event{Message: "m", Attrs: as("ok", "true", "no", "false", "tags", `["a",1,{"b":null}]`)})
	f("flattened, input order", `{"z":1,"a":{"y":"1","b":{"c":"2"},"e":{}},"msg":"m"}`,
		event.Event{Message: "m", Attrs: as("z", "1", "a.y", "1", "a.b.c", "2"),
			NumAttrs: ns("z", 1)})
	f("duplicate key: first wins", `{"msg":"m","k":"1","k":"2","a":{"b":"x"},"a.b":"y"}`,
		event.Event{Message: "m", Attrs: as("k", "1", "a.b", "x")})
	f("escapes", `{"msg":"tab\there \"q\" \u00e9 \ud83d\ude00 \ud800 caf\u00e9","k\u0041":"v"}`,
		event.Event{Message: "tab\there \"q\" é 😀 \uFFFD café", Attrs: as("kA", "v")})
	f("invalid utf-8 replaced", "{\"msg\":\"a\xffb\",\"k\xfe\":\"v\"}",
		event.Event{Message: "a\uFFFDb", Attrs: as("k\uFFFD", "v")})
	f("number message", `{"msg":42}`, event.Event{Message: "42"})
	f("unknown level kept as attr", `{"levelname":"VERBOSE","msg":"m"}`,
		event.Event{Message: "m", Attrs: as("level", "VERBOSE")})
	f("level with spaces", `{"log.level":" WARN","msg":"m"}`,
		event.Event{Message: "m", Level: "warn", SeverityNumber: 13})
	f("severity_number wins", `{"severity_text":"INFO","severity_number":10,"msg":"m"}`,
		event.Event{Message: "m", Level: "info", SeverityNumber: 10})
	f("GCP severity", `{"severity":"CRITICAL","msg":"m"}`,
		event.Event{Message: "m", Level: "fatal", SeverityNumber: 21})
	f("pino custom level rounds down", `{"level":35,"msg":"m"}`,
		event.Event{Message: "m", Level: "info", SeverityNumber: 9})
	f("pino trace, fatal", `{"level":10,"msg":"m","x":{"level":60}}`,
		event.Event{Message: "m", Level: "trace", SeverityNumber: 1,
			Attrs: as("x.level", "60"), NumAttrs: ns("x.level", 60)})
	f("unknown level number", `{"level":7,"msg":"m"}`, event.Event{Message: "m", Attrs: as("level", "7")})
	f("ids, request id aliases", `{"msg":"m","traceId":"t1","otelSpanID":"s1","correlation_id":"c1","dd.trace_id":123456789012345678901}`,
		event.Event{Message: "m", TraceID: "t1", SpanID: "s1", RequestID: "c1",
			Attrs:    as("dd.trace_id", "123456789012345678901"),
			NumAttrs: ns("dd.trace_id", 1.2345678901234568e20)})
	f("datadog numeric ids", `{"msg":"m","dd":{"trace_id":123456789012345678901,"span_id":42}}`,
		event.Event{Message: "m", TraceID: "123456789012345678901", SpanID: "42"})
	f("service aliases", `{"msg":"m","app":"a","deployment":{"environment":"staging"},"logger_name":"l"}`,
		event.Event{Message: "m", Service: "a", Environment: "staging", Logger: "l"})
	f("error string", `{"msg":"m","error":"connection refused"}`,
		event.Event{Message: "m", Exception: event.Exception{Message: "connection refused"}})
	f("error string loses to stack", `{"msg":"m","error":"boom","stack":"Error: boom\n    at x"}`,
		event.Event{Message: "m", Attrs: as("error", "boom"),
			Exception: event.Exception{Type: "Error", Message: "boom", Stack: "Error: boom\n    at x"}})
	f("error bool is an attr", `{"msg":"m","error":true}`,
		event.Event{Message: "m", Attrs: as("error", "true")})
	f("exception only", `{"exception":{"type":"KeyError","message":"'sku'"}}`,
		event.Event{Exception: event.Exception{Type: "KeyError", Message: "'sku'"}})
	f("bunyan err", `{"msg":"m","err":{"name":"Error","message":"x","stack":"Error: x\n  at y"}}`,
		event.Event{Message: "m", Exception: event.Exception{Type: "Error", Message: "x", Stack: "Error: x\n  at y"}})
	f("python exception without message", `{"msg":"m","exc_info":"Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyboardInterrupt"}`,
		event.Event{Message: "m", Exception: event.Exception{Type: "KeyboardInterrupt",
			Stack: "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyboardInterrupt"}})
	f("text message, env, hostname", `{"text":"t","env":"dev","hostname":"h"}`,
		event.Event{Message: "t", Environment: "dev", Host: "h"})
}

func TestDecodeLineErrors(t *testing.T) {
	f := func(name, line, want string) {
		t.Helper()
		evs, _, errs := Decode([]byte(line), "", testNow, event.Limits{})
		if len(evs) != 0 || len(errs) != 1 || errs[0].Index != 0 {
			t.Fatalf("%s: Decode = %d events, errors %v; want one error at 0", name, len(evs), errs)
		}
		if errs[0].Reason != want {
			t.Errorf("%s: reason\n got %q\nwant %q", name, errs[0].Reason, want)
		}
	}
	f("bad key", `{"msg": x}`, "invalid JSON at byte 8: invalid character 'x' looking for beginning of value")
	f("truncated", `{"msg": "x"`, "invalid JSON at byte 11: unexpected end of JSON input")
	f("truncated string", `{"msg": "x`, "invalid JSON at byte 10: unexpected end of JSON input")
	f("control char", "{\"msg\": \"a\tb\"}", `invalid JSON at byte 10: invalid character '\t' in string literal`)
	f("bad escape", `{"msg": "a\qb"}`, `invalid JSON at byte 11: invalid character 'q' in string escape code`)
	f("bad unicode escape", `{"msg": "\u12x4"}`, `invalid JSON at byte 13: invalid character 'x' in \u hexadecimal character escape`)
	f("bad number", `{"n": 01}`, "invalid JSON at byte 7: invalid character '1' after object key:value pair")
	f("bad literal", `{"n": tru}`, "invalid JSON at byte 9: invalid character '}' in literal true")
	f("missing colon", `{"n" 1}`, "invalid JSON at byte 5: invalid character '1' after object key")
	f("trailing garbage", `{"msg":"m"} x`, "invalid JSON at byte 12: invalid character 'x' after top-level value")
	f("BOM counted", "\uFEFF{x}", "invalid JSON at byte 4: invalid character 'x' looking for beginning of object key string")
	f("not json", "hello world", "invalid JSON at byte 0: invalid character 'h' looking for beginning of value")
	f("binary", "\x00\x01", `invalid JSON at byte 0: invalid character '\x00' looking for beginning of value`)
	f("string body", `"just text"`, "expected a JSON object, got string")
	f("number body", `42`, "expected a JSON object, got number")
	f("bad time", `{"msg":"m","time":"yesterday"}`, `unparseable timestamp "yesterday"`)
	f("time out of range", `{"msg":"m","ts":99999999999999999999}`, `timestamp "99999999999999999999" is out of range`)
	f("empty message", `{"level":"info"}`, "message is empty")
	f("before 1970", `{"msg":"m","time":"1969-07-20T20:17:40Z"}`, "timestamp 1969-07-20T20:17:40Z is before 1970")
	f("future", `{"msg":"m","time":"2099-01-01T00:00:00Z"}`, "timestamp 2099-01-01T00:00:00Z is more than 24h in the future")
	f("too deep", `{"a":`+strings.Repeat(`{"a":`, 70)+`1`+strings.Repeat("}", 71),
		"invalid JSON at byte 320: nested deeper than 64 levels")
	f("empty key", `{"msg":"m","":"v"}`, "attribute key is empty")
}

func TestDecodeLimits(t *testing.T) {
	lim := event.Limits{MaxEventBytes: 200, MaxAttributes: 3, MaxKeyBytes: 8, MaxValueBytes: 10}
	f := func(name, line, want string) {
		t.Helper()
		evs, _, errs := Decode([]byte(line), "", testNow, lim)
		got := ""
		if len(errs) > 0 {
			got = errs[0].Reason
		}
		if want == "" && len(evs) != 1 || got != want {
			t.Errorf("%s: Decode = %d events, errors %v; want error %q", name, len(evs), errs, want)
		}
	}
	f("within", `{"msg":"m","a":1,"b":2,"c":3}`, "")
	f("size", `{"msg":"`+strings.Repeat("x", 300)+`"}`, "event is 316 bytes, limit 200")
	f("key", `{"msg":"m","abcdefghi":1}`, `attribute key "abcdefghi" longer than 8 bytes`)

	// Repaired, not rejected: cut or dropped, with a marker (event.Prepare).
	repaired := func(name, line, marker, value string) {
		t.Helper()
		evs, _, errs := Decode([]byte(line), "", testNow, lim)
		if len(errs) != 0 || len(evs) != 1 {
			t.Fatalf("%s: %d events, errors %v", name, len(evs), errs)
		}
		for _, a := range evs[0].Attrs {
			if a.Key == marker && a.Value == value {
				return
			}
		}
		t.Errorf("%s: attrs %v lack %s=%s", name, evs[0].Attrs, marker, value)
	}
	repaired("attrs", `{"msg":"m","a":1,"b":2,"c":3,"d":4}`, event.MarkerDroppedAttributes, "2") // c and d: a place is kept for the marker
	repaired("value", `{"msg":"m","a":"0123456789x"}`, event.MarkerTruncated, "a")
	repaired("service", `{"msg":"m","service":"0123456789x"}`, event.MarkerTruncated, "service")
}

func TestDecodeBodies(t *testing.T) {
	type result struct {
		idx  []int
		errs []LineError
	}
	f := func(name, body, contentType string, want result) {
		t.Helper()
		evs, idx, errs := Decode([]byte(body), contentType, testNow, event.Limits{})
		if len(evs) != len(idx) {
			t.Fatalf("%s: %d events but %d indexes", name, len(evs), len(idx))
		}
		got := result{idx, errs}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
		for i, e := range evs {
			if e.Message != "m" {
				t.Errorf("%s: event %d (line %d) has message %q", name, i, idx[i], e.Message)
			}
		}
	}
	none := result{}
	f("empty", "", "", none)
	f("blank", " \n\r\n\t ", "application/x-ndjson", none)
	f("blank, no type", " \n\r\n\t ", "", none)
	f("single", `{"msg":"m"}`, "application/json", result{idx: []int{0}})
	f("single, leading blank lines", "\n\n  {\"msg\":\"m\"}\n", "", result{idx: []int{0}})
	f("pretty-printed", "{\n  \"msg\": \"m\",\n  \"a\": [\n    1\n  ]\n}\n", "", result{idx: []int{0}})
	f("ndjson by content", "{\"msg\":\"m\"}\n{\"msg\":\"m\"}\n", "", result{idx: []int{0, 1}})
	f("ndjson, bad line in the middle", "{\"msg\":\"m\"}\n{\"msg\":\"m\"\n{\"msg\":\"m\"}",
		"application/x-ndjson; charset=utf-8", result{idx: []int{0, 2},
			errs: []LineError{{1, "invalid JSON at byte 10: unexpected end of JSON input"}}})
	f("ndjson, physical lines, CRLF", "\r\n{\"msg\":\"m\"}\r\n\r\n   \r\n[1]\r\n{\"msg\":\"m\"}\r\n",
		"application/x-ndjson", result{idx: []int{1, 5},
			errs: []LineError{{4, "expected a JSON object, got array"}}})
	f("ndjson, first line bad", "{\"msg\"\n{\"msg\":\"m\"}", "", result{idx: []int{1},
		errs: []LineError{{0, "invalid JSON at byte 6: unexpected end of JSON input"}}})
	f("ndjson type, single array", `[{"msg":"m"}]`, "application/x-ndjson",
		result{errs: []LineError{{0, "expected a JSON object, got array"}}})
	f("ndjson type, garbage line", "{\"msg\":\"m\"}\nhello\n", "application/jsonl",
		result{idx: []int{0}, errs: []LineError{{1, "invalid JSON at byte 0: invalid character 'h' looking for beginning of value"}}})
	f("array", "[\n {\"msg\":\"m\"},\n {\"msg\":\"m\"}\n]", "application/json", result{idx: []int{0, 1}})
	f("empty array", " [ ] ", "", none)
	f("array, bad elements kept apart", `[{"msg":"m"}, 3, {"level":"info"}, {"msg":"m"}, null]`, "",
		result{idx: []int{0, 3}, errs: []LineError{
			{1, "expected a JSON object, got number"},
			{2, "message is empty"},
			{4, "expected a JSON object, got null"},
		}})
	f("array, syntax error ends it", `[{"msg":"m"}, {"msg":"m",}, {"msg":"m"}]`, "",
		result{idx: []int{0}, errs: []LineError{
			{1, "invalid JSON at byte 25: invalid character '}' looking for beginning of object key string; the rest of the array was not read"}}})
	f("array, missing comma", `[{"msg":"m"} {"msg":"m"}]`, "",
		result{idx: []int{0}, errs: []LineError{
			{1, "invalid JSON at byte 13: invalid character '{' after array element; the rest of the array was not read"}}})
	f("array, truncated", `[{"msg":"m"},{"msg":"m"`, "",
		result{idx: []int{0}, errs: []LineError{{1, "invalid JSON at byte 23: unexpected end of JSON input"}}})
	f("array, unclosed", `[{"msg":"m"}`, "",
		result{idx: []int{0}, errs: []LineError{{1, "invalid JSON at byte 12: unexpected end of JSON input"}}})
	f("array, trailing garbage", `[{"msg":"m"}] {}`, "",
		result{idx: []int{0}, errs: []LineError{
			{1, "invalid JSON at byte 14: invalid character '{' after top-level value; the rest of the body was not read"}}})
	f("not json", "GET / HTTP/1.1\nHost: x\n", "text/plain",
		result{errs: []LineError{{0, "invalid JSON at byte 0: invalid character 'G' looking for beginning of value"}}})
}

func TestDecodeNDJSONOneBadLine(t *testing.T) {
	body := strings.Join([]string{djangoRequestLine, celeryTaskLine, `{"message": "half a line`, pinoLine, bunyanLine}, "\n")
	evs, idx, errs := Decode([]byte(body), "application/x-ndjson", testNow, event.Limits{})
	wantErrs := []LineError{{2, "invalid JSON at byte 24: unexpected end of JSON input"}}
	if !reflect.DeepEqual(idx, []int{0, 1, 3, 4}) || !reflect.DeepEqual(errs, wantErrs) {
		t.Fatalf("Decode: idx %v, errs %v; want [0 1 3 4], %v", idx, errs, wantErrs)
	}
	for i, want := range []string{djangoRequestLine, celeryTaskLine, pinoLine, bunyanLine} {
		if w := decodeOne(t, want); !reflect.DeepEqual(evs[i], w) {
			t.Errorf("event %d differs from the same line decoded alone:\n got %+v\nwant %+v", i, evs[i], w)
		}
	}
}

func TestLineErrorError(t *testing.T) {
	if got := (LineError{3, "message is empty"}).Error(); got != "line 3: message is empty" {
		t.Errorf("Error() = %q", got)
	}
}
