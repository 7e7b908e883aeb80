package query

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/eventpb"
)

// searchJSON is how the gateway writes an event in search results.
var searchJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// checkEventJSON fails tb unless appendEventJSON and the search path give the
// same JSON value for e. ok is false when the search path cannot encode e
// (invalid UTF-8, which Normalize removes at ingest).
func checkEventJSON(tb testing.TB, e *event.Event) (ok bool) {
	tb.Helper()
	want, err := searchJSON.Marshal(eventpb.ToProto(e))
	if err != nil {
		return false
	}
	got := appendEventJSON(nil, e)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		tb.Fatalf("invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		tb.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("tail JSON\n%s\nsearch JSON\n%s", got, want)
	}
	return true
}

// TestEventJSONConformance: the tail's JSON of an event is the search API's.
func TestEventJSONConformance(t *testing.T) {
	base := ev("error", "checkout", "payment failed", "user_id", "42")
	cases := map[string]func(e *event.Event){
		"plain":         func(*event.Event) {},
		"no level":      func(e *event.Event) { e.Level, e.SeverityNumber = "", 0 },
		"zero time":     func(e *event.Event) { e.Time = 0 },
		"millis":        func(e *event.Event) { e.Time = 1764150000123000000 },
		"micros":        func(e *event.Event) { e.Time = 1764150000123456000 },
		"nanos":         func(e *event.Event) { e.Time = 1764150000123456789 },
		"whole second":  func(e *event.Event) { e.Time = 1764150000000000000 },
		"before 1970":   func(e *event.Event) { e.Time = -1_500_000_000 },
		"escapes":       func(e *event.Event) { e.Message = "a\"b\\c\nd\re\tf\x00g\x1fh</script>&\u2028ü😀" },
		"invalid utf-8": func(e *event.Event) { e.Host = "bad\xffbyte" },
		"no attributes": func(e *event.Event) { e.Attrs = nil },
		"exception":     func(e *event.Event) { e.Exception = event.Exception{Type: "KeyError", Stack: "Traceback\n  x"} },
		"numbers": func(e *event.Event) {
			e.NumAttrs = []event.NumAttr{{Key: "duration_ms", Value: 12.5}, {Key: "big", Value: 1e21}, {Key: "tiny", Value: 1e-7}, {Key: "neg", Value: -3}}
		},
		"number wins": func(e *event.Event) {
			e.Attrs = append(e.Attrs, event.Attr{Key: "n", Value: "7"})
			e.NumAttrs = []event.NumAttr{{Key: "n", Value: 7}}
		},
		"nan keeps text": func(e *event.Event) {
			e.Attrs = append(e.Attrs, event.Attr{Key: "n", Value: "NaN"})
			e.NumAttrs = []event.NumAttr{{Key: "n", Value: math.NaN()}}
		},
		"inf dropped":    func(e *event.Event) { e.NumAttrs = []event.NumAttr{{Key: "x", Value: math.Inf(1)}} },
		"only numbers":   func(e *event.Event) { e.Attrs, e.NumAttrs = nil, []event.NumAttr{{Key: "x", Value: 0}} },
		"duplicate nums": func(e *event.Event) { e.NumAttrs = []event.NumAttr{{Key: "x", Value: 1}, {Key: "x", Value: 2}} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			e := base
			e.Attrs = append([]event.Attr(nil), base.Attrs...)
			mutate(&e)
			if !checkEventJSON(t, &e) {
				if utf8.ValidString(e.Host) {
					t.Fatal("search path could not encode a valid event")
				}
				if got := appendEventJSON(nil, &e); !json.Valid(got) {
					t.Fatalf("invalid JSON for invalid UTF-8: %s", got)
				}
			}
		})
	}
	for _, e := range djangoBatch(50) {
		checkEventJSON(t, &e)
	}
}

// FuzzEventJSON: for any event, the tail's JSON is valid and, whenever the
// search path can encode the event, the same value.
func FuzzEventJSON(f *testing.F) {
	f.Add(int64(1764150000123456789), "error", "payment \"failed\"\n", "user_id", "42", "duration_ms", 12.5, "KeyError")
	f.Add(int64(0), "", "ü😀\x00\x1f", "", "", "n", math.Inf(-1), "")
	f.Add(int64(-1), "warn", "bad\xff", "k", "v", "k", 1e300, "T")
	f.Fuzz(func(t *testing.T, ts int64, level, msg, key, value, numKey string, num float64, exc string) {
		e := event.Event{Time: ts, Level: level, SeverityNumber: int32(len(level)), Message: msg, Service: value,
			Exception: event.Exception{Type: exc}}
		if key != "" {
			e.Attrs = []event.Attr{{Key: key, Value: value}}
		}
		if numKey != "" {
			e.NumAttrs = []event.NumAttr{{Key: numKey, Value: num}}
		}
		got := appendEventJSON(nil, &e)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %q", got)
		}
		if y := e.Timestamp().Year(); y >= 1 && y <= 9999 { // protojson's Timestamp range
			checkEventJSON(t, &e)
		}
	})
}
