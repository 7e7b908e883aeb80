package lql

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// AST constructors for expected trees.
func tm(off int, text string) *Term         { return &Term{Offset: off, Text: text} }
func fd(off int, name, value string) *Field { return &Field{Offset: off, Name: name, Value: value} }
func ng(off int, x Node) *Not               { return &Not{Offset: off, X: x} }
func and(off int, ops ...Node) *And         { return &And{Offset: off, Operands: ops} }
func or(off int, ops ...Node) *Or           { return &Or{Offset: off, Operands: ops} }
func cmp(off int, name, op, value string) *Compare {
	return &Compare{Offset: off, Name: name, Op: op, Value: value}
}
func wc(off int, name, value string) *Wildcard {
	return &Wildcard{Offset: off, Name: name, Value: value}
}
func rx(off int, name, pattern string) *Regex {
	return &Regex{Offset: off, Name: name, Pattern: pattern}
}
func has(off int, name string) *Exists { return &Exists{Offset: off, Name: name} }

// dump renders a tree with positions, one node a line, for failure messages.
func dump(n Node) string {
	var b strings.Builder
	var walk func(n Node, indent string)
	walk = func(n Node, indent string) {
		b.WriteString(indent)
		switch n := n.(type) {
		case nil:
			b.WriteString("<nil>\n")
		case *Term:
			fmt.Fprintf(&b, "Term@%d %q\n", n.Offset, n.Text)
		case *Field:
			fmt.Fprintf(&b, "Field@%d %q = %q\n", n.Offset, n.Name, n.Value)
		case *Compare:
			fmt.Fprintf(&b, "Compare@%d %q %s %q\n", n.Offset, n.Name, n.Op, n.Value)
		case *Wildcard:
			fmt.Fprintf(&b, "Wildcard@%d %q = %q\n", n.Offset, n.Name, n.Value)
		case *Regex:
			fmt.Fprintf(&b, "Regex@%d %q ~ %q\n", n.Offset, n.Name, n.Pattern)
		case *Exists:
			fmt.Fprintf(&b, "Exists@%d %q\n", n.Offset, n.Name)
		case *Not:
			fmt.Fprintf(&b, "Not@%d\n", n.Offset)
			walk(n.X, indent+"  ")
		case *And:
			fmt.Fprintf(&b, "And@%d\n", n.Offset)
			for _, x := range n.Operands {
				walk(x, indent+"  ")
			}
		case *Or:
			fmt.Fprintf(&b, "Or@%d\n", n.Offset)
			for _, x := range n.Operands {
				walk(x, indent+"  ")
			}
		}
	}
	walk(n, "")
	return b.String()
}

func TestParse(t *testing.T) {
	f := func(q string, want Node) {
		t.Helper()
		got, err := Parse(q)
		if err != nil {
			t.Errorf("Parse(%q): %v", q, err)
			return
		}
		if !reflect.DeepEqual(got.Root(), want) {
			t.Errorf("Parse(%q):\ngot\n%s\nwant\n%s", q, dump(got.Root()), dump(want))
		}
	}
	f("", nil)
	f("  \t\r\n ", nil)
	f("error", tm(0, "error"))
	f("  error  ", tm(2, "error"))
	f(`"connection refused"`, tm(0, "connection refused"))
	f(`"say \"hi\" \\o/"`, tm(0, `say "hi" \o/`))
	f(`"a'b"`, tm(0, `a'b`))
	f("req-7f3a9c", tm(0, "req-7f3a9c"))
	f(`C\temp`, tm(0, `C\temp`))
	f("Überweisung", tm(0, "Überweisung"))
	f("and or not", and(0, tm(0, "and"), tm(4, "or"), tm(7, "not")))
	f("a b", and(0, tm(0, "a"), tm(2, "b")))
	f("a AND b", and(0, tm(0, "a"), tm(6, "b")))
	f("a OR b", or(0, tm(0, "a"), tm(5, "b")))
	f("a b OR c", or(0, and(0, tm(0, "a"), tm(2, "b")), tm(7, "c")))
	f("a OR b c", or(0, tm(0, "a"), and(5, tm(5, "b"), tm(7, "c"))))
	f("a OR b OR c", or(0, tm(0, "a"), tm(5, "b"), tm(10, "c")))
	f("(a OR b) c", and(1, or(1, tm(1, "a"), tm(6, "b")), tm(9, "c")))
	f("((a))", tm(2, "a"))
	f("a (b c)", and(0, tm(0, "a"), and(3, tm(3, "b"), tm(5, "c"))))
	f("-a", ng(0, tm(1, "a")))
	f("NOT a", ng(0, tm(4, "a")))
	f("NOT NOT a", ng(0, ng(4, tm(8, "a"))))
	f("NOT -a", ng(0, ng(4, tm(5, "a"))))
	f(`-"a b"`, ng(0, tm(1, "a b")))
	f("-(a OR b)", ng(0, or(2, tm(2, "a"), tm(7, "b"))))
	f("NOT(a)", ng(0, tm(4, "a")))
	f("-OR", ng(0, tm(1, "OR")))
	f("a -b", and(0, tm(0, "a"), ng(2, tm(3, "b"))))
	f("a-b", tm(0, "a-b"))
	f("level:warning", fd(0, "level", "warning"))
	f("level:WARN", fd(0, "level", "WARN"))
	f(`level:"error"`, fd(0, "level", "error"))
	f("-level:debug", ng(0, fd(1, "level", "debug")))
	f(`message:"could not connect"`, fd(0, "message", "could not connect"))
	f(`user_id:""`, fd(0, "user_id", ""))
	f("url:http://example.com:8080/x", fd(0, "url", "http://example.com:8080/x"))
	f("@timestamp.raw-1:x", fd(0, "@timestamp.raw-1", "x"))
	f("exception.type:OperationalError", fd(0, "exception.type", "OperationalError"))
	f(`a:b"c"`, and(0, fd(0, "a", "b"), tm(3, "c")))
	f(`"a"b`, and(0, tm(0, "a"), tm(3, "b")))
	f("service:web env:production", and(0, fd(0, "service", "web"), fd(12, "env", "production")))
	// Comparisons.
	f("status_code:>=500", cmp(0, "status_code", ">=", "500"))
	f("duration_ms:>1000", cmp(0, "duration_ms", ">", "1000"))
	f("x:<-1.5e3 x:<=.5 x:=+7 x:>0.", and(0, cmp(0, "x", "<", "-1.5e3"), cmp(10, "x", "<=", ".5"), cmp(17, "x", "=", "+7"), cmp(23, "x", ">", "0.")))
	f("level:>=warning", cmp(0, "level", ">=", "warning"))
	f("level:<ERR", cmp(0, "level", "<", "ERR"))
	f("-level:=crit", ng(0, cmp(1, "level", "=", "crit")))
	f(`x:">5"`, fd(0, "x", ">5"))
	f(`x:"=5"`, fd(0, "x", "=5"))
	// Wildcards.
	f("time*out", wc(0, "", "time*out"))
	f("path:/api/*", wc(0, "path", "/api/*"))
	f(`path:C:\Users\*`, wc(0, "path", `C:\Users\*`))
	f("service:*", wc(0, "service", "*"))
	f("-host:web-*", ng(0, wc(1, "host", "web-*")))
	f(`"time*out"`, tm(0, "time*out"))
	f(`path:"/api/*"`, fd(0, "path", "/api/*"))
	// Regular expressions.
	f(`message:/timeout \d+/`, rx(0, "message", `timeout \d+`))
	f(`/re/`, rx(0, "", "re"))
	f(`-/re/ x`, and(0, ng(0, rx(1, "", "re")), tm(6, "x")))
	f(`(/a\) b/)`, rx(1, "", `a\) b`))
	f(`/a/(b)`, and(0, rx(0, "", "a"), tm(4, "b")))
	f(`/a\/b/`, rx(0, "", `a\/b`))
	f(`/a\\/`, rx(0, "", `a\\`))
	f(`/"q"/`, rx(0, "", `"q"`))
	f(`level:/^(warn|error)$/`, rx(0, "level", "^(warn|error)$"))
	f(`/api/v1/orders`, tm(0, "/api/v1/orders"))
	f(`url:/api/v1/orders`, fd(0, "url", "/api/v1/orders"))
	f(`message:/x`, fd(0, "message", "/x"))
	f(`//`, tm(0, "//"))
	f(`//a/`, tm(0, "//a/"))
	f(`/a/b/`, tm(0, "/a/b/"))
	f(`/`, tm(0, "/"))
	// Existence.
	f("has:request_id", has(0, "request_id"))
	f("-has:x", ng(0, has(1, "x")))
	f(`has:"odd key"`, has(0, "odd key"))
	f(strings.Repeat("(", MaxDepth)+"a"+strings.Repeat(")", MaxDepth), tm(MaxDepth, "a"))
	f(strings.Repeat("NOT ", MaxDepth)+"a", nestedNot(MaxDepth))
}

// nestedNot is the tree of "NOT NOT ... a" with depth negations.
func nestedNot(depth int) Node {
	var n Node = tm(4*depth, "a")
	for i := depth - 1; i >= 0; i-- {
		n = ng(4*i, n)
	}
	return n
}

func TestParseErrors(t *testing.T) {
	f := func(q, want string) {
		t.Helper()
		_, err := Parse(q)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want *Error %q", q, err, want)
			return
		}
		if pe.Error() != want {
			t.Errorf("Parse(%q):\n got %q\nwant %q", q, pe.Error(), want)
		}
	}
	f("level:", `at 6: expected a value after "level:"`)
	f("error level: x", `at 12: expected a value after "level:"`)
	f("level:loud", `at 6: unknown level "loud"; use trace, debug, info, warn, error or fatal`)
	f(`level:""`, `at 6: unknown level ""; use trace, debug, info, warn, error or fatal`)
	f(`"abc`, `at 0: unterminated quoted phrase`)
	f(`x "abc\"`, `at 2: unterminated quoted phrase`)
	f(`"abc\`, `at 0: unterminated quoted phrase`)
	f(`msg:"abc`, `at 4: unterminated quoted phrase`)
	f(`"C:\Users"`, `at 3: unknown escape \U in quoted phrase; write \\ for a backslash`)
	f(`""`, `at 0: empty quoted phrase`)
	f(":x", `at 0: empty field name before ":"; quote the term to search for it as text`)
	f("a/b:c", `at 1: invalid character '/' in field name "a/b"; quote the term to search for it as text`)
	f("née:x", `at 1: invalid character 'é' in field name "née"; quote the term to search for it as text`)
	f("a AND", `at 5: expected a term after "AND"`)
	f("a AND OR b", `at 6: expected a term after "AND"`)
	f("a OR", `at 4: expected a term after "OR"`)
	f("a OR )", `at 5: expected a term after "OR"`)
	f("AND a", `at 0: expected a term before "AND"`)
	f("OR a", `at 0: expected a term before "OR"`)
	f("(OR a)", `at 1: expected a term before "OR"`)
	f("NOT", `at 3: expected a term after "NOT"`)
	f("a NOT", `at 5: expected a term after "NOT"`)
	f("-", `at 0: expected a term right after "-"`)
	f("- a", `at 0: expected a term right after "-"`)
	f("(a -)", `at 3: expected a term right after "-"`)
	f("--verbose", `at 0: unexpected "--"; quote a term that starts with "-"`)
	f("()", `at 0: empty parentheses`)
	f("(a", `at 0: unclosed "("`)
	f("((a)", `at 0: unclosed "("`)
	f("(", `at 0: unclosed "("`)
	f("a)", `at 1: unexpected ")" without a matching "("`)
	f(")", `at 0: unexpected ")" without a matching "("`)
	f("a|b", `at 2: unknown pipe "b"; use stats, timechart, sort, limit or fields`)
	f("error | stats count", `at 19: expected "(" after "count": aggregations are written count(...)`)
	f("*", `at 0: a wildcard needs text besides "*"; quote "*" to search for it`)
	f("a **", `at 2: a wildcard needs text besides "*"; quote "*" to search for it`)
	f("level:warn*", `at 6: level takes a level name, not a wildcard; write level:>=warn for a range`)
	f("x:>", `at 3: expected a number after ">"`)
	f("x:>=", `at 4: expected a number after ">="`)
	f("x:>=|stats", `at 4: expected a number after ">="`)
	f("x:>abc", `at 3: expected a number after ">", not "abc"; quote the value to search for ">abc"`)
	f("x:<>5", `at 3: expected a number after "<", not ">5"; quote the value to search for "<>5"`)
	f("x:==5", `at 3: expected a number after "=", not "=5"; quote the value to search for "==5"`)
	f("x:>5ms", `at 3: expected a number after ">", not "5ms"; quote the value to search for ">5ms"`)
	f("x:>NaN", `at 3: expected a number after ">", not "NaN"; quote the value to search for ">NaN"`)
	f("x:<inf", `at 3: expected a number after "<", not "inf"; quote the value to search for "<inf"`)
	f("x:>0x10", `at 3: expected a number after ">", not "0x10"; quote the value to search for ">0x10"`)
	f("x:>1_000", `at 3: expected a number after ">", not "1_000"; quote the value to search for ">1_000"`)
	f("x:>1e309", `at 3: number 1e309 is out of range (beyond ±1.7976931348623157e308)`)
	f("x:>-1e400", `at 3: number -1e400 is out of range (beyond ±1.7976931348623157e308)`)
	f("x:>5e-324", `at 3: number 5e-324 is too close to zero (under 2.2250738585072014e-308): use 0`)
	f("service:>5", `at 8: service is text: comparisons apply to level and numeric attributes; quote the value to search for ">5"`)
	f("message:<=x", `at 8: message is text: comparisons apply to level and numeric attributes; quote the value to search for "<=x"`)
	f("level:>=loud", `at 8: expected a level after "level:>=", not "loud"; use trace, debug, info, warn, error or fatal`)
	f("level:>", `at 7: expected a level after "level:>", not ""; use trace, debug, info, warn, error or fatal`)
	f("/(/", `at 1: invalid regular expression: missing closing ): "("`)
	f("message:/a{1001}/", `at 10: invalid regular expression: invalid repeat count: "{1001}"`)
	f(`x /\C/`, `at 3: invalid regular expression: invalid escape sequence: "\\C"`)
	f(`/a**/`, `at 2: invalid regular expression: invalid nested repetition operator: "**"`)
	f(`/(?<n/`, `at 1: invalid regular expression: invalid named capture: "(?<n"`)
	f(`/\pL{1000}/`, `at 1: regular expression is too complex (over 10000 states): use fewer repetitions or smaller classes`)
	f(`/((a{100}){100}){100}/`, `at 4: invalid regular expression: invalid repeat count: "{100}"`)
	f(`/(\p{Greek}{10}){99}/`, `at 1: regular expression is too complex (over 10000 states): use fewer repetitions or smaller classes`)
	f(`/x{2,}\p{Greek}{999}/`, `at 1: regular expression is too complex (over 10000 states): use fewer repetitions or smaller classes`)
	f(`/[a-z]{200}/`, `at 1: regular expression is too complex (over 200 instructions): use fewer repetitions`)
	f(`message:/(ab|cd){60}e/`, `at 9: regular expression is too complex (over 200 instructions): use fewer repetitions`)
	f("/"+strings.Repeat("a", MaxRegexBytes+1)+"/", `at 1: regular expression is longer than 1024 bytes`)
	f(strings.Repeat(`/\pL/ `, 2), `at 6: the query's regular expressions and wildcards are too large: over 65536 bytes compiled (a bare one counts once per text it searches)`)
	f(strings.Repeat(`message:/\pL/ `, 15), `at 196: the query's regular expressions and wildcards are too large: over 65536 bytes compiled (a bare one counts once per text it searches)`)
	f("has:", `at 4: expected a field name after "has:"`)
	f(`has:""`, `at 4: expected a field name after "has:"`)
	f("has:a/b", `at 5: invalid character '/' in field name "a/b"; quote the term to search for it as text`)
	f("has:/x/", `at 4: expected a field name after "has:"`)
	f("has:x*", `at 5: invalid character '*' in field name "x*"; quote the term to search for it as text`)
	f("/a|b/ | nope", `at 8: unknown pipe "nope"; use stats, timechart, sort, limit or fields`)
	f("a\x00b", `at 1: control character U+0000 is not allowed`)
	f("a\u0085b", `at 1: control character U+0085 is not allowed`)
	f("ab\xffc", `at 2: invalid UTF-8`)
	f(strings.Repeat("a", MaxQueryBytes+1), `at 4096: query is longer than 4096 bytes`)
	f(strings.Repeat("a ", MaxTerms)+"b", `at 128: query has more than 64 terms`)
	f(strings.Repeat("(", MaxDepth+1)+"a"+strings.Repeat(")", MaxDepth+1), `at 32: query nests more than 32 levels deep`)
	f(strings.Repeat("NOT ", MaxDepth+1)+"a", `at 128: query nests more than 32 levels deep`)
	f(strings.Repeat("-(", MaxDepth/2+1)+"a", `at 32: query nests more than 32 levels deep`)
}
