package sawmill

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// levelName maps a slog level onto the names the server recognises:
// anything below INFO is debug, below WARN info, below ERROR warn, the rest
// error.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// encoder appends one flat JSON object. Groups become dotted key prefixes,
// which the server stores as attribute names unchanged.
type encoder struct {
	buf   []byte
	first bool
}

func (e *encoder) begin() { e.buf = append(e.buf, '{'); e.first = true }
func (e *encoder) end()   { e.buf = append(e.buf, '}') }

func (e *encoder) key(k string) {
	if !e.first {
		e.buf = append(e.buf, ',')
	}
	e.first = false
	e.buf = appendString(e.buf, k)
	e.buf = append(e.buf, ':')
}

func (e *encoder) str(k, v string) {
	e.key(k)
	e.buf = appendString(e.buf, v)
}

// attr appends a after resolving it; prefix is the dotted group path
// ("" or "g1.g2."). Empty attributes and empty groups are skipped, as slog
// requires.
func (e *encoder) attr(prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range a.Value.Group() {
			e.attr(p, g)
		}
		return
	}
	key := prefix + a.Key
	if err, ok := a.Value.Any().(error); ok && a.Value.Kind() == slog.KindAny {
		// An error's text goes where the server looks for it.
		if key == "err" {
			key = "error"
		}
		e.str(key, errorText(err))
		return
	}
	e.key(key)
	e.value(a.Value)
}

func errorText(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = fmt.Sprintf("%T (Error panicked)", err)
		}
	}()
	return err.Error()
}

func (e *encoder) value(v slog.Value) {
	switch v.Kind() {
	case slog.KindString:
		e.buf = appendString(e.buf, v.String())
	case slog.KindInt64:
		e.buf = strconv.AppendInt(e.buf, v.Int64(), 10)
	case slog.KindUint64:
		e.buf = strconv.AppendUint(e.buf, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			e.buf = appendString(e.buf, strconv.FormatFloat(f, 'g', -1, 64))
			return
		}
		e.buf = strconv.AppendFloat(e.buf, f, 'g', -1, 64)
	case slog.KindBool:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case slog.KindDuration:
		e.buf = strconv.AppendInt(e.buf, int64(v.Duration()), 10)
	case slog.KindTime:
		e.buf = appendString(e.buf, v.Time().Format(time.RFC3339Nano))
	default:
		e.any(v.Any())
	}
}

// any encodes a value that is not a slog kind: JSON when it marshals, its
// %+v text otherwise (never an error that loses the record).
func (e *encoder) any(x any) {
	if b, err := marshal(x); err == nil {
		e.buf = append(e.buf, b...)
		return
	}
	e.buf = appendString(e.buf, fmt.Sprintf("%+v", x))
}

func marshal(x any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("marshal panicked: %v", r)
		}
	}()
	return json.Marshal(x)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
