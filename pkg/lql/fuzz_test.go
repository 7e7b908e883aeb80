package lql

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that it reports errors as
// positioned *Error values, that a parsed query's SQL keeps to the SQL
// alphabet with one argument per placeholder, and that String round-trips.
func FuzzParse(f *testing.F) {
	for _, q := range []string{
		"error", `"connection refused"`, "level:warning service:web", "-level:debug env:production",
		`request_id:req-7f3a9c OR trace_id:4bf92f3577b34da6a3ce929d0e0e4736`, "(timeout OR refused) -celery",
		`exception.type:OperationalError message:"could not connect"`, `user_id:"42" http.method:POST`,
		"NOT NOT a", `"say \"hi\" \\o/"`, "müller ΣΤΗ 田中 🚫", "a AND (b OR -c) AND NOT d", `note:""`,
		"url:http://example.com:8080/x", "level:", `"abc`, "foo*", "a|b", "x:>5", "()", "--x", "a\x00b",
	} {
		f.Add(q)
	}
	for _, c := range conformance {
		f.Add(c.query)
	}
	e := rows[0].e
	f.Fuzz(func(t *testing.T, q string) {
		p, err := Parse(q)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): %T %v, want *Error", q, err, err)
			}
			if pe.Pos < 0 || pe.Pos > len(q) {
				t.Fatalf("Parse(%q): error position %d outside the query", q, pe.Pos)
			}
			return
		}
		where, args := p.SQL()
		if n := strings.Count(where, "?"); n != len(args) {
			t.Fatalf("Parse(%q).SQL(): %d placeholders, %d args: %s", q, n, len(args), where)
		}
		if !sqlAlphabet.MatchString(where) {
			t.Fatalf("Parse(%q).SQL() = %s: outside the SQL alphabet", q, where)
		}
		p.Match(&e)
		s := p.String()
		if len(s) > MaxQueryBytes {
			return // quoting can lengthen a query past the limit
		}
		p2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", q, s, err)
		}
		if !equalAST(p.Root(), p2.Root()) {
			t.Fatalf("Parse(%q) = %q, which parses to another tree:\n%s\n%s", q, s, dump(p.Root()), dump(p2.Root()))
		}
		if s2 := p2.String(); s2 != s {
			t.Fatalf("String is not canonical: %q then %q", s, s2)
		}
	})
}

// FuzzNeedle checks the optimised substring search against a plain
// rune-by-rune reference of the same semantics, on any haystack bytes.
func FuzzNeedle(f *testing.F) {
	for _, s := range [][2]string{
		{"abc", "xxABCxx"}, {"5k", "5\u212a"}, {"müller", "Kunde MÜLLER"}, {"ς", "Σ"}, {"Straße", "STRAßE"},
		{"é", "\xc3E\xc3\xa9"}, {"\ufffd", "\xff"}, {"𐐀", "𐐨"}, {"", ""}, {"aab", "aaab"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, text, h string) {
		if !utf8.ValidString(text) {
			return // Parse rejects such queries
		}
		n := newNeedle(text)
		if got, want := n.in(h), referenceIn(text, h); got != want {
			t.Fatalf("%q in %q = %v, reference %v", text, h, got, want)
		}
	})
}

// referenceIn is needle.in written plainly: try the needle at every rune
// boundary of h, comparing rune by rune.
func referenceIn(text, h string) bool {
	if !foldable(text) {
		return strings.Contains(h, text)
	}
	for i := 0; ; {
		j, ok := i, true
		for _, c := range text {
			r, w := utf8.DecodeRuneInString(h[j:])
			if w == 0 || r == utf8.RuneError && w == 1 || r != c && r != foldAlternative(c) {
				ok = false
				break
			}
			j += w
		}
		if ok {
			return true
		}
		if i == len(h) {
			return false
		}
		_, w := utf8.DecodeRuneInString(h[i:])
		i += w
	}
}
