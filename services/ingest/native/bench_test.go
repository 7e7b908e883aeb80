package native

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// djangoCeleryBody returns n NDJSON lines as a Django + Celery app logs
// them: mostly request lines, some task lines, an occasional error.
func djangoCeleryBody(n int) []byte {
	var b strings.Builder
	for i := range n {
		switch {
		case i%10 < 7:
			fmt.Fprintf(&b, `{"asctime": "2026-02-28 09:%02d:%02d,%03d", "levelname": "INFO", "name": "django.request", "message": "\"GET /api/orders/%d/ HTTP/1.1\" 200 %d", "request_id": "9f1c6d0e-2b7a-4d8e-9a51-%012d", "method": "GET", "path": "/api/orders/%d/", "status_code": 200, "duration_ms": %d.%03d, "user_id": %d, "pathname": "/app/shop/middleware.py", "lineno": 88, "service": "shop-web", "environment": "production", "host": "web-%d"}`,
				i/60%60, i%60, i%1000, i, 1000+i, i, i, i%300, i%1000, 4000+i%97, i%4)
		case i%10 < 9:
			fmt.Fprintf(&b, `{"asctime": "2026-02-28 09:%02d:%02d,%03d", "levelname": "INFO", "name": "celery.app.trace", "message": "Task orders.tasks.send_receipt[%08x] succeeded in %d.%03ds: None", "task_id": "%08x-77f3-4b7e-8d2c-5e0f9a1b3c4d", "task_name": "orders.tasks.send_receipt", "runtime": %d.%03d, "retries": 0, "hostname": "worker-%d@shop"}`,
				i/60%60, i%60, i%1000, i, i%5, i%1000, i, i%5, i%1000, i%3)
		default:
			fmt.Fprintf(&b, `{"asctime": "2026-02-28 09:%02d:%02d,%03d", "levelname": "ERROR", "name": "django.request", "message": "Internal Server Error: /api/orders/%d/", "request_id": "req-%d", "status_code": 500, "exc_info": "Traceback (most recent call last):\n  File \"/app/orders/views.py\", line 140, in detail\n    order = Order.objects.get(pk=pk)\nOrder.DoesNotExist: Order matching query does not exist."}`,
				i/60%60, i%60, i%1000, i, i)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func BenchmarkDecodeNDJSON(b *testing.B) {
	const n = 1000
	body := djangoCeleryBody(n)
	if evs, _, errs := Decode(body, "application/x-ndjson", testNow, event.Limits{}); len(evs) != n {
		b.Fatalf("decoded %d of %d lines; errors %v", len(evs), n, errs)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		Decode(body, "application/x-ndjson", testNow, event.Limits{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
