package native

import (
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// testNow is the receive time every test decodes with.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Real-world lines, as the loggers named print them.
const (
	pythonJSONLoggerLine = `{"asctime": "2026-02-28 09:15:02,481", "levelname": "ERROR", "name": "orders.views", "message": "Payment capture failed", "pathname": "/app/orders/views.py", "lineno": 142, "exc_info": "Traceback (most recent call last):\n  File \"/app/orders/views.py\", line 140, in capture\n    gateway.capture(order)\n  File \"/app/payments/gateway.py\", line 88, in capture\n    raise CardDeclined(\"insufficient funds\")\npayments.errors.CardDeclined: card declined: insufficient funds", "order_id": "ord_81723"}`
	djangoRequestLine    = `{"timestamp": "2026-02-28T09:15:03.120482+00:00", "level": "INFO", "logger": "django.server", "message": "\"GET /api/orders/?page=2 HTTP/1.1\" 200 5123", "request_id": "9f1c6d0e-2b7a-4d8e-9a51-0c3f1f6b2e11", "method": "GET", "path": "/api/orders/", "status_code": 200, "duration_ms": 48.213, "user_id": 4211, "service": "shop-web", "environment": "production", "host": "web-3"}`
	celeryTaskLine       = `{"asctime": "2026-02-28 09:15:04,002", "levelname": "WARNING", "name": "celery.app.trace", "message": "Task orders.tasks.send_receipt[6b2a0c1e] retry: Retry in 30s", "task_id": "6b2a0c1e-77f3-4b7e-8d2c-5e0f9a1b3c4d", "task_name": "orders.tasks.send_receipt", "retries": 2, "hostname": "worker-1@shop"}`
	structlogLine        = `{"event": "user logged in", "user_id": "u_42", "level": "info", "timestamp": "2026-02-28T09:15:05.123456Z", "logger": "auth.views"}`
	structlogExcLine     = `{"event": "job failed", "level": "error", "timestamp": 1772270105.5, "exception": "Traceback (most recent call last):\n  File \"/app/jobs.py\", line 9, in run\n    1/0\n    ~^~\nZeroDivisionError: division by zero"}`
	slogLine             = `{"time":"2026-02-28T10:15:06.123456789+01:00","level":"WARN","msg":"slow query","duration":1.5,"query":"SELECT * FROM orders WHERE id = $1","db":{"host":"pg-1","port":5432}}`
	pinoLine             = `{"level":50,"time":1772270107000,"pid":4242,"hostname":"api-7","msg":"request failed","err":{"type":"TypeError","message":"Cannot read properties of undefined (reading 'id')","stack":"TypeError: Cannot read properties of undefined (reading 'id')\n    at handler (/srv/app.js:10:5)"},"reqId":"req-1"}`
	bunyanLine           = `{"name":"billing","hostname":"bill-1","pid":123,"level":30,"msg":"invoice sent","time":"2026-02-28T09:15:08.000Z","v":0}`
	ecsLine              = `{"@timestamp":"2026-02-28T09:15:09.321Z","log.level":"error","message":"Order sync failed","ecs":{"version":"1.6.0"},"service.name":"sync","log":{"logger":"app.sync","origin":{"file":{"line":33,"name":"sync.py"}}},"error":{"type":"ConnectionError","message":"timed out","stack_trace":"Traceback (most recent call last):\n  File \"sync.py\", line 33, in run\nConnectionError: timed out"},"trace.id":"0af7651916cd43dd8448eb211c80319c","host":{"name":"sync-2"}}`
	logstashJavaLine     = `{"@timestamp":"2026-02-28T09:15:10.111+00:00","@version":"1","message":"Consumer stopped","logger_name":"com.shop.Consumer","thread_name":"main","level":"WARN","level_value":30000,"stack_trace":"java.lang.IllegalStateException: closed\n\tat com.shop.Consumer.poll(Consumer.java:10)"}`
	dockerLine           = `{"log":"listening on :8000\n","stream":"stdout","time":"2026-02-28T09:15:11.123456789Z"}`
)

// sampleLines lists every sample, for fuzz seeds.
var sampleLines = []string{
	pythonJSONLoggerLine, djangoRequestLine, celeryTaskLine, structlogLine, structlogExcLine,
	slogLine, pinoLine, bunyanLine, ecsLine, logstashJavaLine, dockerLine,
}

// ts parses an RFC 3339 time into Unix nanoseconds.
func ts(tb testing.TB, s string) int64 {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t.UnixNano()
}

// decodeOne decodes a single-object body that must yield one event.
func decodeOne(tb testing.TB, line string) event.Event {
	tb.Helper()
	evs, _, errs := Decode([]byte(line), "application/json", testNow, event.Limits{})
	if len(errs) != 0 || len(evs) != 1 {
		tb.Fatalf("Decode(%s) = %d events, errors %v; want one event", line, len(evs), errs)
	}
	return evs[0]
}
