package lql

import (
	"errors"
	"regexp"
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
		"status_code:>=500", "duration_ms:>1e3", "x:<=-0.5", "x:=+7", "x:>1e309", "x:>5e-324", "x:>.", "level:>=warning",
		"level:<crit", "path:/api/*", "time*out", "*", `C:\*`, "service:*", `message:/timeout \d+/`, `/a|b/ | stats count()`,
		`/(?i)straße/`, `/a\/b/`, `/a/b/`, `//`, `/(/`, `/\pL{999}/`, `-/x/`, "has:request_id", `has:"a b"`, "-has:x",
		`(path:/api/*) OR (message:/(?i)x/)`, `/[[:^alpha:]]/`, `x:/^$/`, `/\C/`, `has:`, "has:/x/", `has:"!"`,
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

// FuzzRegexRender checks that a regular expression rendered for both
// engines means, to Go, exactly what it meant as written ("." matching a
// newline): unfolding (?i) into classes and rendering lose nothing.
func FuzzRegexRender(f *testing.F) {
	for _, s := range [][2]string{
		{`timeout \d+`, "retry: timeout 30s"}, {`(?i)k`, "\u212a"}, {`(?i)σ`, "ς"}, {`a.b`, "a\nb"},
		{`(?-s)a.b`, "a\nb"}, {`^x$`, "x\n"}, {`(?m)^x$`, "y\nx\nz"}, {`\bé\b`, "é"}, {`(?i)straße`, "STRASSE"},
		{`\pL+`, "田中"}, {`(?i)[k-m]`, "\u212a"}, {`(?U)a+?b`, "aab"}, {`\Qa.b\E`, "axb"}, {`[^a]`, "\n"},
		{`(?i)ǅ`, "ǆ"}, {`(?i)ΣΤΗ`, "στη"}, {`x{2,}`, "xx"}, {`(a|)+`, "b"}, {`\x{FFFD}`, "\ufffd"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, h string) {
		if !utf8.ValidString(pattern) || !utf8.ValidString(h) || len(pattern) > MaxRegexBytes || len(h) > 4096 {
			return // Parse rejects such patterns; events are valid UTF-8
		}
		rendered, err := renderRegex(pattern, 0)
		if err != nil {
			return
		}
		orig, err := regexp.Compile("(?s)" + pattern)
		if err != nil {
			t.Fatalf("%q: rendered as %q but does not compile with (?s): %v", pattern, rendered, err)
		}
		re := compilePattern(rendered)
		if got, want := re.MatchString(h), orig.MatchString(h); got != want {
			t.Fatalf("%q rendered %q: matches %q %v, as written %v", pattern, rendered, h, got, want)
		}
	})
}

// FuzzWildcard checks a wildcard's two implementations, Match's glob and
// the pattern ClickHouse runs, against a plain reference of its semantics: on a bare word, its pieces occur in order with a term's case
// rules; on a field, the value is made of them, '*' standing for any run
// of characters, case-sensitively.
func FuzzWildcard(f *testing.F) {
	for _, s := range [][3]string{
		{"", "time*out", "SMTP TimeOut"}, {"", "5*k", "5\u212a"}, {"", "mü*r", "MÜLLER"}, {"path", "/api/*", "/api/v1"},
		{"path", "*/42", "/42"}, {"path", "a*a", "a"}, {"message", "ß*", "STRASSE"}, {"path", "%*_", "%x_"},
		{"", `\*`, `C:\x`}, {"path", "*", ""}, {"", "σ*", "Σ"}, {"", "ab*ba", "aba"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, name, value, h string) {
		if name != "" && name != "message" {
			name = "path"
		}
		if !utf8.ValidString(value) || !utf8.ValidString(h) || !strings.Contains(value, "*") ||
			len(value) > 256 || len(h) > 4096 { // the regular expression is slow on long inputs
			return
		}
		n := &Wildcard{Name: name, Value: value}
		want := referenceGlob(n, h)
		if got := newGlob(n).MatchString(h); got != want {
			t.Fatalf("%s matches %q: %v, reference %v", n, h, got, want)
		}
		if got := compilePattern(wildcardPattern(n)).MatchString(h); got != want {
			t.Fatalf("%s matches %q: pattern %q says %v, reference %v", n, h, wildcardPattern(n), got, want)
		}
	})
}

// referenceGlob is the wildcard's meaning written plainly.
func referenceGlob(n *Wildcard, h string) bool {
	parts := strings.Split(n.Value, "*")
	if n.Name == "path" { // whole value, case-sensitive
		first, last := parts[0], parts[len(parts)-1]
		if len(h) < len(first)+len(last) || !strings.HasPrefix(h, first) || !strings.HasSuffix(h, last) {
			return false
		}
		h = h[len(first) : len(h)-len(last)]
		for _, p := range parts[1 : len(parts)-1] {
			i := strings.Index(h, p)
			if i < 0 {
				return false
			}
			h = h[i+len(p):]
		}
		return true
	}
	fold := foldable(strings.Join(parts, ""))
	at := 0
	for _, p := range parts {
		end, ok := referenceFind(p, h, at, fold)
		if !ok {
			return false
		}
		at = end
	}
	return true
}

// referenceFind returns the end of the first occurrence of text in h at or
// after byte at (a rune boundary), with the terms' case rules when fold.
func referenceFind(text, h string, at int, fold bool) (int, bool) {
	for i := at; ; {
		j, ok := i, true
		for _, c := range text {
			r, w := utf8.DecodeRuneInString(h[j:])
			alt := c
			if fold {
				alt = foldAlternative(c)
			}
			if w == 0 || r != c && r != alt {
				ok = false
				break
			}
			j += w
		}
		if ok {
			return j, true
		}
		if i == len(h) {
			return 0, false
		}
		_, w := utf8.DecodeRuneInString(h[i:])
		i += w
	}
}
