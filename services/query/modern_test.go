package query

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/store"
)

var modernSQL = flag.String("query.modern-sql", "", "write the aggregation statements, arguments inlined, to this file for ch-modern-check")

// TestModernSQL renders every statement shape Aggregate runs — stats with
// and without groups, the ranking, "other", timecharts with and without
// groups and other — with their arguments inlined as clickhouse-go binds
// them, after the logs table's DDL and a few rows. With
// -query.modern-sql=FILE it writes them for /work/shared/tools/ch-modern-check
// FILE, which runs them on ClickHouse 26. (TestAggregate runs the same
// shapes on 18.16.) Each statement is summarised (rows, sum of the first
// aggregation) on 18.16 here and checked to give the same on 26.
func TestModernSQL(t *testing.T) {
	var rows []store.Row
	for i := range 20 {
		rows = append(rows, store.Row{Tenant: "acme", RetentionDays: 7, Seq: 1, Idx: uint32(i), Event: event.Event{
			Time: t0.Add(time.Duration(i) * 29 * time.Second).UnixNano(), Level: []string{"info", "error"}[i%2],
			Service: services[i%3], Host: fmt.Sprintf("h%d", i%4), Message: []string{"it's ok", `back\slash`, "plain"}[i%3],
			Attrs:    []event.Attr{{Key: "user_id", Value: fmt.Sprintf("u%d", i%5)}, {Key: "path", Value: fmt.Sprintf("/p%d", i%3)}},
			NumAttrs: []event.NumAttr{{Key: "duration_ms", Value: float64(i*10) + 0.5}},
		}})
	}
	f := newFixture(t, rows)
	var b strings.Builder
	for _, m := range store.Migrations {
		b.WriteString(m.SQL + ";\n")
	}
	b.WriteString("INSERT INTO logs (tenant_id, ts, ts_ns, retention_days, level, message, service, host, attr_keys, attr_values, num_keys, num_values) VALUES\n")
	for i, r := range rows {
		sep := ","
		if i == len(rows)-1 {
			sep = ";"
		}
		fmt.Fprintf(&b, "('acme', '%s', %d, 7, '%s', %s, '%s', '%s', ['user_id', 'path'], ['%s', '%s'], ['duration_ms'], [%v])%s\n",
			time.Unix(0, r.Time).UTC().Format("2006-01-02 15:04:05"), r.Time, r.Level, inline(t, "?", []any{r.Message}), r.Service, r.Host,
			r.Attrs[0].Value, r.Attrs[1].Value, r.NumAttrs[0].Value, sep)
	}
	n := 0
	for _, text := range []string{
		"| stats count(), count_distinct(user_id), count_distinct(host), sum(duration_ms), avg(duration_ms), min(duration_ms), max(duration_ms), p50(duration_ms), p99(duration_ms), rate()",
		"level:error | stats count(), p95(duration_ms) by service, user_id",
		`"it's" -"back\\slash" | stats avg(duration_ms) by level`,
		"-level:debug | stats p95(duration_ms) by level",
		"| stats count(), p95(duration_ms), avg(duration) by path",
		"| timechart 1m count(), p90(duration_ms), rate()",
		"| timechart 5m count(), avg(duration_ms) by service, user_id",
		"| timechart 2m p50(duration_ms), count_distinct(host) by host",
	} {
		q, err := lql.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		a := q.Pipeline().Analysis
		sc := scope{tenant: "acme", from: t0, to: t0.Add(10 * time.Minute), q: q}
		top := [][]string{make([]string, len(a.By)), make([]string, len(a.By))}
		for i := range a.By {
			top[0][i], top[1][i] = "web", "it's \\ 'quoted'"
		}
		if len(a.By) > 0 {
			top[0][len(a.By)-1] = "u1"
		}
		var stmts []*stmt
		switch {
		case a.Interval > 0 && len(a.By) > 0:
			stmts = append(stmts, rankedGroupsSQL(sc, a, 11, false), timechartSQL(sc, a, top, true), timechartSQL(sc, a, top, false))
		case a.Interval > 0:
			stmts = append(stmts, timechartSQL(sc, a, nil, false))
		case len(a.By) > 0:
			stmts = append(stmts, rankedGroupsSQL(sc, a, 101, true), otherSQL(sc, a, top))
		default:
			st := &stmt{}
			st.add("SELECT ")
			st.aggs(a.Aggs)
			st.from(sc)
			stmts = append(stmts, st)
		}
		for _, st := range stmts {
			// The same summary of the statement's result on 18.16 (here)
			// and on ClickHouse 26 (throwIf there when it differs).
			check := "SELECT count() AS n, sum(if(isNaN(_a0), 0, _a0)) AS s FROM (" + inline(t, st.b.String(), st.args) + ")"
			rs, err := f.st.Query(context.Background(), check)
			if err != nil {
				t.Fatalf("%s: %v", check, err)
			}
			var rowsN uint64
			var sum float64
			for rs.Next() {
				if err := rs.Scan(&rowsN, &sum); err != nil {
					t.Fatal(err)
				}
			}
			rs.Close()
			if rowsN == 0 {
				t.Fatalf("%s: no rows on 18.16; the check would prove little", check)
			}
			n++
			fmt.Fprintf(&b, "SELECT throwIf(n != %d OR abs(s - %v) > 1e-9 * greatest(1, abs(s)), 'statement %d differs from 18.16') FROM (%s);\n",
				rowsN, sum, n, check)
		}
	}
	if *modernSQL != "" {
		if err := os.WriteFile(*modernSQL, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// inline substitutes args for the ? placeholders of sql, as clickhouse-go's
// client-side binding does. The statements have no other '?'.
func inline(tb testing.TB, sql string, args []any) string {
	tb.Helper()
	parts := strings.Split(sql, "?")
	if len(parts) != len(args)+1 {
		tb.Fatalf("%s: %d placeholders, %d args", sql, len(parts)-1, len(args))
	}
	var b strings.Builder
	for i, a := range args {
		b.WriteString(parts[i])
		switch a := a.(type) {
		case string:
			b.WriteString("'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(a) + "'")
		case int64:
			fmt.Fprint(&b, a)
		default:
			tb.Fatalf("no literal for %T", a)
		}
	}
	b.WriteString(parts[len(parts)-1])
	return b.String()
}
