package native

import (
	"math"
	"strconv"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// slot is an event field that input keys map onto.
type slot uint8

const (
	slotTime slot = iota
	slotLevel
	slotSeverityNumber
	slotMessage
	slotService
	slotEnvironment
	slotHost
	slotLogger
	slotTraceID
	slotSpanID
	slotRequestID
	slotExcType
	slotExcMessage
	slotExcStack
	slotError
	numSlots
)

// known maps a flattened input key to the slot it fills and its priority
// among that slot's aliases (lower wins). Keys are case-sensitive.
func known(key string) (slot, int8, bool) {
	switch key {
	case "timestamp":
		return slotTime, 0, true
	case "time":
		return slotTime, 1, true
	case "ts":
		return slotTime, 2, true
	case "@timestamp":
		return slotTime, 3, true
	case "asctime":
		return slotTime, 4, true
	case "date":
		return slotTime, 5, true
	case "t":
		return slotTime, 6, true

	case "level":
		return slotLevel, 0, true
	case "levelname":
		return slotLevel, 1, true
	case "severity":
		return slotLevel, 2, true
	case "log.level":
		return slotLevel, 3, true
	case "loglevel":
		return slotLevel, 4, true
	case "severity_text":
		return slotLevel, 5, true
	case "severity_number":
		return slotSeverityNumber, 0, true

	case "message":
		return slotMessage, 0, true
	case "msg":
		return slotMessage, 1, true
	case "event":
		return slotMessage, 2, true
	case "@message":
		return slotMessage, 3, true
	case "log":
		return slotMessage, 4, true
	case "text":
		return slotMessage, 5, true
	}
	return knownContext(key)
}

func knownContext(key string) (slot, int8, bool) {
	switch key {
	case "service":
		return slotService, 0, true
	case "service.name":
		return slotService, 1, true
	case "app":
		return slotService, 2, true
	case "application":
		return slotService, 3, true

	case "environment":
		return slotEnvironment, 0, true
	case "env":
		return slotEnvironment, 1, true
	case "deployment.environment":
		return slotEnvironment, 2, true

	case "host":
		return slotHost, 0, true
	case "hostname":
		return slotHost, 1, true
	case "host.name":
		return slotHost, 2, true

	case "logger":
		return slotLogger, 0, true
	case "name":
		return slotLogger, 1, true
	case "logger_name":
		return slotLogger, 2, true
	case "log.logger":
		return slotLogger, 3, true
	}
	return knownIDs(key)
}

func knownIDs(key string) (slot, int8, bool) {
	switch key {
	case "trace_id":
		return slotTraceID, 0, true
	case "traceId":
		return slotTraceID, 1, true
	case "otelTraceID":
		return slotTraceID, 2, true
	case "dd.trace_id":
		return slotTraceID, 3, true
	case "trace.id": // ECS
		return slotTraceID, 4, true

	case "span_id":
		return slotSpanID, 0, true
	case "spanId":
		return slotSpanID, 1, true
	case "otelSpanID":
		return slotSpanID, 2, true
	case "dd.span_id":
		return slotSpanID, 3, true
	case "span.id": // ECS
		return slotSpanID, 4, true

	case "request_id":
		return slotRequestID, 0, true
	case "requestId":
		return slotRequestID, 1, true
	case "req_id":
		return slotRequestID, 2, true
	case "x_request_id":
		return slotRequestID, 3, true
	case "correlation_id":
		return slotRequestID, 4, true
	}
	return knownException(key)
}

func knownException(key string) (slot, int8, bool) {
	switch key {
	case "exception.type":
		return slotExcType, 0, true
	case "err.type":
		return slotExcType, 1, true
	case "err.name": // bunyan
		return slotExcType, 2, true
	case "error.type": // ECS
		return slotExcType, 3, true

	case "exception.message":
		return slotExcMessage, 0, true
	case "err.message":
		return slotExcMessage, 1, true
	case "error.message": // ECS
		return slotExcMessage, 2, true

	case "exception.stack":
		return slotExcStack, 0, true
	case "exception.stacktrace":
		return slotExcStack, 1, true
	case "exception": // structlog's format_exc_info
		return slotExcStack, 2, true
	case "err.stack":
		return slotExcStack, 3, true
	case "error.stack_trace":
		return slotExcStack, 4, true
	case "exc_info":
		return slotExcStack, 5, true
	case "stack":
		return slotExcStack, 6, true
	case "stack_trace":
		return slotExcStack, 7, true

	case "error":
		return slotError, 0, true
	case "err":
		return slotError, 1, true
	}
	return 0, 0, false
}

// accepts reports whether a value of kind k can fill slot s. A value that
// cannot stays an attribute, and the slot's next alias may fill it.
func (s slot) accepts(k kind) bool {
	switch s {
	case slotExcType, slotExcMessage, slotExcStack, slotError:
		return k == kindString
	case slotSeverityNumber:
		return k == kindNumber
	case slotMessage:
		return k != kindNull
	}
	return k == kindString || k == kindNumber
}

// builder turns flattened fields into events. It keeps scratch space across
// events of one body; it is not safe for concurrent use.
type builder struct {
	dup   []bool
	used  []bool
	seen  map[string]struct{}
	attrs []event.Attr    // slab the events' Attrs are cut from
	nums  []event.NumAttr // slab the events' NumAttrs are cut from
}

// build fills e from fields: known keys (first alias by priority) into
// their fields, the rest into attributes in input order, a later duplicate
// of a key dropped. It returns a client-safe reason when the event cannot
// be built (an unparseable timestamp).
func (b *builder) build(e *event.Event, fields []field) (reason string) {
	b.markDuplicates(fields)
	var best [numSlots]int
	var bestPrio [numSlots]int8
	for i := range best {
		best[i] = -1
	}
	b.used = append(b.used[:0], make([]bool, len(fields))...)
	for i, f := range fields {
		if b.dup[i] {
			continue
		}
		s, prio, ok := known(f.key)
		if !ok || !s.accepts(f.kind) || best[s] >= 0 && bestPrio[s] <= prio {
			continue
		}
		best[s], bestPrio[s] = i, prio
	}
	var text [numSlots]string
	var kinds [numSlots]kind
	for s, i := range best {
		if i >= 0 {
			b.used[i] = true
			text[s], kinds[s] = fields[i].text, fields[i].kind
		}
	}
	if best[slotTime] >= 0 {
		ns, reason := parseTime(text[slotTime], kinds[slotTime])
		if reason != "" {
			return reason
		}
		e.Time = ns
	}
	fillLevel(e, text[slotLevel], kinds[slotLevel], text[slotSeverityNumber])
	e.Message = text[slotMessage]
	e.Service, e.Environment, e.Host = text[slotService], text[slotEnvironment], text[slotHost]
	e.Logger, e.TraceID, e.SpanID = text[slotLogger], text[slotTraceID], text[slotSpanID]
	e.RequestID = text[slotRequestID]
	if !fillException(e, text[slotExcType], text[slotExcMessage], text[slotExcStack], text[slotError]) &&
		best[slotError] >= 0 {
		b.used[best[slotError]] = false // an error string beside a real exception stays an attribute
	}
	b.attributes(e, fields)
	return ""
}

// markDuplicates sets dup[i] for every field whose key an earlier field has.
func (b *builder) markDuplicates(fields []field) {
	b.dup = append(b.dup[:0], make([]bool, len(fields))...)
	if len(fields) <= 32 {
		for i := 1; i < len(fields); i++ {
			for j := 0; j < i; j++ {
				if fields[i].key == fields[j].key {
					b.dup[i] = true
					break
				}
			}
		}
		return
	}
	if b.seen == nil {
		b.seen = make(map[string]struct{}, len(fields))
	}
	clear(b.seen)
	for i, f := range fields {
		if _, ok := b.seen[f.key]; ok {
			b.dup[i] = true
		}
		b.seen[f.key] = struct{}{}
	}
}

// fillLevel sets Level from a level field (pino and bunyan numbers mapped,
// any other text left for event.Normalize to canonicalise or move to an
// attribute) and SeverityNumber from severity_number.
func fillLevel(e *event.Event, text string, k kind, sevNum string) {
	if sevNum != "" {
		if n, err := strconv.ParseInt(sevNum, 10, 32); err == nil {
			e.SeverityNumber = int32(n)
		}
	}
	if k == kindNumber {
		if n, err := strconv.Atoi(text); err == nil && n >= 10 && n < 70 {
			// pino/bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error,
			// 60 fatal; custom levels in between round down.
			e.Level = event.LevelName(int32(n/10-1)*4 + 1)
			return
		}
	}
	e.Level = text
}

// fillException sets Exception from explicit type, message and stack
// fields; a missing type or message is taken from the stack trace, and a
// plain error string is the message when nothing else describes the error.
// It reports whether it used errText.
func fillException(e *event.Event, typ, msg, stack, errText string) bool {
	if stack != "" && (typ == "" || msg == "") {
		t, m := parseTrace(stack)
		if typ == "" {
			typ = t
		}
		if msg == "" && t != "" {
			msg = m
		}
	}
	usedErr := typ == "" && msg == "" && stack == ""
	if usedErr {
		msg = errText
	}
	e.Exception = event.Exception{Type: typ, Message: msg, Stack: stack}
	return usedErr
}

// attributes appends every field not used by a known slot to e.Attrs, and
// numbers also to e.NumAttrs, in input order.
func (b *builder) attributes(e *event.Event, fields []field) {
	nAttrs, nNums := 0, 0
	for i, f := range fields {
		if !b.dup[i] && !b.used[i] {
			nAttrs++
			if f.kind == kindNumber {
				nNums++
			}
		}
	}
	e.Attrs = cut(&b.attrs, nAttrs, 512)
	e.NumAttrs = cut(&b.nums, nNums, 256)
	for i, f := range fields {
		if b.dup[i] || b.used[i] {
			continue
		}
		e.Attrs = append(e.Attrs, event.Attr{Key: f.key, Value: f.text})
		if f.kind != kindNumber {
			continue
		}
		if v, err := strconv.ParseFloat(f.text, 64); err == nil && !math.IsInf(v, 0) {
			e.NumAttrs = append(e.NumAttrs, event.NumAttr{Key: f.key, Value: v})
		}
	}
	if len(e.NumAttrs) == 0 {
		e.NumAttrs = nil // every number overflowed float64
	}
}

// cut returns an empty slice with capacity n carved from *slab, refilling
// the slab with at least chunk elements when it runs out; nil for n == 0.
// Appending past n reallocates rather than touching a neighbour's elements.
func cut[T any](slab *[]T, n, chunk int) []T {
	if n == 0 {
		return nil
	}
	if cap(*slab)-len(*slab) < n {
		*slab = make([]T, 0, max(n, chunk))
	}
	i := len(*slab)
	*slab = (*slab)[:i+n]
	return (*slab)[i : i : i+n]
}
