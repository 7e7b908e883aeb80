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
	f("foo*", `at 3: wildcards are not supported yet; quote the text to search for "*"`)
	f("host:web-*", `at 9: wildcards are not supported yet; quote the text to search for "*"`)
	f("a|b", `at 2: unknown pipe "b"; use stats, timechart, sort, limit or fields`)
	f("error | stats count", `at 19: expected "(" after "count": aggregations are written count(...)`)
	f("duration_ms:>100", `at 12: comparisons are not supported yet; quote the value to search for ">100"`)
	f("x:<5", `at 2: comparisons are not supported yet; quote the value to search for "<5"`)
	f("a\x00b", `at 1: control character U+0000 is not allowed`)
	f("a\u0085b", `at 1: control character U+0085 is not allowed`)
	f("ab\xffc", `at 2: invalid UTF-8`)
	f(strings.Repeat("a", MaxQueryBytes+1), `at 4096: query is longer than 4096 bytes`)
	f(strings.Repeat("a ", MaxTerms)+"b", `at 128: query has more than 64 terms`)
	f(strings.Repeat("(", MaxDepth+1)+"a"+strings.Repeat(")", MaxDepth+1), `at 32: query nests more than 32 levels deep`)
	f(strings.Repeat("NOT ", MaxDepth+1)+"a", `at 128: query nests more than 32 levels deep`)
	f(strings.Repeat("-(", MaxDepth/2+1)+"a", `at 32: query nests more than 32 levels deep`)
}
