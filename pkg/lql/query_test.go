package lql

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

func mustParse(tb testing.TB, q string) *Query {
	tb.Helper()
	p, err := Parse(q)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", q, err)
	}
	return p
}

func TestString(t *testing.T) {
	f := func(q, want string) {
		t.Helper()
		got := mustParse(t, q).String()
		if got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", q, got, want)
		}
		again := mustParse(t, got)
		if !equalAST(again.Root(), mustParse(t, q).Root()) {
			t.Errorf("Parse(%q) differs from Parse(%q)", got, q)
		}
	}
	f("", "")
	f("  error   timeout ", "error timeout")
	f("a AND b", "a b")
	f("a OR b c", "a OR b c")
	f("(a OR b) c", "(a OR b) c")
	f("(a b) OR c", "a b OR c")
	f("a (b c)", "a (b c)")
	f("(a OR b) OR c", "(a OR b) OR c")
	f("NOT a", "-a")
	f("NOT NOT a", "NOT -a")
	f("NOT (a b)", "-(a b)")
	f("-OR", `-"OR"`)
	f(`"AND"`, `"AND"`)
	f(`"-x"`, `"-x"`)
	f(`"a:b"`, `"a:b"`)
	f(`"x*"`, `"x*"`)
	f(`"say \"hi\""`, `"say \"hi\""`)
	f(`"C:\\Users"`, `"C:\\Users"`)
	f(`C\Users`, `"C\\Users"`)
	f(`level:"warning"`, "level:warning")
	f(`url:http://x`, `url:"http://x"`)
	f(`note:""`, `note:""`)
	f(`d:">5"`, `d:">5"`)
	f("status_code:>=500", "status_code:>=500")
	f("level:>=WARNING", "level:>=WARNING")
	f("x:=1e3", "x:=1e3")
	f("path:/api/*", "path:/api/*")
	f("time*out", "time*out")
	f(`message:/timeout \d+/`, `message:/timeout \d+/`)
	f(`-/a b/`, `-/a b/`)
	f(`has:request_id`, `has:request_id`)
	f(`has:"a b"`, `has:"a b"`)
	f(`has:"!"`, `has:"!"`)
	f(`has:"-x"`, `has:-x`)
	f(`has:"a*"`, `has:"a*"`)
	f(`"/a/"`, `"/a/"`)
	f(`url:/api/v1`, `url:"/api/v1"`)
	f(`x:"=5"`, `x:"=5"`)
	f(`"a|b"`, `"a|b"`)
}

// equalAST reports whether two trees are equal, positions aside.
func equalAST(a, b Node) bool { return reflect.DeepEqual(stripPos(a), stripPos(b)) }

func stripPos(n Node) Node {
	switch n := n.(type) {
	case *Term:
		return &Term{Text: n.Text}
	case *Field:
		return &Field{Name: n.Name, Value: n.Value}
	case *Compare, *Wildcard, *Regex, *Exists:
		return stripLeaf(n)
	case *Not:
		return &Not{X: stripPos(n.X)}
	case *And:
		return &And{Operands: stripAll(n.Operands)}
	case *Or:
		return &Or{Operands: stripAll(n.Operands)}
	}
	return nil
}

// stripLeaf returns a copy of a leaf node with its offset zeroed.
func stripLeaf(n Node) Node {
	switch n := n.(type) {
	case *Compare:
		c := *n
		c.Offset = 0
		return &c
	case *Wildcard:
		c := *n
		c.Offset = 0
		return &c
	case *Regex:
		c := *n
		c.Offset = 0
		return &c
	case *Exists:
		c := *n
		c.Offset = 0
		return &c
	}
	return nil
}

func stripAll(ns []Node) []Node {
	out := make([]Node, len(ns))
	for i, n := range ns {
		out[i] = stripPos(n)
	}
	return out
}

// termSQL is the expression of a bare term, with fn the search function.
func termSQL(fn string) string {
	var parts []string
	for _, c := range textColumns {
		parts = append(parts, fn+"("+c.name+", ?) > 0")
	}
	return "(" + strings.Join(parts, " OR ") + " OR arrayExists(v -> " + fn + "(v, ?) > 0, attr_values))"
}

func repeat(v any, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestSQL(t *testing.T) {
	f := func(q, where string, args ...any) {
		t.Helper()
		gotWhere, gotArgs := mustParse(t, q).SQL()
		if gotWhere != where || !reflect.DeepEqual(gotArgs, args) {
			t.Errorf("Parse(%q).SQL():\n got %s %q\nwant %s %q", q, gotWhere, gotArgs, where, args)
		}
	}
	ascii, ci, cs := termSQL("positionCaseInsensitive"), termSQL("positionCaseInsensitiveUTF8"), termSQL("position")
	n := len(textColumns) + 1
	var matches []string
	for _, c := range textColumns {
		matches = append(matches, "match("+c.name+", ?)")
	}
	barePattern := "((" + strings.Join(matches, " OR ") + " OR arrayExists(v -> match(v, ?), attr_values)))"
	f("", "1")
	f("Timeout", ascii, repeat("Timeout", n)...)
	f("Müller", ci, repeat("Müller", n)...)
	f("Straße", cs, repeat("Straße", n)...)
	f("level:warning", "(level = ?)", "warn")
	f("level:CRITICAL", "(level = ?)", "fatal")
	f("service:web", "(service = ?)", "web")
	f("env:prod", "(environment = ?)", "prod")
	f("environment:prod", "(environment = ?)", "prod")
	f("request_id:req-1", "(request_id = ?)", "req-1")
	f("message:Refused", "(positionCaseInsensitive(message, ?) > 0)", "Refused")
	f("message:ΣΤΗ", "(positionCaseInsensitiveUTF8(message, ?) > 0)", "ΣΤΗ")
	f("message:μs", "(position(message, ?) > 0)", "μs")
	f("exception.type:Operational", "(positionCaseInsensitive(exc_type, ?) > 0)", "Operational")
	f("exception.message:é", "(positionCaseInsensitiveUTF8(exc_message, ?) > 0)", "é")
	f("exception.stack:x", "(arrayExists((k, v) -> k = ? AND v = ?, attr_keys, attr_values))", "exception.stack", "x")
	f("user_id:42", "(arrayExists((k, v) -> k = ? AND v = ?, attr_keys, attr_values))", "user_id", "42")
	f("levelname:WARNING", "(arrayExists((k, v) -> k = ? AND v = ?, attr_keys, attr_values))", "levelname", "WARNING")
	f("tenant_id:other", "(arrayExists((k, v) -> k = ? AND v = ?, attr_keys, attr_values))", "tenant_id", "other")
	f("-service:web", "(NOT (service = ?))", "web")
	f("service:a OR -(host:b env:c)", "((service = ?) OR (NOT ((host = ?) AND (environment = ?))))", "a", "b", "c")
	f("NOT NOT service:a", "(NOT (NOT (service = ?)))", "a")
	f("status_code:>=500", "(arrayExists((k, v) -> k = ? AND v >= ?, num_keys, num_values))", "status_code", 500.0)
	f("d:<-1.5e3", "(arrayExists((k, v) -> k = ? AND v < ?, num_keys, num_values))", "d", -1500.0)
	f("d:=.5", "(arrayExists((k, v) -> k = ? AND v = ?, num_keys, num_values))", "d", 0.5)
	f("level:>=warning", "(severity_number >= ? AND severity_number <= ?)", uint8(13), uint8(24))
	f("level:>warn", "(severity_number >= ? AND severity_number <= ?)", uint8(17), uint8(24))
	f("level:<warn", "(severity_number >= ? AND severity_number <= ?)", uint8(1), uint8(12))
	f("level:<=warn", "(severity_number >= ? AND severity_number <= ?)", uint8(1), uint8(16))
	f("level:=warn", "(severity_number >= ? AND severity_number <= ?)", uint8(13), uint8(16))
	f("level:<trace", "(severity_number >= ? AND severity_number <= ?)", uint8(1), uint8(0))
	f("service:web-*", "(match(service, ?))", `(?s:\Aweb-.*\z)`)
	f("message:a*b", "(match(message, ?))", `(?s:[Aa].*[Bb])`)
	f("http.path:/api/*", "(arrayExists((k, v) -> k = ? AND match(v, ?), attr_keys, attr_values))", "http.path", `(?s:\A/api/.*\z)`)
	f("100%*_x", barePattern, repeat(`(?s:100%.*_[Xx])`, n)...)
	f("Straße*x", barePattern, repeat(`(?s:Straße.*x)`, n)...)
	f("é*", barePattern, repeat(`(?s:[Éé].*)`, n)...)
	f(`/a.b\d/`, barePattern, repeat(`(?s:a.b[0-9])`, n)...)
	f(`message:/(?i)k$/`, "(match(message, ?))", "(?-m:[Kk\u212a]$)")
	f(`level:/^err/`, "(match(level, ?))", `\Aerr`)
	f(`user:/^\w+$/`, "(arrayExists((k, v) -> k = ? AND match(v, ?), attr_keys, attr_values))", "user", `(?-m:\A[0-9A-Z_a-z]+$)`)
	f("has:request_id", "(notEmpty(request_id))")
	f("has:env", "(notEmpty(environment))")
	f("has:duration_ms", "(has(attr_keys, ?) OR has(num_keys, ?))", "duration_ms", "duration_ms")
	f("-has:x", "(NOT (has(attr_keys, ?) OR has(num_keys, ?)))", "x", "x")
}

// sqlAlphabet is every character SQL may emit: identifiers, placeholders
// and operators, never a quote, backslash, semicolon or comment.
var sqlAlphabet = regexp.MustCompile(`^(?:[A-Za-z0-9_ (),?=<>\[\]]|->)*$`)

func TestSQLNeverContainsQueryText(t *testing.T) {
	for _, q := range []string{
		`"'; DROP TABLE logs; --"`, `x:"' OR 1=1 --"`, `"\\' OR '1'='1"`, `a:"b\"c"`,
		`"100%"`, `"_"`, `"/* c */"`, `"?"`, `x:"?"`, `"$1 @a {p:String}"`, `"` + "`t`" + `"`,
		`'or'`, `service:"a' OR tenant_id != '"`, `"\u202e"`, `"Ünïcødé"`, `@timestamp:"x"`,
	} {
		p, err := Parse(q)
		if err != nil {
			continue // an error is safe too; several are meant to parse
		}
		where, args := p.SQL()
		if !sqlAlphabet.MatchString(where) {
			t.Errorf("Parse(%q).SQL() = %s: has characters outside the SQL alphabet", q, where)
		}
		if c := strings.Count(where, "?"); c != len(args) {
			t.Errorf("Parse(%q).SQL(): %d placeholders, %d args", q, c, len(args))
		}
	}
}

func TestMatchEmptyQuery(t *testing.T) {
	for _, q := range []*Query{{}, mustParse(t, ""), mustParse(t, "  ")} {
		if !q.Match(&event.Event{}) {
			t.Errorf("%q: the empty query must match everything", q.String())
		}
		if where, args := q.SQL(); where != "1" || args != nil {
			t.Errorf("%q: SQL() = %q %v, want 1 and no args", q.String(), where, args)
		}
	}
}
