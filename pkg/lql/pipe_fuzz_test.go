package lql

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParsePipeline checks that Parse never panics on piped queries, that
// it reports errors as positioned *Error values, that a parsed pipeline
// renders canonically and round-trips, that the aggregation and group-by
// SQL keeps to its alphabet with one argument per placeholder, and that
// every table pipe names a column of the table.
func FuzzParsePipeline(f *testing.F) {
	for _, q := range []string{
		"level:error | stats count() by service",
		"| timechart 1m count() by level",
		"service:web | stats count(), p95(duration_ms), rate() by host | sort count() desc | limit 5",
		"| stats avg(duration_ms), max(duration_ms) by service | fields service, max(duration_ms)",
		`"GET /api | POST" | stats count_distinct(user_id) by http.method`,
		`exception.type:OperationalError | timechart 5m count(), p99(duration_ms) by logger`,
		"| timechart 1h sum(bytes), min(bytes) by env | sort time desc",
		"-level:debug | stats p50(latency_ms) p90(latency_ms) p99(latency_ms) BY request_id",
		"error | fields message", "a | limit 5 | sort x", "| stats", "|", "| stats count(", "| timechart 0s",
		"| stats count() by a,", "| sort", `"a | b`, "a | stats count() | stats count()", "|stats by time|sort time",
		"| timechart 366d count() by time", "| stats p0(x) p100(x)", "| limit 100001", "| fields count(), count()",
		`/a|b/ | stats count()`, `message:/x|y/|timechart 1m count() by level`, `/a|b|c/`, `/a|/ | sort x`,
		"duration_ms:>1e3 | stats p95(duration_ms) by http.path", "path:/api/* | stats count() by path",
		"level:>=warn|stats count() by level", "has:user_id | stats count_distinct(user_id)",
	} {
		f.Add(q)
	}
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
		pl := p.Pipeline()
		if pl == nil {
			return
		}
		if pl.Analysis != nil {
			a := pl.Analysis
			if len(a.Aggs) == 0 || len(a.Aggs) > MaxAggs || len(a.By) > MaxGroupBy {
				t.Fatalf("Parse(%q): %d aggregations, %d group-by fields", q, len(a.Aggs), len(a.By))
			}
			var exprs []Expr
			for _, g := range a.Aggs {
				exprs = append(exprs, g.SQL())
				if e, ok := g.PresenceSQL(); ok {
					exprs = append(exprs, e)
				}
			}
			for _, f := range a.By {
				exprs = append(exprs, GroupSQL(f))
			}
			for _, e := range exprs {
				if n := strings.Count(e.SQL, "?"); n != len(e.Args) {
					t.Fatalf("Parse(%q): %s has %d placeholders, %d args", q, e.SQL, n, len(e.Args))
				}
				if !aggAlphabet.MatchString(e.SQL) || strings.Contains(e.SQL, "''") && !strings.HasSuffix(e.SQL, "!= ''))") {
					t.Fatalf("Parse(%q): SQL %s outside the alphabet", q, e.SQL)
				}
			}
			if err := a.CheckStages(pl.Stages); err != nil {
				t.Fatalf("Parse(%q) accepted stages CheckStages rejects: %v", q, err)
			}
		}
		s := p.String()
		if len(s) > MaxQueryBytes {
			return // quoting can lengthen a query past the limit
		}
		p2, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", q, s, err)
		}
		if s2 := p2.String(); s2 != s {
			t.Fatalf("String is not canonical: %q then %q", s, s2)
		}
	})
}
