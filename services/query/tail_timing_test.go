package query

import (
	"fmt"
	"reflect"
	"testing"
	"unsafe"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/lql"
)

// djangoBatch returns n Django-like events, about one in ten an error of the
// checkout service.
func djangoBatch(n int) []event.Event {
	evs := make([]event.Event, n)
	services := []string{"web", "checkout", "search", "worker"}
	for i := range evs {
		e := ev("info", services[i%len(services)], fmt.Sprintf("GET /api/orders/%d HTTP/1.1 200", i),
			"pathname", "/srv/app/orders/views.py", "lineno", "118", "user_id", fmt.Sprint(i%97))
		if i%10 == 0 {
			e = ev("error", "checkout", fmt.Sprintf("payment provider timeout after 3000ms (order %d)", i),
				"pathname", "/srv/app/payments/client.py", "lineno", "57")
			e.Exception = event.Exception{Type: "requests.exceptions.ReadTimeout", Message: "read timed out", Stack: "Traceback (most recent call last):\n  ..."}
		}
		e.NumAttrs = []event.NumAttr{{Key: "duration_ms", Value: float64(i % 500)}}
		evs[i] = e
	}
	return evs
}

// BenchmarkTailFilter is the per-batch cost of one tail: decode a 1000-event
// batch from the bus and filter it with the query into the client's buffer
// (matching events are detached from the batch).
func BenchmarkTailFilter(b *testing.B) {
	data := event.AppendBatch(nil, djangoBatch(1000))
	for _, query := range []string{
		``,
		`level:error service:checkout timeout`,
		`"connection refused"`,
		`user_id:42 OR exception.type:ReadTimeout`,
	} {
		b.Run(fmt.Sprintf("%q", query), func(b *testing.B) {
			q, err := lql.Parse(query)
			if err != nil {
				b.Fatal(err)
			}
			buf := newTailBuffer(1<<30, 1<<40)
			var spare []tailEvent
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				evs, err := event.DecodeBatch(data)
				if err != nil {
					b.Fatal(err)
				}
				buf.push(evs, tailPos{seq: 1}, q, len(data))
				got, _ := buf.take(spare)
				clear(got)
				spare = got[:0] // as the delivery loop hands it back
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
		})
	}
}

// FuzzTailFilter feeds arbitrary queries and bus messages to a tail's filter:
// it must never panic, keep only what the query matches, and account for
// every matching event as buffered or dropped.
func FuzzTailFilter(f *testing.F) {
	f.Add(`level:error service:checkout timeout`, event.AppendBatch(nil, djangoBatch(4)), 2)
	f.Add(``, event.AppendBatch(nil, djangoBatch(3)), 100)
	f.Add(`"connection refused" -healthcheck`, event.AppendBatch(nil, []event.Event{ev("error", "db", "connection refused")}), 1)
	f.Add(`user_id:"42" OR (a AND NOT b)`, []byte{1, 2, 0, 0}, 0)
	f.Add(`exception.type:ReadTimeout`, []byte{}, 3)
	f.Fuzz(func(t *testing.T, query string, data []byte, max int) {
		// lql's matcher is O(text × needle) per term; its own fuzzers cover
		// long queries. Here the subject is the tail's handling of batches.
		if len(query) > 256 || len(data) > 64<<10 {
			return
		}
		q, err := parseTailQuery(query)
		if err != nil {
			return
		}
		evs, err := event.DecodeBatch(data)
		if err != nil {
			return
		}
		var want int64
		for i := range evs {
			if q.Match(&evs[i]) {
				want++
			}
		}
		buf := newTailBuffer(max&0xff+1, 1<<16)
		dropped := buf.push(evs, tailPos{seq: 1}, q, len(data))
		got, missed := buf.take(nil)
		if int64(len(got))+missed != want || missed != dropped {
			t.Fatalf("%d matching, %d buffered, %d missed, %d dropped", want, len(got), missed, dropped)
		}
		for i := range got {
			if !q.Match(&got[i].Event) {
				t.Fatalf("buffered event %d does not match %q", i, query)
			}
		}
	})
}

// TestDetach: a detached event equals the original and shares no memory
// with the batch it was decoded from.
func TestDetach(t *testing.T) {
	full := ev("error", "checkout", "boom", "user_id", "42", "path", "/x")
	full.TraceID, full.Exception = "t1", event.Exception{Type: "ValueError", Message: "bad", Stack: "tb"}
	full.NumAttrs = []event.NumAttr{{Key: "duration_ms", Value: 1.5}}
	for name, e := range map[string]event.Event{"full": full, "empty": {Time: 1}, "no attrs": ev("info", "web", "hi")} {
		t.Run(name, func(t *testing.T) {
			data := event.AppendBatch(nil, []event.Event{e})
			evs, err := event.DecodeBatch(data)
			if err != nil {
				t.Fatal(err)
			}
			if evs[0].Service != "" && !within(unsafe.StringData(evs[0].Service), unsafe.StringData(evs[0].Message), len(data)) {
				t.Fatal("the sharing check cannot see the batch's text")
			}
			d := detach(&evs[0])
			if !reflect.DeepEqual(d, evs[0]) {
				t.Fatalf("detached %+v, want %+v", d, evs[0])
			}
			strs := []string{d.Message, d.Service, d.Level, d.TraceID, d.Exception.Stack}
			for _, a := range d.Attrs {
				strs = append(strs, a.Key, a.Value)
			}
			for _, s := range strs {
				if s != "" && within(unsafe.StringData(s), unsafe.StringData(evs[0].Message), len(data)) {
					t.Fatalf("%q still points into the batch", s)
				}
			}
			if len(d.Attrs) > 0 && &d.Attrs[0] == &evs[0].Attrs[0] {
				t.Fatal("attrs share the batch's slab")
			}
		})
	}
}

// within reports whether p lies within n bytes either side of base (the
// batch's one copy of its text).
func within(p, base *byte, n int) bool {
	d := uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(base))
	return d < uintptr(n) || -d < uintptr(n)
}

// BenchmarkTailSSE is the cost of writing matched events to an SSE client:
// API form, JSON, frame.
func BenchmarkTailSSE(b *testing.B) {
	evs := make([]tailEvent, 1000)
	for i, e := range djangoBatch(len(evs)) {
		evs[i] = tailEvent{Event: e, pos: tailPos{seq: 7, idx: uint32(i)}}
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendSSE(buf[:0], evs, 3)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
