package event

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// validEvent returns an event that passes DefaultLimits at testNow.
func validEvent() Event {
	return Event{
		Time:           testNow.Add(-time.Second).UnixNano(),
		ObservedTime:   testNow.UnixNano(),
		Level:          LevelInfo,
		SeverityNumber: 9,
		Message:        "GET /api/orders 200",
		Service:        "shop",
		Attrs:          []Attr{{"status_code", "200"}, {"duration_ms", "12.5"}},
		NumAttrs:       []NumAttr{{"status_code", 200}, {"duration_ms", 12.5}},
	}
}

func TestValidate(t *testing.T) {
	f := func(name string, lim Limits, edit func(e *Event), want string) {
		t.Helper()
		e := validEvent()
		edit(&e)
		err := lim.Validate(&e, testNow)
		if want == "" {
			if err != nil {
				t.Errorf("%s: Validate = %v, want nil", name, err)
			}
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: Validate = %v, want a *ValidationError", name, err)
			return
		}
		if ve.Reason != want {
			t.Errorf("%s: reason\n got %q\nwant %q", name, ve.Reason, want)
		}
	}
	def := Limits{}
	f("valid", def, func(e *Event) {}, "")
	f("exception only", def, func(e *Event) {
		e.Message = ""
		e.Exception = Exception{Type: "ValueError"}
	}, "")
	f("empty message", def, func(e *Event) { e.Message = "" }, "message is empty")
	f("blank message", def, func(e *Event) { e.Message = " \n\t" }, "message is empty")
	f("stack only", def, func(e *Event) {
		e.Message = ""
		e.Exception.Stack = "at main()"
	}, "message is empty")
	f("too big", def, func(e *Event) { e.Message = strings.Repeat("x", 300000) },
		"event is 300091 bytes, limit 262144")
	f("small limit", Limits{MaxEventBytes: 50}, func(e *Event) {},
		"event is 110 bytes, limit 50")
	f("future", def, func(e *Event) {
		e.Time = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	}, "timestamp 2099-01-01T00:00:00Z is more than 24h in the future")
	f("just inside skew", def, func(e *Event) { e.Time = testNow.Add(24 * time.Hour).UnixNano() }, "")
	f("custom skew", Limits{MaxFutureSkew: 90 * time.Minute}, func(e *Event) {
		e.Time = testNow.Add(2 * time.Hour).UnixNano()
	}, "timestamp 2026-03-01T14:00:00Z is more than 1h30m in the future")
	f("before 1970", def, func(e *Event) { e.Time = -1e9 },
		"timestamp 1969-12-31T23:59:59Z is before 1970")
	f("missing time", def, func(e *Event) { e.Time = 0 }, "timestamp is missing")
	f("severity", def, func(e *Event) { e.SeverityNumber = 25 },
		"severity_number 25 is out of range 0..24")
	f("long service", Limits{MaxValueBytes: 10}, func(e *Event) { e.Service = "a-very-long-service" },
		"service is 19 bytes, limit 10")
	f("too many attrs", def, func(e *Event) {
		e.Attrs = make([]Attr, 250)
		for i := range e.Attrs {
			e.Attrs[i] = Attr{Key: "k" + strings.Repeat("x", i), Value: "v"}
		}
	}, "too many attributes: 250, limit 200")
	f("too many num attrs", Limits{MaxAttributes: 1}, func(e *Event) { e.Attrs = e.Attrs[:1] },
		"too many attributes: 2, limit 1")
	f("long key", def, func(e *Event) { e.Attrs[0].Key = strings.Repeat("x", 129) },
		`attribute key "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." longer than 128 bytes`)
	f("long num key", def, func(e *Event) { e.NumAttrs[0].Key = strings.Repeat("é", 100) },
		`attribute key "éééééééééééééééé..." longer than 128 bytes`)
	f("empty key", def, func(e *Event) { e.Attrs[1].Key = "" }, "attribute key is empty")
	f("long value", def, func(e *Event) { e.Attrs[1].Value = strings.Repeat("v", 40000) },
		`attribute "duration_ms" value is 40000 bytes, limit 32768`)
	f("duplicate key", def, func(e *Event) { e.Attrs[1].Key = "status_code" },
		`duplicate attribute key "status_code"`)
	f("duplicate key, many attrs", def, func(e *Event) {
		for i := range 40 {
			e.Attrs = append(e.Attrs, Attr{Key: strings.Repeat("k", i+1), Value: "v"})
		}
		e.Attrs = append(e.Attrs, Attr{Key: "kkk"})
	}, `duplicate attribute key "kkk"`)
	f("duplicate num key", def, func(e *Event) { e.NumAttrs[1].Key = "status_code" },
		`duplicate numeric attribute key "status_code"`)
	f("NaN", def, func(e *Event) { e.NumAttrs[0].Value = math.NaN() },
		`attribute "status_code" is not a finite number`)
	f("Inf", def, func(e *Event) { e.NumAttrs[0].Value = math.Inf(-1) },
		`attribute "status_code" is not a finite number`)
}

func TestDefaultLimits(t *testing.T) {
	d := DefaultLimits()
	if d != (Limits{}).withDefaults() {
		t.Errorf("DefaultLimits() = %+v, zero Limits default to %+v", d, Limits{}.withDefaults())
	}
	want := Limits{MaxEventBytes: 262144, MaxAttributes: 200, MaxKeyBytes: 128, MaxValueBytes: 32768, MaxFutureSkew: 24 * time.Hour}
	if d != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", d, want)
	}
}
