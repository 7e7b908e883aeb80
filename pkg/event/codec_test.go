package event

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// sampleEvents returns events exercising every field, edge values included.
func sampleEvents() []Event {
	full := Event{
		Time: 1767225600123456789, ObservedTime: 1767225600999999999,
		Level: LevelError, SeverityNumber: 17,
		Message: "Internal Server Error: /api/orders/", Service: "shop",
		Environment: "production", Host: "web-1", Logger: "django.request",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
		RequestID: "req-7f3a",
		Attrs:     []Attr{{"status_code", "500"}, {"path", "/api/orders/"}, {"", ""}},
		NumAttrs:  []NumAttr{{"status_code", 500}, {"duration_ms", 12.25}},
		Exception: Exception{Type: "ValueError", Message: "bad thing", Stack: "Traceback ...\nValueError: bad thing"},
	}
	edge := Event{
		Time: math.MinInt64, ObservedTime: math.MaxInt64, SeverityNumber: math.MinInt32,
		Message:  strings.Repeat("é", 300) + "\x00\xff",
		NumAttrs: []NumAttr{{"nan", math.NaN()}, {"inf", math.Inf(-1)}, {"negzero", math.Copysign(0, -1)}},
	}
	return []Event{full, {}, edge, {Message: "m", SeverityNumber: math.MaxInt32}}
}

// eventsEqual compares events field by field, floats by their bits, and
// treats nil and empty attribute slices alike.
func eventsEqual(a, b []Event) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d events, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if len(x.NumAttrs) != len(y.NumAttrs) {
			return fmt.Errorf("event %d: %d numeric attrs, want %d", i, len(x.NumAttrs), len(y.NumAttrs))
		}
		for j := range x.NumAttrs {
			p, q := x.NumAttrs[j], y.NumAttrs[j]
			if p.Key != q.Key || math.Float64bits(p.Value) != math.Float64bits(q.Value) {
				return fmt.Errorf("event %d: numeric attr %d is %v, want %v", i, j, p, q)
			}
		}
		if len(x.Attrs) != len(y.Attrs) {
			return fmt.Errorf("event %d: %d attrs, want %d", i, len(x.Attrs), len(y.Attrs))
		}
		for j := range x.Attrs {
			if x.Attrs[j] != y.Attrs[j] {
				return fmt.Errorf("event %d: attr %d is %v, want %v", i, j, x.Attrs[j], y.Attrs[j])
			}
		}
		x.Attrs, y.Attrs, x.NumAttrs, y.NumAttrs = nil, nil, nil, nil
		if !reflect.DeepEqual(x, y) {
			return fmt.Errorf("event %d:\n got %+v\nwant %+v", i, x, y)
		}
	}
	return nil
}

func TestBatchRoundTrip(t *testing.T) {
	f := func(name string, evs []Event) {
		t.Helper()
		b := AppendBatch([]byte("prefix"), evs)
		if string(b[:6]) != "prefix" || b[6] != BatchVersion {
			t.Fatalf("%s: AppendBatch clobbered dst or wrote no version: %q", name, b[:7])
		}
		got, err := DecodeBatch(b[6:])
		if err != nil {
			t.Fatalf("%s: DecodeBatch: %v", name, err)
		}
		if err := eventsEqual(got, evs); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	f("none", nil)
	f("samples", sampleEvents())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		f(fmt.Sprintf("random %d", i), randomEvents(rng, rng.IntN(20)))
	}
}

func randomEvents(rng *rand.Rand, n int) []Event {
	str := func() string {
		b := make([]byte, rng.IntN(3)*rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return string(b)
	}
	evs := make([]Event, n)
	for i := range evs {
		e := &evs[i]
		e.Time, e.ObservedTime = rng.Int64()-rng.Int64(), rng.Int64()
		e.SeverityNumber = rng.Int32() - rng.Int32()
		for _, p := range []*string{&e.Level, &e.Message, &e.Service, &e.Environment, &e.Host,
			&e.Logger, &e.TraceID, &e.SpanID, &e.RequestID,
			&e.Exception.Type, &e.Exception.Message, &e.Exception.Stack} {
			*p = str()
		}
		for range rng.IntN(5) {
			e.Attrs = append(e.Attrs, Attr{str(), str()})
		}
		for range rng.IntN(5) {
			e.NumAttrs = append(e.NumAttrs, NumAttr{str(), math.Float64frombits(rng.Uint64())})
		}
	}
	return evs
}

func TestDecodeBatchErrors(t *testing.T) {
	good := AppendBatch(nil, sampleEvents())
	f := func(name string, b []byte, want string) {
		t.Helper()
		_, err := DecodeBatch(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: DecodeBatch = %v, want an error containing %q", name, err, want)
		}
	}
	f("empty", nil, "empty input")
	f("version", []byte{2, 0}, "unsupported version 2")
	f("no count", []byte{1}, "truncated")
	f("huge count", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, "truncated")
	f("trailing", append(append([]byte{}, good...), 0), "1 trailing bytes")
	f("overlong varint", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "overflows")
	for n := 1; n < len(good); n++ {
		_, err := DecodeBatch(good[:n])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: DecodeBatch = %v, want ErrTruncated", n, err)
		}
	}
}

// TestDecodeBatchCopies checks that decoded events do not alias the input.
func TestDecodeBatchCopies(t *testing.T) {
	b := AppendBatch(nil, []Event{{Message: "hello"}})
	evs, err := DecodeBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if evs[0].Message != "hello" {
		t.Errorf("message changed with the input buffer: %q", evs[0].Message)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, sampleEvents()))
	f.Add(AppendBatch(nil, nil))
	f.Add(AppendBatch(nil, []Event{{}}))
	f.Add([]byte{1, 1, 0x80})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := DecodeBatch(b)
		if err != nil {
			return
		}
		again, err := DecodeBatch(AppendBatch(nil, evs))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if err := eventsEqual(again, evs); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// benchBatch returns n Django-like events.
func benchBatch(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{
			Time: 1767225600123456789 + int64(i)*1e6, ObservedTime: 1767225600923456789 + int64(i)*1e6,
			Level: LevelInfo, SeverityNumber: 9,
			Message: fmt.Sprintf("GET /api/orders/%d/ HTTP/1.1 200", i), Service: "shop",
			Environment: "production", Host: "web-3", Logger: "django.request",
			RequestID: fmt.Sprintf("4f1c2a9e-%08d", i),
			Attrs: []Attr{{"method", "GET"}, {"path", fmt.Sprintf("/api/orders/%d/", i)},
				{"status_code", "200"}, {"duration_ms", "12.7"}, {"user_id", "4211"},
				{"pathname", "/app/shop/middleware.py"}, {"lineno", "88"}},
			NumAttrs: []NumAttr{{"status_code", 200}, {"duration_ms", 12.7}, {"user_id", 4211}, {"lineno", 88}},
		}
	}
	return evs
}

func BenchmarkAppendBatch(b *testing.B) {
	evs := benchBatch(1000)
	buf := AppendBatch(nil, evs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendBatch(buf[:0], evs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

func BenchmarkDecodeBatch(b *testing.B) {
	evs := benchBatch(1000)
	buf := AppendBatch(nil, evs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBatch(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
