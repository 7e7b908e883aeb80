package lql

import "github.com/sawmillhq/sawmill/pkg/event"

// fieldKind says how a field:value compares.
type fieldKind int

const (
	// attrField: the string attribute with key name equals the value.
	attrField fieldKind = iota
	// levelField: level equals the canonical name of the value.
	levelField
	// exactField: the column equals the value, case-sensitively.
	exactField
	// textField: the value is a case-insensitive substring of the column.
	textField
)

// column is one text column of the logs table and the event field it holds.
type column struct {
	name string
	get  func(*event.Event) string
}

type fieldSpec struct {
	kind fieldKind
	col  column
}

var (
	colLevel       = column{"level", func(e *event.Event) string { return e.Level }}
	colMessage     = column{"message", func(e *event.Event) string { return e.Message }}
	colService     = column{"service", func(e *event.Event) string { return e.Service }}
	colEnvironment = column{"environment", func(e *event.Event) string { return e.Environment }}
	colHost        = column{"host", func(e *event.Event) string { return e.Host }}
	colLogger      = column{"logger", func(e *event.Event) string { return e.Logger }}
	colTraceID     = column{"trace_id", func(e *event.Event) string { return e.TraceID }}
	colSpanID      = column{"span_id", func(e *event.Event) string { return e.SpanID }}
	colRequestID   = column{"request_id", func(e *event.Event) string { return e.RequestID }}
	colExcType     = column{"exc_type", func(e *event.Event) string { return e.Exception.Type }}
	colExcMessage  = column{"exc_message", func(e *event.Event) string { return e.Exception.Message }}
	colExcStack    = column{"exc_stack", func(e *event.Event) string { return e.Exception.Stack }}
)

// textColumns are the columns a bare term searches, besides attr_values.
var textColumns = []column{
	colMessage, colLevel, colService, colEnvironment, colHost, colLogger,
	colTraceID, colSpanID, colRequestID, colExcType, colExcMessage, colExcStack,
}

// knownFields maps the field names with a column of their own; every other
// name is an attribute key.
var knownFields = map[string]fieldSpec{
	"level":             {levelField, colLevel},
	"message":           {textField, colMessage},
	"service":           {exactField, colService},
	"environment":       {exactField, colEnvironment},
	"env":               {exactField, colEnvironment},
	"host":              {exactField, colHost},
	"logger":            {exactField, colLogger},
	"trace_id":          {exactField, colTraceID},
	"span_id":           {exactField, colSpanID},
	"request_id":        {exactField, colRequestID},
	"exception.type":    {textField, colExcType},
	"exception.message": {textField, colExcMessage},
}

func lookupField(name string) fieldSpec { return knownFields[name] } // zero: attrField

// canonicalLevel returns the canonical level name for a value Parse accepted.
func canonicalLevel(value string) string {
	n, _ := event.ParseLevel(value)
	return event.LevelName(n)
}

// validNameByte reports whether c may appear in a field name.
func validNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '@' || c == '-'
}
