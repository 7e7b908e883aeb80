// Package eventpb converts between the event model (pkg/event) and its API
// form, the sawmill.v1.LogEvent protobuf message. Conversion only: no
// validation (callers run event.Normalize and Limits.Validate) and no I/O.
package eventpb

import (
	"encoding/json"
	"math"
	"strconv"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/event"
)

// ToProto returns the API form of e. Attributes become one JSON object: a
// numeric attribute appears as a number, every other as a string.
func ToProto(e *event.Event) *sawmillv1.LogEvent {
	pb := &sawmillv1.LogEvent{
		Timestamp:      timestamppb.New(e.Timestamp()),
		Level:          e.Level,
		SeverityNumber: e.SeverityNumber,
		Message:        e.Message,
		Service:        e.Service,
		Environment:    e.Environment,
		Host:           e.Host,
		Logger:         e.Logger,
		TraceId:        e.TraceID,
		SpanId:         e.SpanID,
		RequestId:      e.RequestID,
	}
	if len(e.Attrs) > 0 || len(e.NumAttrs) > 0 {
		fields := make(map[string]*structpb.Value, len(e.Attrs)+len(e.NumAttrs))
		for _, a := range e.Attrs {
			fields[a.Key] = structpb.NewStringValue(a.Value)
		}
		for _, a := range e.NumAttrs {
			if !math.IsNaN(a.Value) && !math.IsInf(a.Value, 0) {
				fields[a.Key] = structpb.NewNumberValue(a.Value)
			}
		}
		pb.Attributes = &structpb.Struct{Fields: fields}
	}
	if e.Exception != (event.Exception{}) {
		pb.Exception = &sawmillv1.Exception{Type: e.Exception.Type, Message: e.Exception.Message, Stack: e.Exception.Stack}
	}
	return pb
}

// FromProto returns the event a client sent. A missing timestamp stays zero
// (Normalize fills it). Level text wins over severity_number when it names a
// known level. Attribute values: strings as they are; numbers both as
// numeric and as string attributes; booleans "true"/"false"; lists and
// objects as their JSON text; nulls dropped.
func FromProto(pb *sawmillv1.LogEvent) event.Event {
	e := event.Event{
		SeverityNumber: pb.GetSeverityNumber(),
		Message:        pb.GetMessage(),
		Service:        pb.GetService(),
		Environment:    pb.GetEnvironment(),
		Host:           pb.GetHost(),
		Logger:         pb.GetLogger(),
		TraceID:        pb.GetTraceId(),
		SpanID:         pb.GetSpanId(),
		RequestID:      pb.GetRequestId(),
	}
	if ts := pb.GetTimestamp(); ts != nil {
		e.Time = ts.AsTime().UnixNano()
	}
	if n, ok := event.ParseLevel(pb.GetLevel()); ok {
		e.SeverityNumber = n
	}
	e.Level = event.LevelName(e.SeverityNumber)
	if x := pb.GetException(); x != nil {
		e.Exception = event.Exception{Type: x.GetType(), Message: x.GetMessage(), Stack: x.GetStack()}
	}
	for k, v := range pb.GetAttributes().GetFields() {
		switch v.GetKind().(type) {
		case *structpb.Value_NullValue, nil:
		case *structpb.Value_StringValue:
			e.Attrs = append(e.Attrs, event.Attr{Key: k, Value: v.GetStringValue()})
		case *structpb.Value_NumberValue:
			f := v.GetNumberValue()
			e.NumAttrs = append(e.NumAttrs, event.NumAttr{Key: k, Value: f})
			e.Attrs = append(e.Attrs, event.Attr{Key: k, Value: strconv.FormatFloat(f, 'f', -1, 64)})
		case *structpb.Value_BoolValue:
			e.Attrs = append(e.Attrs, event.Attr{Key: k, Value: strconv.FormatBool(v.GetBoolValue())})
		default:
			// encoding/json, not protojson: protojson varies its
			// whitespace on purpose, and stored values must be stable.
			b, _ := json.Marshal(v.AsInterface())
			e.Attrs = append(e.Attrs, event.Attr{Key: k, Value: string(b)})
		}
	}
	sortAttrs(e.Attrs)
	sortNums(e.NumAttrs)
	return e
}
