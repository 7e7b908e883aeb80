package otlp

import (
	"runtime"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// benchDecode reports ns/event and allocs/event for run over a realistic
// request of 1,000 records.
func benchDecode(b *testing.B, size int, run func()) {
	const n = 1000
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/event")
}

// BenchmarkDecode is the mapping alone: request → validated events.
func BenchmarkDecode(b *testing.B) {
	req := sampleRequest(1000)
	benchDecode(b, len(mustProto(b, req)), func() {
		if evs, errs := Decode(req, Protobuf, now, event.Limits{}); len(evs) != 1000 || len(errs) != 0 {
			b.Fatal(len(evs), errs)
		}
	})
}

// BenchmarkDecodeProtobuf is what OTLP/HTTP protobuf costs: unmarshal + mapping.
func BenchmarkDecodeProtobuf(b *testing.B) {
	body := mustProto(b, sampleRequest(1000))
	benchDecode(b, len(body), func() {
		req, err := Unmarshal(body, Protobuf)
		if err != nil {
			b.Fatal(err)
		}
		if evs, _ := Decode(req, Protobuf, now, event.Limits{}); len(evs) != 1000 {
			b.Fatal(len(evs))
		}
	})
}

// BenchmarkDecodeJSON is what OTLP/JSON costs: unmarshal + mapping.
func BenchmarkDecodeJSON(b *testing.B) {
	body := mustJSON(b, sampleRequest(1000))
	benchDecode(b, len(body), func() {
		req, err := Unmarshal(body, JSON)
		if err != nil {
			b.Fatal(err)
		}
		if evs, _ := Decode(req, JSON, now, event.Limits{}); len(evs) != 1000 {
			b.Fatal(len(evs))
		}
	})
}
