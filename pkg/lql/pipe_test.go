package lql

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParsePipeline(t *testing.T) {
	f := func(q, want string, check func(*Pipeline) bool) {
		t.Helper()
		p := mustParse(t, q)
		if got := p.String(); got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", q, got, want)
		}
		if again := mustParse(t, p.String()).String(); again != want {
			t.Errorf("Parse(%q) does not round-trip: %q", want, again)
		}
		if check != nil && !check(p.Pipeline()) {
			t.Errorf("Parse(%q): unexpected pipeline %+v", q, p.Pipeline())
		}
	}
	stats := func(aggs []string, by ...string) func(*Pipeline) bool {
		return func(pl *Pipeline) bool {
			var got []string
			for _, g := range pl.Analysis.Aggs {
				got = append(got, g.String())
			}
			return pl.Analysis.Interval == 0 && reflect.DeepEqual(got, aggs) && reflect.DeepEqual(pl.Analysis.By, by)
		}
	}
	f("level:error | stats count() by service", "level:error | stats count() by service", stats([]string{"count()"}, "service"))
	f("|stats", "| stats count()", stats([]string{"count()"}))
	f("| STATS by level,host", "| stats count() by level, host", stats([]string{"count()"}, "level", "host"))
	f("| stats Count() P95(duration_ms),avg( duration_ms ) BY env", "| stats count(), p95(duration_ms), avg(duration_ms) by env",
		stats([]string{"count()", "p95(duration_ms)", "avg(duration_ms)"}, "env"))
	f("| stats count_distinct(user_id), rate(), sum(x), min(x), max(x), p1(x), p99(x)",
		"| stats count_distinct(user_id), rate(), sum(x), min(x), max(x), p1(x), p99(x)", nil)
	f("| timechart 1m count() by level", "| timechart 1m count() by level", func(pl *Pipeline) bool {
		return pl.Analysis.Interval == time.Minute && pl.Analysis.By[0] == "level"
	})
	f("| timechart 60s", "| timechart 1m count()", nil)
	f("| timechart 90s rate()", "| timechart 90s rate()", nil)
	f("| timechart 24h count()", "| timechart 1d count()", nil)
	f(`"a|b" | stats count()`, `"a|b" | stats count()`, func(pl *Pipeline) bool { return pl.Analysis != nil })
	f(`msg:"x \" | y" -z | stats count()`, `msg:"x \" | y" -z | stats count()`, nil)
	f("| stats count(), avg(d) by s | sort avg(d) desc | limit 10 | fields s, avg(d) | sort s",
		"| stats count(), avg(d) by s | sort avg(d) desc | limit 10 | fields s, avg(d) | sort s asc", func(pl *Pipeline) bool {
			return len(pl.Stages) == 4 && pl.Stages[0].(*Sort).Desc && pl.Stages[1].(*Limit).N == 10 &&
				reflect.DeepEqual(pl.Stages[2].(*Fields).Columns, []string{"s", "avg(d)"})
		})
	f("| timechart 5m count() | sort time desc", "| timechart 5m count() | sort time desc", nil)
	f("error | fields message", "error | fields message", func(pl *Pipeline) bool { return pl.Analysis == nil })
	f("a | limit 5 | sort x", "a | limit 5 | sort x asc", nil)
}

func TestParsePipelineErrors(t *testing.T) {
	f := func(q, want string) {
		t.Helper()
		_, err := Parse(q)
		var pe *Error
		if !errors.As(err, &pe) || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %s", q, err, want)
		}
	}
	f("a |", `at 3: expected a pipe name (stats, timechart, sort, limit or fields) after "|", found the end of the query`)
	f("a | | stats", `at 4: expected a pipe name (stats, timechart, sort, limit or fields) after "|", found '|'`)
	f("a | where x", `at 4: unknown pipe "where"; use stats, timechart, sort, limit or fields`)
	f("| stats count() | stats count()", `at 18: stats must be the first pipe`)
	f("| limit 3 | timechart 1m", `at 12: timechart must be the first pipe`)
	f("| stats count", `at 13: expected "(" after "count": aggregations are written count(...)`)
	f("| stats count(x)", `at 14: count() takes no field; count_distinct(x) counts distinct values`)
	f("| stats avg()", `at 12: avg needs a field, e.g. avg(duration_ms)`)
	f("| stats avg(level)", `at 12: avg needs a numeric attribute such as duration_ms; level is a text field`)
	f("| stats p0(x)", `at 8: unknown function "p0"; use count(), count_distinct(f), sum(f), avg(f), min(f), max(f), p50(f), p90(f), p95(f), p99(f) (any p1 to p99) or rate()`)
	f("| stats p100(x)", `at 8: unknown function "p100"; use count(), count_distinct(f), sum(f), avg(f), min(f), max(f), p50(f), p90(f), p95(f), p99(f) (any p1 to p99) or rate()`)
	f("| stats p05(x)", `at 8: unknown function "p05"; use count(), count_distinct(f), sum(f), avg(f), min(f), max(f), p50(f), p90(f), p95(f), p99(f) (any p1 to p99) or rate()`)
	f("| stats avg(x", `at 13: expected ")" to close avg(, found the end of the query`)
	f("| stats avg(a b)", `at 14: expected ")" to close avg(, found 'b'`)
	f("| stats count(), count()", `at 17: count() appears twice`)
	f("| stats count() by", `at 16: expected field names after "by"`)
	f("| stats count() by a,", `at 21: expected a field name, found the end of the query`)
	f("| stats count() by a, a", `at 22: a appears twice after "by"`)
	f("| stats count() by a b", `at 21: unexpected 'b' in stats`)
	f("| stats count() by a*", `at 20: unexpected '*' in stats`)
	f("| stats (", `at 8: expected an aggregation such as count(), found '('`)
	f("| timechart", `at 11: timechart needs an interval first, e.g. "timechart 1m count()"`)
	f("| timechart count()", `at 12: timechart: invalid interval "count"; write a whole number and s, m, h or d, e.g. 30s, 1m, 1h, 1d`)
	f("| timechart 0s", `at 12: timechart: invalid interval "0s"; write a whole number and s, m, h or d, e.g. 30s, 1m, 1h, 1d`)
	f("| timechart 1.5m", `at 12: timechart: invalid interval "1.5m"; write a whole number and s, m, h or d, e.g. 30s, 1m, 1h, 1d`)
	f("| timechart 400d", `at 12: timechart: interval 400d is longer than 366d`)
	f("| timechart 1m by time", `at 18: cannot group a timechart by "time": it is the bucket column`)
	f("| stats count() | sort", `at 22: sort needs a column, e.g. "sort count() desc"`)
	f("| stats count() | sort count() up", `at 31: sort: expected asc or desc after the column, found "up"`)
	f("| stats count() | sort level", `at 18: sort: no column "level"; the columns are count()`)
	f("| stats count() by a | fields count() | sort a", `at 40: sort: no column "a"; the columns are count()`)
	f("| stats count() | fields count(), count()", `at 34: fields: count() appears twice`)
	f("| stats count() | fields", `at 24: expected a column name, found the end of the query`)
	f("| stats count() | limit 0", `at 24: limit needs a whole number from 1 to 100000`)
	f("| stats count() | limit", `at 23: limit needs a whole number from 1 to 100000`)
	f("| stats count() | limit 100001", `at 24: limit needs a whole number from 1 to 100000`)
	f("| stats count() | limit 5 5", `at 26: unexpected '5' in limit`)
	f("| stats count() é", `at 16: expected an aggregation such as count(), found 'é'`)
	f("| stats count() by a,b,c,d,e,f,g,h,i", `at 35: more than 8 group-by fields`)
	f("| stats "+aggList(MaxAggs+1), `at 136: more than 16 aggregations`)
	f(strings.Repeat("| limit 1 ", MaxStages+1), `at 160: query has more than 16 pipes`)
	f("(a | stats count()", `at 0: unclosed "("`)
	f(`"a | stats count()`, `at 0: unterminated quoted phrase`)
}

func aggList(n int) string {
	var s []string
	for i := range n {
		s = append(s, "p"+string(rune('1'+i%9))+string(rune('0'+i/9))+"(x)")
	}
	return strings.Join(s, ", ")
}

// aggAlphabet is what the aggregation and group-by SQL may contain: no
// query text, ever.
var aggAlphabet = regexp.MustCompile(`^[A-Za-z0-9_ (),?=!.'>\[\]]*$`)

func TestAggSQL(t *testing.T) {
	f := func(agg, sql string, args ...any) {
		t.Helper()
		g, err := ParseAgg(agg)
		if err != nil {
			t.Fatalf("ParseAgg(%q): %v", agg, err)
		}
		e := g.SQL()
		if e.SQL != sql || !reflect.DeepEqual(e.Args, args) {
			t.Errorf("%s: SQL %s %q, want %s %q", agg, e.SQL, e.Args, sql, args)
		}
	}
	f("count()", "toFloat64(count())")
	f("rate()", "toFloat64(count())")
	f("count_distinct(host)", "toFloat64(uniqExactIf(host, host != ''))")
	f("count_distinct(env)", "toFloat64(uniqExactIf(environment, environment != ''))")
	f("count_distinct(user_id)", "toFloat64(uniqExactIf(attr_values[indexOf(attr_keys, ?)], has(attr_keys, ?)))", "user_id", "user_id")
	f("sum(d)", "toFloat64(sumIf(num_values[indexOf(num_keys, ?)], indexOf(num_keys, ?) > 0))", "d", "d")
	f("avg(d)", "toFloat64(avgIf(num_values[indexOf(num_keys, ?)], indexOf(num_keys, ?) > 0))", "d", "d")
	f("p95(d)", "toFloat64(quantileExactIf(0.95)(num_values[indexOf(num_keys, ?)], indexOf(num_keys, ?) > 0))", "d", "d")
	f("p5(d)", "toFloat64(quantileExactIf(0.05)(num_values[indexOf(num_keys, ?)], indexOf(num_keys, ?) > 0))", "d", "d")
	if e := GroupSQL("exception.type"); e.SQL != "exc_type" || e.Args != nil {
		t.Errorf("GroupSQL(exception.type) = %+v", e)
	}
	if e := GroupSQL("user_id"); e.SQL != "attr_values[indexOf(attr_keys, ?)]" || !reflect.DeepEqual(e.Args, []any{"user_id"}) {
		t.Errorf("GroupSQL(user_id) = %+v", e)
	}
	for _, g := range []string{"avg(x)", "min(x)", "max(x)", "p50(x)"} {
		a, _ := ParseAgg(g)
		if a.ZeroWhenEmpty() {
			t.Errorf("%s: ZeroWhenEmpty", g)
		}
		if e, ok := a.PresenceSQL(); !ok || e.SQL != "toFloat64(countIf(indexOf(num_keys, ?) > 0))" {
			t.Errorf("%s: PresenceSQL %v %v", g, e, ok)
		}
	}
	for _, g := range []string{"count()", "rate()", "sum(x)", "count_distinct(x)"} {
		a, _ := ParseAgg(g)
		if _, ok := a.PresenceSQL(); !a.ZeroWhenEmpty() || ok {
			t.Errorf("%s: not zero when empty", g)
		}
	}
}

func TestNewAnalysis(t *testing.T) {
	a, err := NewAnalysis("5m", []string{"count()", " p95(duration_ms) "}, []string{"service", "user_id"})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.String(); got != "timechart 5m count(), p95(duration_ms) by service, user_id" {
		t.Errorf("String() = %q", got)
	}
	want := []Column{{"time", "time"}, {"service", "string"}, {"user_id", "string"}, {"count()", "number"}, {"p95(duration_ms)", "number"}}
	if !reflect.DeepEqual(a.Columns(), want) {
		t.Errorf("Columns() = %v", a.Columns())
	}
	if a, _ := NewAnalysis("", nil, nil); a.String() != "stats count()" {
		t.Errorf("default: %s", a.String())
	}
	for _, c := range []struct {
		interval  string
		aggs, by  []string
		wantError string
	}{
		{"1x", nil, nil, `interval: invalid interval "1x"; write a whole number and s, m, h or d, e.g. 30s, 1m, 1h, 1d`},
		{"", []string{"count() x"}, nil, `aggregations[0]: at 8: unexpected 'x' after count()`},
		{"", []string{"sum(x)", "SUM(x)"}, nil, `aggregations[1]: sum(x) appears twice`},
		{"", nil, []string{"a", ""}, `group_by[1]: empty field name`},
		{"", nil, []string{"a", "a"}, `group_by[1]: a appears twice`},
		{"1m", nil, []string{"time"}, `group_by[0]: cannot group a timechart by "time": it is the bucket column`},
		{"", []string{"count()\x00"}, nil, `aggregations[0]: at 7: control character U+0000 is not allowed`},
	} {
		_, err := NewAnalysis(c.interval, c.aggs, c.by)
		if err == nil || err.Error() != c.wantError {
			t.Errorf("NewAnalysis(%q, %q, %q) = %v, want %s", c.interval, c.aggs, c.by, err, c.wantError)
		}
	}
}

func TestInterval(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1s": time.Second, "30s": 30 * time.Second, "1m": time.Minute, "90m": 90 * time.Minute, "1h": time.Hour,
		"7d": 7 * 24 * time.Hour, "366d": MaxInterval,
	} {
		d, err := ParseInterval(in)
		if err != nil || d != want {
			t.Errorf("ParseInterval(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{"", "m", "0m", "01m", "-1m", "+1m", "1", "1ms", "1M", "1y", "1h30m", "9999999999s", "367d"} {
		if d, err := ParseInterval(in); err == nil {
			t.Errorf("ParseInterval(%q) = %v, want an error", in, d)
		}
	}
	for d, want := range map[time.Duration]string{
		time.Second: "1s", 90 * time.Second: "90s", 5 * time.Minute: "5m", 2 * time.Hour: "2h", 48 * time.Hour: "2d", 25 * time.Hour: "25h",
	} {
		if got := FormatInterval(d); got != want {
			t.Errorf("FormatInterval(%v) = %q, want %q", d, got, want)
		}
	}
}

// BenchmarkParsePipeline measures parsing a piped query and compiling its
// filter and aggregation expressions, as the query service does per request.
func BenchmarkParsePipeline(b *testing.B) {
	const q = `level:error service:web -host:web-2 | timechart 1m count(), p95(duration_ms), count_distinct(user_id) by service, region | sort count() desc | limit 20`
	b.ReportAllocs()
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		p, err := Parse(q)
		if err != nil {
			b.Fatal(err)
		}
		p.SQL()
		a := p.Pipeline().Analysis
		for _, g := range a.Aggs {
			g.SQL()
			g.PresenceSQL()
		}
		for _, f := range a.By {
			GroupSQL(f)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/query")
}
