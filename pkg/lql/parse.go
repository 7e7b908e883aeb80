package lql

import (
	"strings"
	"unicode/utf8"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Parse parses an LQL query (see the package documentation): a search
// expression, then optionally pipes after the first "|" outside quotes. The
// error is an *Error, positioned at the offending byte, for any query it
// rejects: a syntax error, an unknown level, function or pipe, a reserved
// character, or a query over the limits. An empty or blank query parses to
// a Query that matches everything.
func Parse(q string) (*Query, error) {
	if len(q) > MaxQueryBytes {
		return nil, errorf(MaxQueryBytes, "query is longer than %d bytes", MaxQueryBytes)
	}
	if err := checkChars(q); err != nil {
		return nil, err
	}
	filter := q
	pipe := pipeStart(q)
	if pipe >= 0 {
		filter = q[:pipe]
	}
	root, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	query := newQuery(root)
	if pipe >= 0 {
		if query.pipeline, err = parsePipeline(q, pipe); err != nil {
			return nil, err
		}
	}
	return query, nil
}

// parseFilter parses the search expression before any pipe; nil for an
// empty or blank one.
func parseFilter(q string) (Node, error) {
	p := &parser{src: q}
	p.skipSpace()
	if p.eof() {
		return nil, nil
	}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.eof() { // or() stops only at the end or at a ")"
		return nil, errorf(p.pos, `unexpected ")" without a matching "("`)
	}
	return root, nil
}

// checkChars rejects invalid UTF-8 and control characters other than white
// space: they cannot be typed, and only confuse the SQL and the user.
func checkChars(q string) error {
	for i, r := range q {
		switch {
		case r == utf8.RuneError:
			if _, w := utf8.DecodeRuneInString(q[i:]); w == 1 {
				return errorf(i, "invalid UTF-8")
			}
		case r < 0x20 && !isSpace(byte(r)), r >= 0x7f && r < 0xa0:
			return errorf(i, "control character %U is not allowed", r)
		}
	}
	return nil
}

// parser is a recursive-descent parser over the query bytes. Each method
// starts at a non-space byte (or the end) and leaves pos after what it
// consumed and any white space that follows.
type parser struct {
	src   string
	pos   int
	terms int // terms and fields so far
	depth int // open parentheses and negations
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isDelim reports whether c ends a word.
func isDelim(c byte) bool { return isSpace(c) || c == '"' || c == '(' || c == ')' }

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

// wordEnd returns the end of the word starting at pos.
func (p *parser) wordEnd() int {
	i := p.pos
	for i < len(p.src) && !isDelim(p.src[i]) {
		i++
	}
	return i
}

// keyword returns the keyword at pos, or "".
func (p *parser) keyword() string {
	if w := p.src[p.pos:p.wordEnd()]; isKeyword(w) {
		return w
	}
	return ""
}

// operandEnd reports whether no operand can start at pos.
func (p *parser) operandEnd() bool {
	if p.eof() || p.peek() == ')' {
		return true
	}
	kw := p.keyword()
	return kw == "AND" || kw == "OR"
}

// or parses: and { "OR" and }.
func (p *parser) or() (Node, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	ops := []Node{first}
	for !p.eof() && p.keyword() == "OR" {
		p.pos += len("OR")
		p.skipSpace()
		if p.operandEnd() {
			return nil, errorf(p.pos, `expected a term after "OR"`)
		}
		x, err := p.and()
		if err != nil {
			return nil, err
		}
		ops = append(ops, x)
	}
	if len(ops) == 1 {
		return first, nil
	}
	return &Or{Offset: first.Pos(), Operands: ops}, nil
}

// and parses: unary { [ "AND" ] unary }.
func (p *parser) and() (Node, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	ops := []Node{first}
	for !p.eof() && p.peek() != ')' {
		switch p.keyword() {
		case "OR":
			return newAnd(ops), nil
		case "AND":
			p.pos += len("AND")
			p.skipSpace()
			if p.operandEnd() {
				return nil, errorf(p.pos, `expected a term after "AND"`)
			}
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		ops = append(ops, x)
	}
	return newAnd(ops), nil
}

func newAnd(ops []Node) Node {
	if len(ops) == 1 {
		return ops[0]
	}
	return &And{Offset: ops[0].Pos(), Operands: ops}
}

// unary parses: "NOT" unary | "-" primary | primary.
func (p *parser) unary() (Node, error) {
	start := p.pos
	switch p.keyword() {
	case "NOT":
		p.pos += len("NOT")
		p.skipSpace()
		if p.operandEnd() {
			return nil, errorf(p.pos, `expected a term after "NOT"`)
		}
		return p.not(start, p.unary)
	case "AND", "OR":
		return nil, errorf(start, "expected a term before %q", p.keyword())
	}
	if p.peek() != '-' {
		return p.primary(false)
	}
	p.pos++
	switch c := p.peek(); {
	case p.eof() || isSpace(c) || c == ')':
		return nil, errorf(start, `expected a term right after "-"`)
	case c == '-':
		return nil, errorf(start, `unexpected "--"; quote a term that starts with "-"`)
	}
	return p.not(start, func() (Node, error) { return p.primary(true) })
}

// not parses the operand of a negation that starts at start.
func (p *parser) not(start int, operand func() (Node, error)) (Node, error) {
	if err := p.enter(start); err != nil {
		return nil, err
	}
	x, err := operand()
	if err != nil {
		return nil, err
	}
	p.depth--
	return &Not{Offset: start, X: x}, nil
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return errorf(pos, "query nests more than %d levels deep", MaxDepth)
	}
	return nil
}

// primary parses: "(" or ")" | field | term. After a "-" (negated), a
// keyword is an ordinary word: "-OR" excludes events that contain "or".
func (p *parser) primary(negated bool) (Node, error) {
	start := p.pos
	switch p.peek() {
	case '(':
		return p.group()
	case ')':
		return nil, errorf(start, `unexpected ")" without a matching "("`)
	case '"':
		text, err := p.phrase()
		if err != nil {
			return nil, err
		}
		if text == "" {
			return nil, errorf(start, "empty quoted phrase")
		}
		return p.term(start, text)
	}
	if kw := p.keyword(); kw != "" && !negated {
		return nil, errorf(start, "expected a term before %q", kw)
	}
	return p.word()
}

// group parses: "(" or ")".
func (p *parser) group() (Node, error) {
	start := p.pos
	if err := p.enter(start); err != nil {
		return nil, err
	}
	p.pos++
	p.skipSpace()
	if p.peek() == ')' {
		return nil, errorf(start, "empty parentheses")
	}
	if p.eof() {
		return nil, errorf(start, `unclosed "("`)
	}
	x, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.eof() {
		return nil, errorf(start, `unclosed "("`)
	}
	p.pos++ // the ")": or() stops only at the end or at a ")"
	p.skipSpace()
	p.depth--
	return x, nil
}

// word parses a bare word: a term, or a field when it contains ':'.
func (p *parser) word() (Node, error) {
	start, end := p.pos, p.wordEnd()
	w := p.src[start:end]
	colon := strings.IndexByte(w, ':')
	if colon < 0 {
		if err := checkReserved(w, start, false); err != nil {
			return nil, err
		}
		p.pos = end
		p.skipSpace()
		return p.term(start, w)
	}
	name := w[:colon]
	if name == "" {
		return nil, errorf(start, `empty field name before ":"; quote the term to search for it as text`)
	}
	for i := 0; i < len(name); i++ {
		if !validNameByte(name[i]) {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return nil, errorf(start+i, "invalid character %q in field name %q; quote the term to search for it as text", r, name)
		}
	}
	valuePos := start + colon + 1
	p.pos = valuePos
	var value string
	switch {
	case valuePos < end:
		value = w[colon+1:]
		if err := checkReserved(value, valuePos, true); err != nil {
			return nil, err
		}
		p.pos = end
		p.skipSpace()
	case p.peek() == '"':
		v, err := p.phrase()
		if err != nil {
			return nil, err
		}
		value = v
	default:
		return nil, errorf(valuePos, "expected a value after %q", name+":")
	}
	if name == "level" {
		if _, ok := event.ParseLevel(value); !ok {
			return nil, errorf(valuePos, "unknown level %q; use trace, debug, info, warn, error or fatal", value)
		}
	}
	return p.count(start, &Field{Offset: start, Name: name, Value: value})
}

// checkReserved rejects the characters later versions of the language give a
// meaning, so that queries written today keep theirs.
func checkReserved(s string, pos int, value bool) error {
	if i := strings.IndexByte(s, '*'); i >= 0 {
		return errorf(pos+i, `wildcards are not supported yet; quote the text to search for "*"`)
	}
	if i := strings.IndexByte(s, '|'); i >= 0 {
		return errorf(pos+i, `pipes are not supported yet; quote the text to search for "|"`)
	}
	if value && (s[0] == '<' || s[0] == '>') {
		return errorf(pos, "comparisons are not supported yet; quote the value to search for %q", s)
	}
	return nil
}

// phrase parses a quoted phrase at pos and returns its text.
func (p *parser) phrase() (string, error) {
	start := p.pos
	var b strings.Builder
	for i := start + 1; i < len(p.src); i++ {
		switch c := p.src[i]; c {
		case '"':
			p.pos = i + 1
			p.skipSpace()
			return b.String(), nil
		case '\\':
			if i+1 == len(p.src) {
				return "", errorf(start, "unterminated quoted phrase")
			}
			if e := p.src[i+1]; e != '"' && e != '\\' {
				r, _ := utf8.DecodeRuneInString(p.src[i+1:])
				return "", errorf(i, `unknown escape \%c in quoted phrase; write \\ for a backslash`, r)
			}
			i++
			b.WriteByte(p.src[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", errorf(start, "unterminated quoted phrase")
}

func (p *parser) term(start int, text string) (Node, error) {
	return p.count(start, &Term{Offset: start, Text: text})
}

// count counts a term or field against MaxTerms.
func (p *parser) count(start int, n Node) (Node, error) {
	p.terms++
	if p.terms > MaxTerms {
		return nil, errorf(start, "query has more than %d terms", MaxTerms)
	}
	return n, nil
}
