package lql

import (
	"strings"
	"unicode/utf8"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Parse parses an LQL query (see the package documentation): a search
// expression, then optionally pipes after the first "|" outside quoted
// phrases and regular expressions. The error is an *Error, positioned at
// the offending byte, for any query it rejects: a syntax error, an unknown
// level, function or pipe, a bad number or regular expression, a comparison
// on a text field, or a query over the limits. An empty or blank query parses to
// a Query that matches everything.
func Parse(q string) (*Query, error) {
	if len(q) > MaxQueryBytes {
		return nil, errorf(MaxQueryBytes, "query is longer than %d bytes", MaxQueryBytes)
	}
	if err := checkChars(q); err != nil {
		return nil, err
	}
	p := &parser{src: q}
	root, err := p.filter()
	if err != nil {
		return nil, err
	}
	query := newQuery(root)
	if p.pos < len(q) { // at the first '|' outside phrases and regular expressions
		if query.pipeline, err = parsePipeline(q, p.pos); err != nil {
			return nil, err
		}
	}
	return query, nil
}

// filter parses the search expression: up to the end, or to the '|' that
// starts the pipes. It is nil when empty or blank.
func (p *parser) filter() (Node, error) {
	p.skipSpace()
	if p.eof() {
		return nil, nil
	}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.eof() { // or() stops only at the end, a '|' or a ")"
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
	// patternBytes is the size of the patterns compiled so far (regular
	// expressions and wildcards), against MaxPatternBytes.
	patternBytes int
}

// eof reports whether the search expression ends at pos: at the end of the
// query, or at the '|' that starts the pipes (a '|' inside a phrase or a
// regular expression is consumed with it).
func (p *parser) eof() bool { return p.pos >= len(p.src) || p.src[p.pos] == '|' }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.pos]
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isDelim reports whether c ends a word.
func isDelim(c byte) bool { return isSpace(c) || c == '"' || c == '(' || c == ')' || c == '|' }

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
	if pattern, ok := p.regexLiteral(); ok {
		return p.regex(start, "", pattern, start+1)
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

// word parses a bare word: a term or wildcard, or a field when it contains
// ':'.
func (p *parser) word() (Node, error) {
	start, end := p.pos, p.wordEnd()
	w := p.src[start:end]
	colon := strings.IndexByte(w, ':')
	if colon < 0 {
		p.pos = end
		p.skipSpace()
		if strings.Contains(w, "*") {
			return p.wildcard(start, "", w)
		}
		return p.term(start, w)
	}
	name := w[:colon]
	if name == "" {
		return nil, errorf(start, `empty field name before ":"; quote the term to search for it as text`)
	}
	if err := checkFieldName(name, start); err != nil {
		return nil, err
	}
	valuePos := start + colon + 1
	p.pos = valuePos
	switch {
	case name == "has":
		return p.exists(start, valuePos)
	case valuePos < end:
		if pattern, ok := p.regexLiteral(); ok {
			return p.regex(start, name, pattern, valuePos+1)
		}
		p.pos = end
		p.skipSpace()
		return p.bareValue(start, name, w[colon+1:], valuePos)
	case p.peek() == '"':
		value, err := p.phrase()
		if err != nil {
			return nil, err
		}
		if err := checkLevel(name, value, valuePos); err != nil {
			return nil, err
		}
		return p.count(start, &Field{Offset: start, Name: name, Value: value})
	}
	return nil, errorf(valuePos, "expected a value after %q", name+":")
}

// checkFieldName rejects a field name with a character names may not have.
func checkFieldName(name string, start int) error {
	for i := 0; i < len(name); i++ {
		if !validNameByte(name[i]) {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return errorf(start+i, "invalid character %q in field name %q; quote the term to search for it as text", r, name)
		}
	}
	return nil
}

// checkLevel rejects a level:value whose value is no level name.
func checkLevel(name, value string, pos int) error {
	if name != "level" {
		return nil
	}
	if _, ok := event.ParseLevel(value); !ok {
		return errorf(pos, "unknown level %q; use trace, debug, info, warn, error or fatal", value)
	}
	return nil
}

// bareValue makes the node of name:value for an unquoted value at valuePos:
// a comparison when it starts with '<', '>' or '=', a wildcard when it has
// a '*', else a field.
func (p *parser) bareValue(start int, name, value string, valuePos int) (Node, error) {
	switch {
	case strings.IndexByte("<>=", value[0]) >= 0:
		return p.compare(start, name, value, valuePos)
	case strings.Contains(value, "*"):
		if name == "level" {
			return nil, errorf(valuePos, "level takes a level name, not a wildcard; write level:>=warn for a range")
		}
		return p.wildcard(start, name, value)
	}
	if err := checkLevel(name, value, valuePos); err != nil {
		return nil, err
	}
	return p.count(start, &Field{Offset: start, Name: name, Value: value})
}

// compare parses name:<op><operand>; value starts with the operator.
func (p *parser) compare(start int, name, value string, valuePos int) (Node, error) {
	op := value[:1]
	if op != "=" && len(value) > 1 && value[1] == '=' {
		op = value[:2]
	}
	operand, operandPos := value[len(op):], valuePos+len(op)
	switch {
	case name == "level":
		if _, ok := event.ParseLevel(operand); !ok {
			return nil, errorf(operandPos, "expected a level after %q, not %q; use trace, debug, info, warn, error or fatal", "level:"+op, operand)
		}
	case lookupField(name).kind != attrField:
		return nil, errorf(valuePos, "%s is text: comparisons apply to level and numeric attributes; quote the value to search for %q", name, value)
	default:
		if _, err := parseNumber(operand, operandPos, op); err != nil {
			return nil, err
		}
	}
	return p.count(start, &Compare{Offset: start, Name: name, Op: op, Value: operand})
}

// exists parses the field name after "has:" at valuePos: a name, or any
// attribute key quoted.
func (p *parser) exists(start, valuePos int) (Node, error) {
	var name string
	switch p.peek() {
	case '"':
		v, err := p.phrase()
		if err != nil {
			return nil, err
		}
		name = v
	case '/':
		return nil, errorf(valuePos, `expected a field name after "has:"`)
	default:
		end := p.wordEnd()
		name = p.src[valuePos:end]
		if err := checkFieldName(name, valuePos); err != nil {
			return nil, err
		}
		p.pos = end
		p.skipSpace()
	}
	if name == "" {
		return nil, errorf(valuePos, `expected a field name after "has:"`)
	}
	return p.count(start, &Exists{Offset: start, Name: name})
}

// wildcard checks a wildcard word or value and makes its node.
func (p *parser) wildcard(start int, name, value string) (Node, error) {
	if name == "" && strings.Trim(value, "*") == "" {
		return nil, errorf(start, `a wildcard needs text besides "*"; quote "*" to search for it`)
	}
	n := &Wildcard{Offset: start, Name: name, Value: value}
	if err := p.addPattern(start, name, len(wildcardPattern(n))); err != nil {
		return nil, err
	}
	return p.count(start, n)
}

// regex checks a regular expression literal whose pattern starts at
// patternPos, and makes its node.
func (p *parser) regex(start int, name, pattern string, patternPos int) (Node, error) {
	p.skipSpace()
	if len(pattern) > MaxRegexBytes {
		return nil, errorf(patternPos, "regular expression is longer than %d bytes", MaxRegexBytes)
	}
	rendered, err := renderRegex(pattern, patternPos)
	if err != nil {
		return nil, err
	}
	if err := p.addPattern(start, name, len(rendered)); err != nil {
		return nil, err
	}
	return p.count(start, &Regex{Offset: start, Name: name, Pattern: pattern})
}

// addPattern counts the bytes of the compiled pattern of a field (or of a
// bare pattern, name ""), as often as the SQL holds it, against
// MaxPatternBytes.
func (p *parser) addPattern(start int, name string, n int) error {
	if name == "" {
		n *= len(textColumns) + 1
	}
	p.patternBytes += n
	if p.patternBytes > MaxPatternBytes {
		return errorf(start, "the query's regular expressions and wildcards are too large: over %d bytes compiled (a bare one counts once per text it searches)", MaxPatternBytes)
	}
	return nil
}

// regexLiteral scans a regular expression literal at pos: '/', at least
// one byte, and the first '/' not escaped by '\\', which must be followed
// by the end or a byte that ends a word. ok is false, and nothing consumed,
// when pos holds no such literal: then it is an ordinary word, as in
// path:/api/* or /api/v1/orders. Otherwise pos is left after the closing
// '/'.
func (p *parser) regexLiteral() (pattern string, ok bool) {
	if p.peek() != '/' {
		return "", false
	}
	for i := p.pos + 1; i < len(p.src); i++ {
		switch p.src[i] {
		case '\\':
			i++
		case '/':
			if i == p.pos+1 || i+1 < len(p.src) && !isDelim(p.src[i+1]) {
				return "", false
			}
			pattern = p.src[p.pos+1 : i]
			p.pos = i + 1
			return pattern, true
		}
	}
	return "", false
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
