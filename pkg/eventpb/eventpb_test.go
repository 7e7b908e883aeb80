package eventpb

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/event"
)

func TestRoundTrip(t *testing.T) {
	in := event.Event{
		Time: time.Date(2026, 11, 26, 9, 30, 1, 123456789, time.UTC).UnixNano(), Level: "error", SeverityNumber: 17,
		Message: "Internal Server Error: /checkout", Service: "web", Environment: "prod", Host: "web-1",
		Logger: "django.request", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", RequestID: "req-1",
		Attrs:     []event.Attr{{Key: "duration_ms", Value: "812.5"}, {Key: "path", Value: "/checkout"}},
		NumAttrs:  []event.NumAttr{{Key: "duration_ms", Value: 812.5}},
		Exception: event.Exception{Type: "ValueError", Message: "bad", Stack: "Traceback ..."},
	}
	pb := ToProto(&in)
	if pb.Attributes.Fields["duration_ms"].GetNumberValue() != 812.5 || pb.Attributes.Fields["path"].GetStringValue() != "/checkout" {
		t.Fatalf("attributes: %v", pb.Attributes)
	}
	if got := pb.Timestamp.AsTime().UnixNano(); got != in.Time {
		t.Fatalf("timestamp lost precision: %d != %d", got, in.Time)
	}
	out := FromProto(pb)
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestFromProtoValues(t *testing.T) {
	attrs, _ := structpb.NewStruct(map[string]any{"ok": true, "n": 3.0, "list": []any{"a", 1.0}, "none": nil, "s": "x"})
	e := FromProto(&sawmillv1.LogEvent{Message: "m", Level: "WARNING", SeverityNumber: 3, Attributes: attrs})
	if e.Level != "warn" || e.SeverityNumber != 13 {
		t.Fatalf("level text should win: %q %d", e.Level, e.SeverityNumber)
	}
	want := []event.Attr{{Key: "list", Value: `["a",1]`}, {Key: "n", Value: "3"}, {Key: "ok", Value: "true"}, {Key: "s", Value: "x"}}
	if !reflect.DeepEqual(e.Attrs, want) {
		t.Fatalf("attrs: %v", e.Attrs)
	}
	if !reflect.DeepEqual(e.NumAttrs, []event.NumAttr{{Key: "n", Value: 3}}) {
		t.Fatalf("num attrs: %v", e.NumAttrs)
	}
	if e := FromProto(&sawmillv1.LogEvent{SeverityNumber: 21}); e.Level != "fatal" {
		t.Fatalf("number only: %q", e.Level)
	}
}
