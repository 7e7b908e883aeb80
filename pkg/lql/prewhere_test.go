package lql

import (
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/store"
)

// search_text must hold every column a bare term searches, or Prewhere
// would rule out rows SQL selects.
func TestSearchTextCoversTermColumns(t *testing.T) {
	if store.SearchTextColumn != SearchTextColumn {
		t.Fatalf("store names the column %q, lql %q", store.SearchTextColumn, SearchTextColumn)
	}
	for _, c := range append(textColumns, column{name: "attr_values"}) {
		if !strings.Contains(store.SearchTextExpr, c.name+",") && !strings.Contains(store.SearchTextExpr, c.name+")") {
			t.Errorf("search_text (%s) lacks %s", store.SearchTextExpr, c.name)
		}
	}
}

func TestPrewhere(t *testing.T) {
	f := func(query, want string, wantArgs ...any) {
		t.Helper()
		q, err := Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		got, args, ok := q.Prewhere()
		if want == "" {
			if ok {
				t.Errorf("%q: prewhere %s %v, want none", query, got, args)
			}
			return
		}
		if !ok || got != want || len(args) != len(wantArgs) {
			t.Errorf("%q: prewhere %q %v (%v), want %q %v", query, got, args, ok, want, wantArgs)
			return
		}
		for i := range args {
			if args[i] != wantArgs[i] {
				t.Errorf("%q: arg %d = %v, want %v", query, i, args[i], wantArgs[i])
			}
		}
	}
	const p = "search_text LIKE ?"
	f("Timeout", p, "%timeout%")
	f(`"Connection Reset"`, p, "%connection reset%")
	f("message:/x", p, "%/x%")
	f("timeout level:error", "("+p+")", "%timeout%")
	f("timeout AND refused", "("+p+" AND "+p+")", "%timeout%", "%refused%")
	f("timeout OR refused", "("+p+" OR "+p+")", "%timeout%", "%refused%")
	f("timeout OR level:error", "")
	f("-timeout", "")
	f("NOT timeout", "")
	f("level:error", "")
	f("service:web", "")
	f("ÉCHEC", "") // case-insensitive non-ASCII: lower() does not fold it
	f("", "")
	// Wildcards: each piece between the '*'s, LIKE-escaped.
	f("Time*Out", "("+p+" AND "+p+")", "%time%", "%out%")
	f("service:Web-*", "("+p+")", "%web-%")
	f("http.path:*/API/*", "("+p+")", "%/api/%")
	f(`100%*_x*\`, "("+p+" AND "+p+" AND "+p+")", `%100\%%`, `%\_x%`, `%\\%`)
	f("message:*é*x", "("+p+")", "%x%")                   // folded non-ASCII piece: none
	f("Straße*X", "("+p+" AND "+p+")", "%straße%", "%x%") // not folded: case-sensitive
	f("x:*", "")
	f("error host:web-* -c:d*", "("+p+" AND ("+p+"))", "%error%", "%web-%")
	f("duration_ms:>5 level:>=warn has:x /re/ x:/y/", "")
	f("timeout | stats count()", p, "%timeout%")
	f(`"100%_done\\x"`, p, `%100\%\_done\\x%`)
}
