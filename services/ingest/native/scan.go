package native

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of objects and arrays in one event, so that a
// hostile body cannot exhaust the stack.
const maxDepth = 64

// kind is the JSON type of a flattened value.
type kind uint8

const (
	kindString kind = iota
	kindNumber
	kindBool
	kindArray  // text is the array's compact JSON
	kindObject // only reported for a non-object top-level value
	kindNull
)

func (k kind) String() string {
	return [...]string{"string", "number", "boolean", "array", "object", "null"}[k]
}

// field is one flattened key/value pair of an event object: nested objects
// become dotted keys, null values are dropped.
type field struct {
	key  string
	text string // the string's value; the number, boolean or array as JSON text
	kind kind
}

// syntaxError is a JSON syntax error at a byte offset of the scanned text.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.off, e.msg)
}

// scanner reads JSON from s. It is a small hand-written parser rather than
// encoding/json so that one pass yields flattened fields in input order,
// with substrings of s for every value that needs no unescaping, and with
// the byte offset of any error. It accepts exactly what encoding/json
// accepts (up to maxDepth) and unquotes strings the way it does.
type scanner struct {
	s      string
	pos    int
	depth  int
	sawWS  bool    // whitespace was skipped since last reset
	fields []field // the object being flattened
	buf    []byte  // scratch for unescaping and compacting
	err    *syntaxError
}

func (p *scanner) reset(s string) {
	p.s, p.pos, p.depth, p.err = s, 0, 0, nil
	p.fields = p.fields[:0]
}

func (p *scanner) fail(off int, format string, args ...any) {
	if p.err == nil {
		p.err = &syntaxError{off: off, msg: fmt.Sprintf(format, args...)}
	}
}

// failChar reports an unexpected byte at pos, or the end of input.
func (p *scanner) failChar(context string) {
	if p.pos >= len(p.s) {
		p.fail(len(p.s), "unexpected end of JSON input")
		return
	}
	p.fail(p.pos, "invalid character %s %s", quoteByte(p.s[p.pos]), context)
}

func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("'\\x%02x'", c)
}

func (p *scanner) skipWS() {
	start := p.pos
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
			continue
		}
		break
	}
	if p.pos > start {
		p.sawWS = true
	}
}

// atEnd reports whether only whitespace is left.
func (p *scanner) atEnd() bool {
	p.skipWS()
	return p.pos == len(p.s)
}

// object flattens the object at pos into p.fields, prefixing keys with
// prefix. Later duplicates of a key are kept here; the caller keeps the
// first.
func (p *scanner) object(prefix string) {
	if p.depth++; p.depth > maxDepth {
		p.fail(p.pos, "nested deeper than %d levels", maxDepth)
		return
	}
	p.pos++ // '{'
	p.skipWS()
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		p.depth--
		return
	}
	for p.err == nil {
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			p.failChar("looking for beginning of object key string")
			return
		}
		key := p.str()
		p.skipWS()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			p.failChar("after object key")
			return
		}
		p.pos++
		p.skipWS()
		p.member(prefix, key)
		p.skipWS()
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			p.skipWS()
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			p.depth--
			return
		}
		p.failChar("after object key:value pair")
	}
}

// member reads the value of key and records it.
func (p *scanner) member(prefix, key string) {
	if p.err != nil {
		return
	}
	if prefix != "" {
		key = prefix + key
	}
	if p.pos < len(p.s) && p.s[p.pos] == '{' {
		p.object(key + ".")
		return
	}
	text, k := p.scalar()
	if p.err == nil && k != kindNull {
		p.fields = append(p.fields, field{key: key, text: text, kind: k})
	}
}

// scalar reads any value but an object's members: strings are unquoted,
// arrays and objects returned as compact JSON.
func (p *scanner) scalar() (string, kind) {
	if p.pos >= len(p.s) {
		p.failChar("")
		return "", kindNull
	}
	start := p.pos
	switch c := p.s[p.pos]; {
	case c == '"':
		return p.str(), kindString
	case c == '[' || c == '{':
		p.sawWS = false
		p.skip()
		k := kindArray
		if c == '{' {
			k = kindObject
		}
		return p.compact(p.s[start:p.pos]), k
	case c == 't':
		p.literal("true")
		return "true", kindBool
	case c == 'f':
		p.literal("false")
		return "false", kindBool
	case c == 'n':
		p.literal("null")
		return "", kindNull
	case c == '-' || c >= '0' && c <= '9':
		p.number()
		return p.s[start:p.pos], kindNumber
	}
	p.failChar("looking for beginning of value")
	return "", kindNull
}

// skip validates the value at pos and moves past it.
func (p *scanner) skip() {
	if p.pos >= len(p.s) {
		p.failChar("looking for beginning of value")
		return
	}
	switch p.s[p.pos] {
	case '{', '[':
		p.skipContainer()
	case '"':
		p.skipString()
	default:
		p.scalar()
	}
}

func (p *scanner) skipContainer() {
	open := p.s[p.pos]
	if p.depth++; p.depth > maxDepth {
		p.fail(p.pos, "nested deeper than %d levels", maxDepth)
		return
	}
	closing, what := byte(']'), "array element"
	if open == '{' {
		closing, what = '}', "object key:value pair"
	}
	p.pos++
	p.skipWS()
	if p.pos < len(p.s) && p.s[p.pos] == closing {
		p.pos++
		p.depth--
		return
	}
	for p.err == nil {
		if open == '{' {
			if p.pos >= len(p.s) || p.s[p.pos] != '"' {
				p.failChar("looking for beginning of object key string")
				return
			}
			p.skipString()
			p.skipWS()
			if p.pos >= len(p.s) || p.s[p.pos] != ':' {
				p.failChar("after object key")
				return
			}
			p.pos++
			p.skipWS()
		}
		p.skip()
		if p.err != nil {
			return
		}
		p.skipWS()
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			p.skipWS()
			continue
		}
		if p.pos < len(p.s) && p.s[p.pos] == closing {
			p.pos++
			p.depth--
			return
		}
		p.failChar("after " + what)
	}
}

func (p *scanner) literal(lit string) {
	for i := 0; i < len(lit); i++ {
		if p.pos >= len(p.s) || p.s[p.pos] != lit[i] {
			p.failChar("in literal " + lit)
			return
		}
		p.pos++
	}
}

// number moves past a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *scanner) number() {
	if p.s[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.s) && p.s[p.pos] == '0':
		p.pos++
	case p.pos < len(p.s) && p.s[p.pos] >= '1' && p.s[p.pos] <= '9':
		p.digits()
	default:
		p.failChar("in numeric literal")
		return
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if !p.digits() {
			p.failChar("after decimal point in numeric literal")
			return
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if !p.digits() {
			p.failChar("in exponent of numeric literal")
		}
	}
}

func (p *scanner) digits() bool {
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	return p.pos > start
}

// skipString validates the string at pos and moves past it.
func (p *scanner) skipString() {
	p.pos++ // '"'
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return
		case c == '\\':
			p.escape(nil)
			if p.err != nil {
				return
			}
		case c < 0x20:
			p.failChar("in string literal")
			return
		default:
			p.pos++
		}
	}
	p.failChar("")
}

// str reads the string at pos and returns its value. A string without
// escapes or invalid UTF-8 is a substring of s; others are rebuilt in buf,
// every invalid byte becoming U+FFFD as encoding/json does.
func (p *scanner) str() string {
	p.pos++ // '"'
	start := p.pos
	ascii := true
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			s := p.s[start:p.pos]
			p.pos++
			if ascii || utf8.ValidString(s) {
				return s
			}
			return p.unquote(start)
		case c == '\\':
			return p.unquote(start)
		case c < 0x20:
			p.failChar("in string literal")
			return ""
		case c >= 0x80:
			ascii = false
		}
		p.pos++
	}
	p.failChar("")
	return ""
}

// unquote rebuilds the string that started at start, from its beginning.
func (p *scanner) unquote(start int) string {
	p.pos = start
	b := p.buf[:0]
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.buf = b
			return string(b)
		case c == '\\':
			b = p.escape(b)
			if p.err != nil {
				return ""
			}
		case c < 0x20:
			p.failChar("in string literal")
			return ""
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, n := utf8.DecodeRuneInString(p.s[p.pos:])
			b = utf8.AppendRune(b, r) // RuneError for an invalid byte, n == 1
			p.pos += n
		}
	}
	p.buf = b
	p.failChar("")
	return ""
}

// escape reads the escape sequence at pos and appends its value to b.
func (p *scanner) escape(b []byte) []byte {
	p.pos++ // '\\'
	if p.pos >= len(p.s) {
		p.failChar("")
		return b
	}
	c := p.s[p.pos]
	p.pos++
	switch c {
	case '"', '\\', '/':
		return append(b, c)
	case 'b':
		return append(b, '\b')
	case 'f':
		return append(b, '\f')
	case 'n':
		return append(b, '\n')
	case 'r':
		return append(b, '\r')
	case 't':
		return append(b, '\t')
	case 'u':
		r := p.hex4()
		if p.err != nil {
			return b
		}
		if utf16.IsSurrogate(r) {
			r = p.lowSurrogate(r)
		}
		return utf8.AppendRune(b, r)
	}
	p.pos--
	p.failChar("in string escape code")
	return b
}

// lowSurrogate combines the high surrogate r with a following \uXXXX low
// surrogate, consuming it; without one it returns U+FFFD and consumes
// nothing, as encoding/json does.
func (p *scanner) lowSurrogate(r rune) rune {
	rest := p.s[p.pos:]
	if len(rest) < 6 || rest[0] != '\\' || rest[1] != 'u' {
		return utf8.RuneError
	}
	r2, ok := parseHex4(rest[2:6])
	if !ok {
		return utf8.RuneError
	}
	if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
		p.pos += 6
		return dec
	}
	return utf8.RuneError
}

func (p *scanner) hex4() rune {
	for i := 0; i < 4; i++ {
		if p.pos+i >= len(p.s) || !isHex(p.s[p.pos+i]) {
			p.pos += i
			p.failChar("in \\u hexadecimal character escape")
			return 0
		}
	}
	r, _ := parseHex4(p.s[p.pos : p.pos+4])
	p.pos += 4
	return r
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func parseHex4(s string) (rune, bool) {
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// compact returns the valid JSON text raw without insignificant whitespace,
// as json.Compact would. It returns raw itself when skipping it met no
// whitespace.
func (p *scanner) compact(raw string) string {
	if !p.sawWS || p.err != nil {
		return raw
	}
	b := p.buf[:0]
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString:
			b = append(b, c)
			if c == '\\' {
				i++
				b = append(b, raw[i])
			} else if c == '"' {
				inString = false
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			b = append(b, c)
			inString = c == '"'
		}
	}
	p.buf = b
	return string(b)
}
