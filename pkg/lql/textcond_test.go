package lql

import (
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/textbloom"
)

// The search text must hold every column a bare term searches, or a
// TextCond would rule out rows SQL selects.
func TestSearchTextCoversTermColumns(t *testing.T) {
	for _, c := range append(textColumns, column{name: "attr_values"}) {
		if !strings.Contains(store.SearchTextExpr, c.name+",") && !strings.Contains(store.SearchTextExpr, c.name+")") {
			t.Errorf("search_text (%s) lacks %s", store.SearchTextExpr, c.name)
		}
	}
}

// condString writes a Cond as needles, (a AND b), (a OR b).
func condString(c textbloom.Cond) string {
	parts, sep := c.All, " AND "
	if c.Any != nil {
		parts, sep = c.Any, " OR "
	}
	if parts == nil {
		return c.Needle
	}
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = condString(p)
	}
	return "(" + strings.Join(s, sep) + ")"
}

func TestTextCond(t *testing.T) {
	f := func(query, want string) {
		t.Helper()
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := q.TextCond()
		if got := condString(c); ok != (want != "") || got != want {
			t.Errorf("%q: TextCond %q (%v), want %q", query, got, ok, want)
		}
	}
	f("Timeout", "timeout")
	f(`"Connection Reset"`, "connection reset")
	f("message:/x", "/x")
	f("timeout level:error", "(timeout)")
	f("timeout AND refused", "(timeout AND refused)")
	f("timeout OR refused", "(timeout OR refused)")
	f("timeout OR level:error", "")
	f("-timeout", "")
	f("NOT timeout", "")
	f("level:error", "")
	f("service:web", "")
	f("ÉCHEC", "") // case-insensitive non-ASCII: lower() does not fold it
	f("", "")
	// Wildcards: each piece between the '*'s.
	f("Time*Out", "(time AND out)")
	f("service:Web-*", "(web-)")
	f("http.path:*/API/*", "(/api/)")
	f(`100%*_x*\`, `(100% AND _x AND \)`)
	f("message:*é*x", "(x)")        // folded non-ASCII piece: none
	f("Straße*X", "(straße AND x)") // not folded: case-sensitive
	f("x:*", "")
	f("error host:web-* -c:d*", "(error AND (web-))")
	f("duration_ms:>5 level:>=warn has:x /re/ x:/y/", "")
	f("timeout | stats count()", "timeout")
	f(`"100%_done\\x"`, `100%_done\x`)
}
