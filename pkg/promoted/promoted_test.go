package promoted

import (
	"strings"
	"testing"
)

// TestColumns: every promoted attribute has a column of its own, found by
// its key and kind only, with a key safe to quote as a literal.
func TestColumns(t *testing.T) {
	seen := map[string]string{}
	for _, a := range Attrs {
		if strings.ContainsAny(a.Key, `'\`) || a.Key == "" {
			t.Errorf("key %q: empty, or holds a quote or backslash", a.Key)
		}
		if other, dup := seen[a.Column()]; dup {
			t.Errorf("keys %q and %q share column %s", other, a.Key, a.Column())
		}
		seen[a.Column()] = a.Key
		s, isString := String(a.Key)
		n, isNumber := Number(a.Key)
		if a.Number && (!isNumber || n != a || isString) || !a.Number && (!isString || s != a || isNumber) {
			t.Errorf("%+v: String = %+v, %v; Number = %+v, %v", a, s, isString, n, isNumber)
		}
	}
	if _, ok := String("user_id"); ok {
		t.Error("user_id is not promoted, but String says it is")
	}
	if _, ok := Number("path"); ok {
		t.Error("path is promoted as a string only, but Number says it is a number")
	}
	for _, c := range []struct {
		a    Attr
		kind string
		want string
	}{
		{Attr{Key: "http.path"}, "MATERIALIZED", "promoted_str_http_path String MATERIALIZED attr_values[indexOf(attr_keys, 'http.path')]"},
		{Attr{Key: "duration_ms", Number: true}, "ALIAS",
			"promoted_num_duration_ms Nullable(Float64) ALIAS if(indexOf(num_keys, 'duration_ms') > 0, num_values[indexOf(num_keys, 'duration_ms')], NULL)"},
	} {
		if got := c.a.ColumnDef(c.kind); got != c.want {
			t.Errorf("ColumnDef(%q) of %+v =\n%s\nwant\n%s", c.kind, c.a, got, c.want)
		}
	}
}
