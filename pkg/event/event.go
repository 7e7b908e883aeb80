// Package event provides Sawmill's log event: the normalised model every input
// format is decoded into, severity arithmetic, validation limits and size
// accounting. It must not depend on any transport, storage or service package.
package event

import "time"

// Event is one normalised log line. The zero value is an empty event; Time is
// required before an event is stored.
type Event struct {
	// Time is when the event happened, in Unix nanoseconds.
	Time int64
	// ObservedTime is when Sawmill received it, in Unix nanoseconds.
	ObservedTime int64
	// Level is the canonical lower-case severity name (see LevelName);
	// empty when the input carried no severity.
	Level string
	// SeverityNumber is on OpenTelemetry's 1..24 scale; 0 means unspecified.
	SeverityNumber int32

	Message     string
	Service     string
	Environment string
	Host        string
	Logger      string
	TraceID     string
	SpanID      string
	RequestID   string

	// Attrs are string attributes, in input order, keys unique.
	Attrs []Attr
	// NumAttrs are numeric attributes (for avg, p95 and friends). A numeric
	// input field appears both here and, formatted, in Attrs.
	NumAttrs []NumAttr

	Exception Exception
}

// Attr is a string attribute.
type Attr struct {
	Key   string
	Value string
}

// NumAttr is a numeric attribute.
type NumAttr struct {
	Key   string
	Value float64
}

// Exception is a structured error attached to an event.
type Exception struct {
	Type    string
	Message string
	Stack   string
}

// Timestamp returns Time as a time.Time in UTC.
func (e *Event) Timestamp() time.Time { return time.Unix(0, e.Time).UTC() }

// Size is the number of bytes the event counts for in billing: the lengths of
// its text fields, attribute keys and values (8 bytes per number) and 16 bytes
// for the two timestamps. It depends only on the normalised content, never on
// the input format, so the same event costs the same however it arrived.
func (e *Event) Size() int {
	n := 16 + len(e.Level) + len(e.Message) + len(e.Service) + len(e.Environment) +
		len(e.Host) + len(e.Logger) + len(e.TraceID) + len(e.SpanID) + len(e.RequestID) +
		len(e.Exception.Type) + len(e.Exception.Message) + len(e.Exception.Stack)
	for _, a := range e.Attrs {
		n += len(a.Key) + len(a.Value)
	}
	for _, a := range e.NumAttrs {
		n += len(a.Key) + 8
	}
	return n
}
