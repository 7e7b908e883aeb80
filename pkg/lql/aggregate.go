package lql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sawmillhq/sawmill/pkg/promoted"
)

// Agg is one aggregation of a stats or timechart pipe, e.g. count(),
// count_distinct(user_id) or p95(duration_ms).
type Agg struct {
	Offset int // where the aggregation starts in the query
	// Func is the function's canonical lower-case name: count, rate,
	// count_distinct, sum, avg, min, max, or p1 ... p99.
	Func string
	// Field is the argument; "" for count() and rate().
	Field string
}

// String renders the aggregation canonically, "func(field)": the name of
// its result column.
func (g Agg) String() string { return g.Func + "(" + g.Field + ")" }

// aggKind is what an aggregation function takes and how it compiles.
type aggKind int

const (
	aggNoField  aggKind = iota // count(), rate()
	aggDistinct                // count_distinct(f): any field
	aggNumeric                 // sum, avg, min, max, pNN of a numeric attribute
)

// numericFuncs are the ClickHouse -If aggregates of the numeric functions
// other than percentiles.
var numericFuncs = map[string]string{"sum": "sumIf", "avg": "avgIf", "min": "minIf", "max": "maxIf"}

// lookupAgg returns the kind of function name (case-insensitive).
func lookupAgg(name string) (aggKind, bool) {
	name = strings.ToLower(name)
	switch name {
	case "count", "rate":
		return aggNoField, true
	case "count_distinct":
		return aggDistinct, true
	}
	if _, ok := numericFuncs[name]; ok {
		return aggNumeric, true
	}
	_, ok := percentile(name)
	return aggNumeric, ok
}

// percentile returns N for "pN", 1 <= N <= 99.
func percentile(name string) (int, bool) {
	if len(name) < 2 || len(name) > 3 || name[0] != 'p' || name[1] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(name[1:])
	return n, err == nil && n >= 1 && n <= 99
}

func unknownAgg(name string) string {
	return fmt.Sprintf("unknown function %q; use count(), count_distinct(f), sum(f), avg(f), min(f), max(f), "+
		"p50(f), p90(f), p95(f), p99(f) (any p1 to p99) or rate()", name)
}

// NewAgg checks and returns the aggregation fn(field); fn is matched
// case-insensitively. Numeric functions need a numeric attribute (not one of
// the event's text fields such as level); count() and rate() take none.
func NewAgg(fn, field string) (Agg, error) {
	kind, ok := lookupAgg(fn)
	if !ok {
		return Agg{}, errors.New(unknownAgg(fn))
	}
	fn = strings.ToLower(fn)
	if err := checkName(field); field != "" && err != nil {
		return Agg{}, err
	}
	switch {
	case kind == aggNoField && field != "":
		return Agg{}, fmt.Errorf("%s() takes no field; count_distinct(%s) counts distinct values", fn, field)
	case kind != aggNoField && field == "":
		return Agg{}, fmt.Errorf("%s needs a field, e.g. %s(duration_ms)", fn, fn)
	case kind == aggNumeric && isTextField(field):
		return Agg{}, fmt.Errorf("%s needs a numeric attribute such as duration_ms; %s is a text field", fn, field)
	}
	return Agg{Func: fn, Field: field}, nil
}

// ParseAgg parses one aggregation written on its own, "p95(duration_ms)"
// (AggregateRequest.aggregations). The error is an *Error positioned in s.
func ParseAgg(s string) (Agg, error) {
	if err := checkChars(s); err != nil {
		return Agg{}, err
	}
	p := &pipeParser{src: s}
	p.skipSpace()
	g, err := p.agg()
	if err != nil {
		return Agg{}, err
	}
	if !p.eof() {
		return Agg{}, errorf(p.pos, "unexpected %s after %s", p.describe(), g.String())
	}
	return g, nil
}

// NewAnalysis builds the analysis that AggregateRequest's fields describe:
// a timechart when interval is set (see ParseInterval), stats otherwise;
// aggs as ParseAgg reads them (none: count()); by as group-by fields.
// Errors name the offending field and element.
func NewAnalysis(interval string, aggs, by []string) (*Analysis, error) {
	a := &Analysis{}
	if interval != "" {
		d, err := ParseInterval(interval)
		if err != nil {
			return nil, fmt.Errorf("interval: %w", err)
		}
		a.Interval = d
	}
	if len(aggs) > MaxAggs {
		return nil, fmt.Errorf("aggregations: more than %d", MaxAggs)
	}
	seen := map[string]bool{}
	for i, s := range aggs {
		g, err := ParseAgg(s)
		if err != nil {
			return nil, fmt.Errorf("aggregations[%d]: %w", i, err)
		}
		if seen[g.String()] {
			return nil, fmt.Errorf("aggregations[%d]: %s appears twice", i, g.String())
		}
		seen[g.String()] = true
		a.Aggs = append(a.Aggs, g)
	}
	if len(a.Aggs) == 0 {
		a.Aggs = []Agg{{Func: "count"}}
	}
	if len(by) > MaxGroupBy {
		return nil, fmt.Errorf("group_by: more than %d fields", MaxGroupBy)
	}
	seen = map[string]bool{}
	for i, f := range by {
		if err := checkGroupField(f, a.Interval > 0); err != nil {
			return nil, fmt.Errorf("group_by[%d]: %w", i, err)
		}
		if seen[f] {
			return nil, fmt.Errorf("group_by[%d]: %s appears twice", i, f)
		}
		seen[f] = true
		a.By = append(a.By, f)
	}
	return a, nil
}

// checkName checks a field name's characters.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty field name")
	}
	for i := 0; i < len(name); i++ {
		if !validNameByte(name[i]) {
			return fmt.Errorf("invalid character in field name %q", name)
		}
	}
	return nil
}

// checkGroupField checks a group-by field name. In a timechart "time" is
// the bucket column.
func checkGroupField(name string, timechart bool) error {
	if err := checkName(name); err != nil {
		return err
	}
	if timechart && name == "time" {
		return errors.New(`cannot group a timechart by "time": it is the bucket column`)
	}
	return nil
}

// isTextField reports whether name is one of the event's own text fields
// (level, service, ...) rather than an attribute.
func isTextField(name string) bool {
	_, ok := groupColumns[name]
	return ok
}

// groupColumns maps the field names with a column of their own to it; every
// other name is a string attribute.
var groupColumns = map[string]string{
	"level": "level", "message": "message", "service": "service", "environment": "environment",
	"env": "environment", "host": "host", "logger": "logger", "trace_id": "trace_id",
	"span_id": "span_id", "request_id": "request_id", "exception.type": "exc_type",
	"exception.message": "exc_message",
}

// Expr is a fragment of ClickHouse SQL over the logs table and the values
// of its `?` placeholders, in order. No query text is ever part of SQL.
type Expr struct {
	SQL  string
	Args []any
}

// GroupSQL returns the String expression a group-by field compiles to: its
// column, or the string attribute with that key ("" when the event has none).
func GroupSQL(field string) Expr {
	if col, ok := groupColumns[field]; ok {
		return Expr{SQL: col}
	}
	if a, ok := promoted.String(field); ok {
		return Expr{SQL: a.Column()}
	}
	return Expr{SQL: promoted.StringValue, Args: []any{field}}
}

// SQL returns the aggregate expression, a Float64, for use in a SELECT
// grouped by the caller. rate() compiles to the count: the caller divides by
// the seconds it covers. Percentiles are exact (quantileExact: the value at
// 0-based position floor(p/100 * n) of the n sorted values).
func (g Agg) SQL() Expr {
	f := g.Field
	switch kind, _ := lookupAgg(g.Func); {
	case kind == aggNoField:
		return Expr{SQL: "toFloat64(count())"}
	case kind == aggDistinct:
		if col, ok := groupColumns[f]; ok {
			return Expr{SQL: "toFloat64(uniqExactIf(" + col + ", " + col + " != ''))"}
		}
		return Expr{SQL: "toFloat64(uniqExactIf(" + promoted.StringValue + ", has(attr_keys, ?)))", Args: []any{f, f}}
	}
	value, has := numericSQL(f)
	if fn, ok := numericFuncs[g.Func]; ok {
		return Expr{SQL: "toFloat64(" + fn + "(" + value.SQL + ", " + has.SQL + "))", Args: append(value.Args, has.Args...)}
	}
	n, _ := percentile(g.Func)
	// The level is a number formatted here from 1..99, never query text.
	level := strconv.FormatFloat(float64(n)/100, 'f', -1, 64)
	return Expr{SQL: "toFloat64(quantileExactIf(" + level + ")(" + value.SQL + ", " + has.SQL + "))", Args: append(value.Args, has.Args...)}
}

// numericSQL returns the value of the numeric attribute key in a row and
// the test that the row has it: its promoted column where there is one.
func numericSQL(key string) (value, has Expr) {
	if a, ok := promoted.Number(key); ok {
		return Expr{SQL: "assumeNotNull(" + a.Column() + ")"}, Expr{SQL: "isNotNull(" + a.Column() + ")"}
	}
	return Expr{SQL: promoted.NumberValue, Args: []any{key}}, Expr{SQL: promoted.NumberHas, Args: []any{key}}
}

// PresenceSQL returns, for aggregations that have no value over zero
// values (avg, min, max, percentiles), a Float64 count of the rows that
// have the field; the caller reports null when it is 0. ok is false for the
// others, whose value over no rows is 0.
func (g Agg) PresenceSQL() (e Expr, ok bool) {
	if g.ZeroWhenEmpty() {
		return Expr{}, false
	}
	_, has := numericSQL(g.Field)
	return Expr{SQL: "toFloat64(countIf(" + has.SQL + "))", Args: has.Args}, true
}

// ZeroWhenEmpty reports whether the aggregation is 0 over no events (count,
// count_distinct, sum, rate); the others have no value then.
func (g Agg) ZeroWhenEmpty() bool {
	switch g.Func {
	case "count", "rate", "count_distinct", "sum":
		return true
	}
	return false
}

// IsRate reports whether the aggregation is rate(): the count divided by
// the seconds of its bucket or range.
func (g Agg) IsRate() bool { return g.Func == "rate" }
