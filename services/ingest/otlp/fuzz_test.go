package otlp

import (
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// checkDecode runs the whole decoder on body and checks its invariants:
// no panic, every record either accepted or rejected, every accepted event
// valid and every rejection explained.
func checkDecode(t *testing.T, body []byte, f Format) {
	req, err := Unmarshal(body, f)
	if err != nil {
		return // a malformed request is refused as a whole
	}
	lim := event.Limits{}
	evs, errs := Decode(req, f, now, lim)
	if n := Count(req); len(evs)+len(errs) != n {
		t.Fatalf("%d accepted + %d rejected != %d records", len(evs), len(errs), n)
	}
	for i := range evs {
		if err := lim.Validate(&evs[i], now); err != nil {
			t.Fatalf("accepted event %d is invalid: %v", i, err)
		}
	}
	for i, e := range errs {
		if e.Reason == "" || (i > 0 && e.Index <= errs[i-1].Index) {
			t.Fatalf("bad error list %v", errs)
		}
	}
	_ = Summary(errs, len(evs)+len(errs), 5)
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add([]byte(s))
	}
	f.Add(mustJSON(f, sampleRequest(3)))
	f.Fuzz(func(t *testing.T, body []byte) { checkDecode(t, body, JSON) })
}

func FuzzDecodeProto(f *testing.F) {
	for _, s := range jsonSamples {
		req, err := Unmarshal([]byte(s), JSON)
		if err != nil {
			f.Fatalf("sample %q: %v", s, err)
		}
		f.Add(mustProto(f, req))
	}
	f.Add(mustProto(f, sampleRequest(3)))
	f.Fuzz(func(t *testing.T, body []byte) { checkDecode(t, body, Protobuf) })
}

func TestSamples(t *testing.T) {
	for _, s := range jsonSamples {
		checkDecode(t, []byte(s), JSON)
	}
	req := sampleRequest(20)
	for _, c := range []struct {
		f    Format
		body []byte
	}{{Protobuf, mustProto(t, req)}, {JSON, mustJSON(t, req)}} {
		got, err := Unmarshal(c.body, c.f)
		if err != nil {
			t.Fatal(err)
		}
		evs, errs := Decode(got, c.f, now, event.Limits{})
		if len(errs) != 0 || len(evs) != 20 {
			t.Fatalf("format %d: %d events, errors %v", c.f, len(evs), errs)
		}
		if evs[1].TraceID != "08090a0b0c0d0e0f1011121314151617" || evs[1].SpanID != "0405060708090a0b" {
			t.Fatalf("format %d: ids %q %q", c.f, evs[1].TraceID, evs[1].SpanID)
		}
	}
}
