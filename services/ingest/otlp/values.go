package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// maxFlattenDepth bounds how deep nested maps are flattened into dotted
// keys; a map nested deeper becomes one attribute holding its JSON text.
const maxFlattenDepth = 8

// render appends the attribute(s) that value v under key becomes: one field
// for a scalar or an array, one per leaf for a map. An empty value (no kind
// set) and an empty map add nothing.
func (d *decoder) render(dst []field, key string, v *commonpb.AnyValue, depth int) []field {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return append(dst, field{key: key, value: x.StringValue})
	case *commonpb.AnyValue_BoolValue:
		return append(dst, field{key: key, value: formatBool(x.BoolValue)})
	case *commonpb.AnyValue_IntValue:
		return append(dst, field{key: key, value: formatInt(x.IntValue), num: float64(x.IntValue), isNum: true})
	case *commonpb.AnyValue_DoubleValue:
		f := x.DoubleValue
		finite := !math.IsInf(f, 0) && !math.IsNaN(f)
		return append(dst, field{key: key, value: formatFloat(f), num: f, isNum: finite})
	case *commonpb.AnyValue_BytesValue:
		return append(dst, field{key: key, value: base64.StdEncoding.EncodeToString(x.BytesValue)})
	case *commonpb.AnyValue_KvlistValue:
		if depth >= maxFlattenDepth {
			return append(dst, field{key: key, value: d.text(v)})
		}
		for _, kv := range x.KvlistValue.GetValues() {
			dst = d.render(dst, key+"."+kv.GetKey(), kv.GetValue(), depth+1)
		}
		return dst
	case *commonpb.AnyValue_ArrayValue:
		return append(dst, field{key: key, value: d.text(v)})
	}
	// nil, or string_value_strindex (a profiles dictionary reference that
	// log records do not use): nothing to keep.
	return dst
}

// text returns v as one string: a string as it is, anything else as its
// JSON text (numbers and bools unquoted, bytes as quoted base64).
func (d *decoder) text(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case nil:
		return ""
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return formatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return formatInt(x.IntValue)
	case *commonpb.AnyValue_DoubleValue:
		return formatFloat(x.DoubleValue)
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	}
	d.buf = appendJSON(d.buf[:0], v)
	return string(d.buf)
}

func formatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// appendJSON appends v as JSON. Non-finite doubles, which JSON cannot
// express, are written as strings ("NaN", "+Inf", "-Inf").
func appendJSON(b []byte, v *commonpb.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return appendQuoted(b, x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		return append(b, formatBool(x.BoolValue)...)
	case *commonpb.AnyValue_IntValue:
		return append(b, formatInt(x.IntValue)...)
	case *commonpb.AnyValue_DoubleValue:
		if math.IsInf(x.DoubleValue, 0) || math.IsNaN(x.DoubleValue) {
			return appendQuoted(b, formatFloat(x.DoubleValue))
		}
		return append(b, formatFloat(x.DoubleValue)...)
	case *commonpb.AnyValue_BytesValue:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x.BytesValue)
		return append(b, '"')
	case *commonpb.AnyValue_ArrayValue:
		b = append(b, '[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case *commonpb.AnyValue_KvlistValue:
		b = append(b, '{')
		for i, kv := range x.KvlistValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, kv.GetKey())
			b = append(b, ':')
			b = appendJSON(b, kv.GetValue())
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

// appendQuoted appends s as a JSON string. Invalid UTF-8 is copied as it is;
// event.Normalize repairs it afterwards.
func appendQuoted(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// id renders a trace id (want 16 bytes) or span id (want 8) as lower-case
// hex, "" when absent or all zero, or returns why it is unacceptable. In
// OTLP/JSON the id was sent as hex, which protojson decoded as base64 into
// 3/4 of its length: encoding those bytes as base64 again gives back the
// exact hex text (a multiple of 4 characters, so the round trip is
// lossless). An id that decodes to exactly want bytes was sent in base64,
// as the plain protobuf JSON mapping does, and is accepted too.
func (d *decoder) id(b []byte, want int, name string) (string, string) {
	if len(b) == 0 {
		return "", ""
	}
	var raw [16]byte
	if d.format == JSON && len(b) != want {
		jsonName := "traceId"
		if name == "span_id" {
			jsonName = "spanId"
		}
		if len(b) != want*3/2 {
			return "", fmt.Sprintf("%s must be %d hex digits", jsonName, 2*want)
		}
		d.buf = base64.StdEncoding.AppendEncode(d.buf[:0], b)
		if _, err := hex.Decode(raw[:want], d.buf); err != nil {
			return "", fmt.Sprintf("%s %q is not %d hex digits", jsonName, shorten(string(d.buf)), 2*want)
		}
		b = raw[:want]
	}
	if len(b) != want {
		return "", fmt.Sprintf("%s is %d bytes, want %d", name, len(b), want)
	}
	zero := true
	for _, c := range b {
		if c != 0 {
			zero = false
			break
		}
	}
	if zero {
		return "", ""
	}
	return hex.EncodeToString(b), ""
}

// shorten quotes client input in reasons at most 40 bytes long.
func shorten(s string) string { return event.Shorten(s, 40) }
