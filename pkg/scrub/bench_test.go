package scrub

import (
	"fmt"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// djangoEvents returns n events shaped like a Django + Celery app's logs:
// request lines with a handful of attributes, every 50th with a traceback,
// and one in 100 carrying something to scrub.
func djangoEvents(n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		e := event.Event{
			Time: 1764151530000000000 + int64(i), Level: "info", SeverityNumber: 9,
			Message: fmt.Sprintf("GET /api/orders/%d/ HTTP/1.1\" 200 %d", 1000+i, 512+i%100),
			Service: "shop-web", Environment: "production", Host: "web-3", Logger: "django.request",
			RequestID: "5f0c2b1e-9c1a-4d7e-8f00-6d2b3c4a5e6f",
			Attrs: []event.Attr{
				{Key: "pathname", Value: "/app/shop/views.py"}, {Key: "lineno", Value: "214"},
				{Key: "user_id", Value: "48213"}, {Key: "http.method", Value: "GET"},
				{Key: "http.status_code", Value: "200"}, {Key: "duration_ms", Value: "12.7"},
				{Key: "remote_addr", Value: "10.1.2.3"}, {Key: "celery.task_id", Value: "c0a8f3d2-77e1-4c55-9a38-2f1b0f6e9d41"},
			},
			NumAttrs: []event.NumAttr{{Key: "lineno", Value: 214}, {Key: "user_id", Value: 48213},
				{Key: "http.status_code", Value: 200}, {Key: "duration_ms", Value: 12.7}},
		}
		if i%50 == 0 {
			e.Level, e.SeverityNumber = "error", 17
			e.Exception = event.Exception{Type: "KeyError", Message: "'order_id'",
				Stack: "Traceback (most recent call last):\n  File \"/usr/local/lib/python3.12/site-packages/django/core/handlers/exception.py\", line 55, in inner\n    response = get_response(request)\n  File \"/app/shop/views.py\", line 214, in order_detail\n    order = orders[request.GET['order_id']]\nKeyError: 'order_id'"}
		}
		if i%100 == 7 {
			e.Attrs = append(e.Attrs, event.Attr{Key: "request.headers.Authorization", Value: "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig123"})
			e.Message += " card 4111 1111 1111 1111"
		}
		evs[i] = e
	}
	return evs
}

func BenchmarkScrubDjango(b *testing.B) {
	src := djangoEvents(1000)
	evs := make([]event.Event, len(src))
	s := Default()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if i%len(src) == 0 {
			b.StopTimer()
			for j := range src {
				evs[j] = src[j]
				evs[j].Attrs = append([]event.Attr(nil), src[j].Attrs...)
				evs[j].NumAttrs = append([]event.NumAttr(nil), src[j].NumAttrs...)
			}
			b.StartTimer()
		}
		c := s.Event(&evs[i%len(src)])
		n += c.Total()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
	_ = n
}

func BenchmarkScrubCleanEvent(b *testing.B) {
	e := djangoEvents(2)[1]
	s := Default()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev := e
		s.Event(&ev)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}
