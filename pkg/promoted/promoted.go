// Package promoted names the attributes that the logs table also holds in
// columns of their own, and the SQL that reads an attribute from the
// attribute arrays.
//
// ClickHouse computes a promoted column on insert (MATERIALIZED) from the
// arrays, with the very expression pkg/lql writes for an attribute that is
// not promoted. Group-bys and numeric aggregations then read one small
// column instead of the arrays, which hold every key and value of a row:
// `| stats p95(duration_ms) by http.path` over 10M rows takes 0.43 s
// instead of 1.07 s on ClickHouse 18.16 here (bench/querybench, p50).
// Searches keep testing the arrays, where a key may repeat.
package promoted

import "strings"

// The SQL of an attribute in the arrays of a row, `?` its key: the first
// value counts when a key repeats.
const (
	// StringValue is the string attribute, "" when the row has none.
	StringValue = "attr_values[indexOf(attr_keys, ?)]"
	// NumberValue is the numeric attribute, 0 when the row has none;
	// NumberHas tests that the row has it, with the same indexOf, which
	// ClickHouse then computes once.
	NumberValue = "num_values[indexOf(num_keys, ?)]"
	NumberHas   = "indexOf(num_keys, ?) > 0"
)

// Attr is a promoted attribute.
type Attr struct {
	Key string
	// Number: a numeric attribute, held as Nullable(Float64), NULL when
	// the event has none; otherwise a string attribute, "" when it has
	// none.
	Number bool
}

// Attrs are the promoted attributes: the request path as the Django SDK,
// many JSON loggers and OpenTelemetry's HTTP conventions (the route) log
// it, and the duration, the two a latency chart needs. Append only, each
// addition with a pkg/store migration that adds its column
// (TestPromotedColumns there). Keep the list short: every column costs
// every row on insert, rows without the key too. Storing 14 (methods and
// status codes besides) cost ClickHouse 18% more CPU per event at 150k
// events/s (bench/loadgen: 5.4 against 4.6 CPU-s per million), a cost per
// column, whether or not rows have the key.
var Attrs = []Attr{
	{Key: "path"}, {Key: "http.path"}, {Key: "http.route"},
	{Key: "duration_ms", Number: true},
}

// byKey indexes Attrs: [0] strings, [1] numbers.
var byKey = func() [2]map[string]Attr {
	m := [2]map[string]Attr{{}, {}}
	for _, a := range Attrs {
		m[a.kind()][a.Key] = a
	}
	return m
}()

func (a Attr) kind() int {
	if a.Number {
		return 1
	}
	return 0
}

// String returns the promoted string attribute key, if it is one.
func String(key string) (Attr, bool) {
	a, ok := byKey[0][key]
	return a, ok
}

// Number returns the promoted numeric attribute key, if it is one.
func Number(key string) (Attr, bool) {
	a, ok := byKey[1][key]
	return a, ok
}

// Column is the name of a's column: "promoted_str_" or "promoted_num_" and
// the key with every byte but ASCII letters, digits and '_' replaced by '_'
// (Attrs map to distinct names: TestColumns).
func (a Attr) Column() string {
	prefix := "promoted_str_"
	if a.Number {
		prefix = "promoted_num_"
	}
	return prefix + strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, a.Key)
}

// ColumnDef is a's column in a CREATE or ALTER TABLE of logs: name, type
// and the kind of default ("MATERIALIZED", or "ALIAS" for a table that
// only reads it) with Expr.
func (a Attr) ColumnDef(kind string) string {
	typ := "String"
	if a.Number {
		typ = "Nullable(Float64)"
	}
	return a.Column() + " " + typ + " " + kind + " " + a.Expr()
}

// Expr is the expression a's column holds, over the arrays. The key is a
// quoted literal here: Attrs hold no quote or backslash (TestColumns).
func (a Attr) Expr() string {
	k := "'" + a.Key + "'"
	if a.Number {
		return "if(" + strings.ReplaceAll(NumberHas, "?", k) + ", " + strings.ReplaceAll(NumberValue, "?", k) + ", NULL)"
	}
	return strings.ReplaceAll(StringValue, "?", k)
}
