package query

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// appendEventJSON appends the JSON of e in the API form search answers with
// (eventpb.ToProto through protojson with proto names and unpopulated fields
// emitted): the same object, field for field, value for value. A live tail
// writes every event of a busy tenant, and going through protojson and
// structpb costs ~7 µs and 45 allocations an event; this costs a fraction
// (BenchmarkTailSSE). TestEventJSONConformance holds the two together.
func appendEventJSON(dst []byte, e *event.Event) []byte {
	dst = append(dst, `{"timestamp":"`...)
	dst = appendTimestamp(dst, e.Time)
	dst = append(dst, `","level":`...)
	dst = appendJSONString(dst, e.Level)
	dst = append(dst, `,"severity_number":`...)
	dst = strconv.AppendInt(dst, int64(e.SeverityNumber), 10)
	for _, f := range [...]struct {
		name string
		v    string
	}{
		{`,"message":`, e.Message}, {`,"service":`, e.Service}, {`,"environment":`, e.Environment},
		{`,"host":`, e.Host}, {`,"logger":`, e.Logger}, {`,"trace_id":`, e.TraceID},
		{`,"span_id":`, e.SpanID}, {`,"request_id":`, e.RequestID},
	} {
		dst = append(dst, f.name...)
		dst = appendJSONString(dst, f.v)
	}
	dst = append(dst, `,"attributes":`...)
	dst = appendAttributes(dst, e)
	dst = append(dst, `,"exception":`...)
	if e.Exception == (event.Exception{}) {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"type":`...)
		dst = appendJSONString(dst, e.Exception.Type)
		dst = append(dst, `,"message":`...)
		dst = appendJSONString(dst, e.Exception.Message)
		dst = append(dst, `,"stack":`...)
		dst = appendJSONString(dst, e.Exception.Stack)
		dst = append(dst, '}')
	}
	// id names a stored event for QueryService.Context; eventpb.ToProto
	// leaves it empty, and so does the tail.
	return append(dst, `,"id":""}`...)
}

// appendAttributes writes the attributes object as eventpb.ToProto builds
// it: string attributes, then finite numeric ones, a number replacing the
// string of the same key; null when there are none.
func appendAttributes(dst []byte, e *event.Event) []byte {
	if len(e.Attrs) == 0 && len(e.NumAttrs) == 0 {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	open := len(dst) // a ',' goes before every member after the first
	for _, a := range e.Attrs {
		if numericKey(e.NumAttrs, a.Key) {
			continue
		}
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, a.Key)
		dst = append(dst, ':')
		dst = appendJSONString(dst, a.Value)
	}
	for i, a := range e.NumAttrs {
		if !finite(a.Value) || numericKey(e.NumAttrs[i+1:], a.Key) { // the last one wins, as in a map
			continue
		}
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, a.Key)
		dst = append(dst, ':')
		dst = strconv.AppendFloat(dst, a.Value, 'g', -1, 64)
	}
	return append(dst, '}')
}

// numericKey reports whether nums holds a finite number under key.
func numericKey(nums []event.NumAttr, key string) bool {
	for _, n := range nums {
		if n.Key == key && finite(n.Value) {
			return true
		}
	}
	return false
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// appendTimestamp writes ns as protojson writes a Timestamp: RFC 3339 in
// UTC with 0, 3, 6 or 9 fractional digits.
func appendTimestamp(dst []byte, ns int64) []byte {
	t := time.Unix(0, ns).UTC()
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05")
	frac := t.Nanosecond()
	switch {
	case frac == 0:
	case frac%1e6 == 0:
		dst = appendFrac(dst, frac/1e6, 3)
	case frac%1e3 == 0:
		dst = appendFrac(dst, frac/1e3, 6)
	default:
		dst = appendFrac(dst, frac, 9)
	}
	return append(dst, 'Z')
}

func appendFrac(dst []byte, v, digits int) []byte {
	var b [10]byte
	for i := digits; i > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	b[0] = '.'
	return append(dst, b[:digits+1]...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string. Invalid UTF-8 (which
// Normalize replaces at ingest) becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, w := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || w != 1 {
				i += w
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
