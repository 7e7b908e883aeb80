// Package otlp decodes OpenTelemetry logs — an OTLP ExportLogsServiceRequest
// in binary protobuf or OTLP/JSON — into Sawmill events, each normalised and
// validated on its own, so that a bad log record rejects only itself.
//
// The mapping, from the OpenTelemetry log data model to event.Event:
//
//   - Resource attributes service.name → Service; deployment.environment.name
//     (or the older deployment.environment) → Environment; host.name → Host.
//     Every other resource attribute, and every instrumentation scope
//     attribute, becomes an event attribute under its own key. When keys
//     collide the most specific wins: record attribute, then body entry, then
//     scope attribute, then resource attribute.
//   - Logger is the instrumentation scope name (what the Python, Java and Go
//     bridges set to the logger's name). Only when it is empty does a record
//     attribute logger.name or logger fill it. code.* attributes describe the
//     call site, not the logger, and stay attributes.
//   - Time is time_unix_nano, or observed_time_unix_nano when that is 0.
//     ObservedTime is when Sawmill received the record.
//   - severity_number sets the level; without it severity_text is parsed as
//     a level name (see event.Normalize).
//   - Body: a string is the Message. A map is flattened into attributes
//     (nested keys joined with "."), and its "message", "msg" or "event" entry
//     (in that order) becomes the Message. Without one, the Message is the
//     record's event_name or, failing that, the body as JSON text. Any other
//     body (array, number, bool, bytes) becomes its JSON text.
//   - Attributes of every kind: strings as they are; bools as true/false;
//     ints and doubles as text and also as numeric attributes (non-finite
//     doubles as text only); bytes as standard base64; arrays as JSON text;
//     maps flattened with dotted keys.
//   - exception.type, exception.message and exception.stacktrace attributes
//     (OpenTelemetry semantic conventions) → Exception; request_id →
//     RequestID; event_name → the attribute event.name.
//   - trace_id and span_id → lower-case hex; all-zero ids are absent.
//
// The package must not know about transports, the bus or the store.
package otlp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Format is the encoding a request arrived in. It decides how trace and span
// ids are read: raw bytes in protobuf, hex strings in OTLP/JSON.
type Format uint8

// The formats.
const (
	Protobuf Format = iota // application/x-protobuf, and gRPC
	JSON                   // application/json (OTLP/JSON)
)

// ErrMalformed is returned (wrapped) by Unmarshal when the body is not an
// ExportLogsServiceRequest in the given format. The request as a whole is
// bad: HTTP 400, gRPC INVALID_ARGUMENT.
var ErrMalformed = errors.New("malformed otlp request")

// jsonOptions follows the OTLP/JSON rules: unknown fields are ignored, and
// (more leniently than the spec asks) enum names as well as numbers, and
// original as well as lowerCamelCase field names, are accepted.
var jsonOptions = protojson.UnmarshalOptions{DiscardUnknown: true}

// Unmarshal decodes body as an ExportLogsServiceRequest in format f. In
// OTLP/JSON the trace and span ids are left as protojson reads them (hex
// text taken for base64); Decode with the same format turns them back.
func Unmarshal(body []byte, f Format) (*collogspb.ExportLogsServiceRequest, error) {
	req := &collogspb.ExportLogsServiceRequest{}
	var err error
	if f == JSON {
		err = jsonOptions.Unmarshal(body, req)
	} else {
		err = proto.Unmarshal(body, req)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return req, nil
}

// RecordError says why one log record was rejected. Index counts every log
// record of the request in order (across resources and scopes) from 0;
// Resource, Scope and Record locate it in the request's structure.
type RecordError struct {
	Index                   int
	Resource, Scope, Record int
	// Reason is short, names the field and limit, and is safe to show to
	// the client.
	Reason string
}

// Error returns the record's path and the reason.
func (e RecordError) Error() string {
	return fmt.Sprintf("resource_logs[%d].scope_logs[%d].log_records[%d]: %s", e.Resource, e.Scope, e.Record, e.Reason)
}

// Summary describes errs for ExportLogsPartialSuccess.error_message: how many
// of total records were rejected and the first max reasons.
func Summary(errs []RecordError, total, max int) string {
	if len(errs) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d log records rejected: ", len(errs), total)
	for i, e := range errs {
		if i == max {
			fmt.Fprintf(&b, "; and %d more", len(errs)-max)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Count returns the number of log records in req.
func Count(req *collogspb.ExportLogsServiceRequest) int {
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			n += len(sl.GetLogRecords())
		}
	}
	return n
}

// Decode maps every log record of req (read as format f) to an event,
// normalises it (event.Normalize) and validates it against lim at now. It
// returns the good events in request order and one RecordError per rejected
// record; len(events)+len(errs) == Count(req). It never fails as a whole,
// never panics on any input and does not modify req. It is safe for
// concurrent use.
func Decode(req *collogspb.ExportLogsServiceRequest, f Format, now time.Time, lim event.Limits) ([]event.Event, []RecordError) {
	d := decoder{format: f, now: now, lim: lim}
	d.evs = make([]event.Event, 0, Count(req))
	for i, rl := range req.GetResourceLogs() {
		d.resource(rl)
		for j, sl := range rl.GetScopeLogs() {
			d.scope(sl.GetScope())
			for k, lr := range sl.GetLogRecords() {
				d.record(lr)
				if d.reason != "" {
					d.errs = append(d.errs, RecordError{Index: d.index, Resource: i, Scope: j, Record: k, Reason: d.reason})
				}
				d.index++
			}
		}
	}
	return d.evs, d.errs
}

// decoder holds one Decode call's state and scratch space.
type decoder struct {
	format Format
	now    time.Time
	lim    event.Limits
	evs    []event.Event
	errs   []RecordError
	index  int
	reason string // why the current record was rejected, "" when accepted

	// The current resource and scope.
	service, environment, host string
	logger                     string
	resAttrs, scopeAttrs       []field

	// Per-record scratch, reused.
	fields []field
	attrs  []event.Attr
	nums   []event.NumAttr
	seen   map[string]struct{} // keys of attrs once there are many
	buf    []byte

	// Slabs the events' attribute slices are cut from.
	attrSlab []event.Attr
	numSlab  []event.NumAttr
}

// field is a rendered attribute: its text and, for ints and finite doubles,
// its number.
type field struct {
	key, value string
	num        float64
	isNum      bool
}

func (d *decoder) resource(rl *logspb.ResourceLogs) {
	d.service, d.environment, d.host = "", "", ""
	d.resAttrs = d.resAttrs[:0]
	envOld := ""
	for _, kv := range rl.GetResource().GetAttributes() {
		switch kv.GetKey() {
		case "service.name":
			d.service = d.text(kv.GetValue())
		case "deployment.environment.name":
			d.environment = d.text(kv.GetValue())
		case "deployment.environment":
			envOld = d.text(kv.GetValue())
		case "host.name":
			d.host = d.text(kv.GetValue())
		default:
			d.resAttrs = d.render(d.resAttrs, kv.GetKey(), kv.GetValue(), 0)
		}
	}
	if d.environment == "" {
		d.environment = envOld
	}
}

func (d *decoder) scope(s *commonpb.InstrumentationScope) {
	d.logger = s.GetName()
	d.scopeAttrs = d.scopeAttrs[:0]
	for _, kv := range s.GetAttributes() {
		d.scopeAttrs = d.render(d.scopeAttrs, kv.GetKey(), kv.GetValue(), 0)
	}
}

// record decodes one log record, appending it to d.evs or setting d.reason.
func (d *decoder) record(lr *logspb.LogRecord) {
	d.reason = ""
	e := event.Event{
		Time:        clampNanos(lr.GetTimeUnixNano()),
		Level:       lr.GetSeverityText(),
		Service:     d.service,
		Environment: d.environment,
		Host:        d.host,
		Logger:      d.logger,
	}
	if e.Time == 0 {
		e.Time = clampNanos(lr.GetObservedTimeUnixNano())
	}
	// Out-of-range numbers (possible in JSON and protobuf) are cleared by
	// event.Normalize.
	e.SeverityNumber = int32(lr.GetSeverityNumber())
	if e.TraceID, d.reason = d.id(lr.GetTraceId(), 16, "trace_id"); d.reason != "" {
		return
	}
	if e.SpanID, d.reason = d.id(lr.GetSpanId(), 8, "span_id"); d.reason != "" {
		return
	}

	d.fields = d.fields[:0]
	for _, kv := range lr.GetAttributes() {
		d.fields = d.render(d.fields, kv.GetKey(), kv.GetValue(), 0)
	}
	if name := lr.GetEventName(); name != "" {
		d.fields = append(d.fields, field{key: "event.name", value: name})
	}
	d.body(&e, lr.GetBody(), lr.GetEventName())

	d.attrs, d.nums = d.attrs[:0], d.nums[:0]
	d.seen = nil
	loggerAttr := ""
	for _, f := range d.fields {
		switch f.key {
		case "exception.type":
			e.Exception.Type = f.value
		case "exception.message":
			e.Exception.Message = f.value
		case "exception.stacktrace":
			e.Exception.Stack = f.value
		case "request_id":
			e.RequestID = f.value
		case "logger.name", "logger":
			if e.Logger == "" && loggerAttr == "" {
				loggerAttr = f.value
				continue
			}
			d.add(f)
		default:
			d.add(f)
		}
	}
	if e.Logger == "" {
		e.Logger = loggerAttr
	}
	for _, f := range d.scopeAttrs {
		d.add(f)
	}
	for _, f := range d.resAttrs {
		d.add(f)
	}
	e.Attrs = cut(&d.attrSlab, d.attrs)
	e.NumAttrs = cut(&d.numSlab, d.nums)

	if err := d.lim.Prepare(&e, d.now); err != nil {
		d.reason = err.Error()
		return
	}
	d.evs = append(d.evs, e)
}

// body sets e.Message from the record's body, adding a map body's entries
// to d.fields.
func (d *decoder) body(e *event.Event, v *commonpb.AnyValue, eventName string) {
	switch b := v.GetValue().(type) {
	case nil:
		e.Message = eventName
	case *commonpb.AnyValue_StringValue:
		e.Message = b.StringValue
	case *commonpb.AnyValue_KvlistValue:
		msgKey := ""
		for _, k := range [...]string{"message", "msg", "event"} {
			if hasKey(b.KvlistValue, k) {
				msgKey = k
				break
			}
		}
		for _, kv := range b.KvlistValue.GetValues() {
			if msgKey != "" && kv.GetKey() == msgKey && e.Message == "" {
				e.Message = d.text(kv.GetValue())
				continue
			}
			d.fields = d.render(d.fields, kv.GetKey(), kv.GetValue(), 0)
		}
		switch {
		case msgKey != "":
		case eventName != "":
			e.Message = eventName
		default:
			e.Message = d.text(v)
		}
	default:
		e.Message = d.text(v)
	}
}

func hasKey(l *commonpb.KeyValueList, key string) bool {
	for _, kv := range l.GetValues() {
		if kv.GetKey() == key {
			return true
		}
	}
	return false
}

// smallSet is how many attributes are checked for duplicates by scanning;
// beyond it a set is kept, so a record with very many keys costs O(n).
const smallSet = 16

// add appends f to the current record's attributes unless its key is taken.
func (d *decoder) add(f field) {
	if d.taken(f.key) {
		return
	}
	d.attrs = append(d.attrs, event.Attr{Key: f.key, Value: f.value})
	if f.isNum {
		d.nums = append(d.nums, event.NumAttr{Key: f.key, Value: f.num})
	}
	if d.seen != nil {
		d.seen[f.key] = struct{}{}
	}
}

func (d *decoder) taken(key string) bool {
	if d.seen != nil {
		_, ok := d.seen[key]
		return ok
	}
	for _, a := range d.attrs {
		if a.Key == key {
			return true
		}
	}
	if len(d.attrs) >= smallSet {
		d.seen = make(map[string]struct{}, 2*len(d.attrs))
		for _, a := range d.attrs {
			d.seen[a.Key] = struct{}{}
		}
	}
	return false
}

// slabSize is how many attributes one slab allocation holds.
const slabSize = 4096

// cut returns a copy of src carved from *slab (capacity limited, so an
// append by a later owner reallocates instead of overwriting a neighbour).
func cut[T any](slab *[]T, src []T) []T {
	n := len(src)
	if n == 0 {
		return nil
	}
	if n > slabSize/4 {
		return append([]T(nil), src...)
	}
	if len(*slab)+n > cap(*slab) {
		*slab = make([]T, 0, slabSize)
	}
	start := len(*slab)
	*slab = append(*slab, src...)
	return (*slab)[start : start+n : start+n]
}

// clampNanos converts an OTLP timestamp; values beyond int64 become the
// largest, which validation then reports as too far in the future.
func clampNanos(ns uint64) int64 {
	if ns > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(ns)
}

// formatInt and formatFloat render numbers as attributes show them.
func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
