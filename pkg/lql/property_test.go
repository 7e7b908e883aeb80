package lql

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// propertyWords are the values random events and queries are built from:
// case variants, non-Latin scripts, case-folding edges, SQL and LIKE
// metacharacters, quotes and backslashes, and words that are also field
// names or keywords.
var propertyWords = []string{
	"error", "Error", "ERROR", "timeout", "connection refused", "GET /api/v1/orders/42", "POST",
	"Müller", "müller", "MÜLLER", "straße", "STRASSE", "İstanbul", "ǅemal", "µs", "Σφάλμα", "σφάλμα", "ΣΤΗ",
	"田中", "ログイン", "失敗", "🚫", "👍🏽", "Ünïcödé",
	"100%", "under_score", "'; DROP TABLE logs; --", `C:\Users\admin`, `say "hi"`, "a?b", "$1", "`x`",
	"level", "message", "tenant_id", "acme", "globex", "AND", "or", "req-7f3a9c", "4bf92f3577b34da6",
	"celery.worker", "django.request", "web-1", "worker-2", "x",
}

var propertyLevels = []string{"debug", "info", "warn", "error", "critical"}

// propertyAttrKeys include keys named like columns and fields.
var propertyAttrKeys = []string{"user_id", "status_code", "http.path", "customer", "note", "levelname", "message_id", "tenant_id", "level", "env"}

// propertyFields are the field names queries use: every known field and
// some attribute keys, one that no event has.
var propertyFields = append([]string{
	"level", "message", "service", "env", "environment", "host", "logger", "trace_id", "span_id",
	"request_id", "exception.type", "exception.message", "missing_key",
}, propertyAttrKeys...)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// randomText joins one to three words.
func randomText(rng *rand.Rand) string {
	parts := make([]string, 1+rng.IntN(3))
	for i := range parts {
		parts[i] = pick(rng, propertyWords)
	}
	return strings.Join(parts, " ")
}

// maybe returns f() half the time, "" otherwise.
func maybe(rng *rand.Rand, f func() string) string {
	if rng.IntN(2) == 0 {
		return f()
	}
	return ""
}

func randomEvent(rng *rand.Rand) event.Event {
	text := func() string { return randomText(rng) }
	word := func() string { return pick(rng, propertyWords) }
	lvl := pick(rng, propertyLevels)
	sev, _ := event.ParseLevel(lvl)
	switch rng.IntN(5) {
	case 0:
		lvl, sev = "", 0 // no severity
	case 1:
		sev += int32(rng.IntN(4)) // anywhere in the level's range
	}
	e := event.Event{
		Level: lvl, SeverityNumber: sev, Message: text(),
		Service: pick(rng, []string{"web", "worker", "Web", "api", ""}), Environment: maybe(rng, word),
		Host: maybe(rng, word), Logger: maybe(rng, word), TraceID: maybe(rng, word), SpanID: maybe(rng, word),
		RequestID: maybe(rng, word),
	}
	for range rng.IntN(4) {
		e.Attrs = append(e.Attrs, event.Attr{Key: pick(rng, propertyAttrKeys), Value: maybe(rng, text)})
	}
	for range rng.IntN(4) {
		e.NumAttrs = append(e.NumAttrs, event.NumAttr{Key: pick(rng, propertyNumKeys), Value: pick(rng, propertyNumbers)})
	}
	if rng.IntN(3) == 0 {
		e.Exception = event.Exception{Type: word(), Message: text(), Stack: text() + "\n  " + text()}
	}
	return e
}

// needleOf returns a query text that often hits: a word, a piece of one
// (cut on rune boundaries), or either with its case changed.
func needleOf(rng *rand.Rand) string {
	rs := []rune(pick(rng, propertyWords))
	if rng.IntN(2) == 0 && len(rs) > 1 {
		i := rng.IntN(len(rs))
		j := i + 1 + rng.IntN(len(rs)-i)
		rs = rs[i:j]
	}
	s := string(rs)
	switch rng.IntN(4) {
	case 0:
		s = strings.ToUpper(s)
	case 1:
		s = strings.ToLower(s)
	case 2:
		s = strings.Map(func(r rune) rune {
			if rng.IntN(2) == 0 {
				return unicode.ToUpper(r)
			}
			return r
		}, s)
	}
	if strings.TrimSpace(s) == "" {
		return "x"
	}
	return s
}

// propertyNumKeys are numeric attribute keys, some also string keys.
var propertyNumKeys = []string{"duration_ms", "status_code", "bytes", "ratio", "user_id"}

// propertyNumbers are numeric attribute values: float boundaries, signed
// zeros, integers past 2^53, subnormals (which queries cannot write).
var propertyNumbers = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 500, 404, 1234.5, 1500, 1e21, 0.1, 0.30000000000000004,
	1 << 53, 1<<53 + 2, math.MaxFloat64, -math.MaxFloat64, 0x1p-1022, 5e-324, 1e-300, 123456.789,
}

// randomNumber returns a comparison operand that Parse accepts, near an
// event value more often than not, written in one of the number forms.
func randomNumber(rng *rand.Rand) string {
	f := pick(rng, propertyNumbers)
	switch rng.IntN(4) {
	case 0:
		f = math.Nextafter(f, math.Inf(1))
	case 1:
		f = math.Nextafter(f, math.Inf(-1))
	}
	if math.IsInf(f, 0) || f != 0 && math.Abs(f) < 0x1p-1022 {
		f = 0
	}
	switch rng.IntN(4) {
	case 0:
		return strconv.FormatFloat(f, 'e', -1, 64)
	case 1:
		if math.Abs(f) < 1e30 {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	case 2:
		if !math.Signbit(f) {
			return "+" + strconv.FormatFloat(f, 'g', -1, 64)
		}
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// randomWildcard cuts a word of the events' values at random and joins the
// pieces with '*'.
func randomWildcard(rng *rand.Rand) string {
	rs := []rune(strings.Fields(needleOf(rng) + " x")[0])
	var b strings.Builder
	if rng.IntN(3) == 0 {
		b.WriteByte('*')
	}
	for i, r := range rs {
		b.WriteRune(r)
		if i < len(rs)-1 && rng.IntN(4) == 0 {
			b.WriteByte('*')
		}
	}
	if rng.IntN(3) == 0 {
		b.WriteByte('*')
	}
	return b.String()
}

// randomRegex builds an RE2 pattern from the events' values and the
// constructs whose semantics could differ between the engines: flags,
// anchors, "." and newlines, classes, repetition, alternation.
func randomRegex(rng *rand.Rand) string {
	atom := func() string {
		switch rng.IntN(8) {
		case 0:
			return `\d+`
		case 1:
			return `.`
		case 2:
			return `[[:alpha:]]+`
		case 3:
			return `\w*`
		case 4:
			return `\s`
		case 5:
			return `\b`
		case 6:
			return `\p{Greek}`
		}
		return regexp.QuoteMeta(needleOf(rng))
	}
	var parts []string
	for range 1 + rng.IntN(3) {
		parts = append(parts, atom())
	}
	re := strings.Join(parts, pick(rng, []string{"", ".*", " ", ".?"}))
	if rng.IntN(4) == 0 {
		re += "|" + regexp.QuoteMeta(needleOf(rng))
	}
	if rng.IntN(4) == 0 {
		re = "^" + re
	}
	if rng.IntN(4) == 0 {
		re += "$"
	}
	re = pick(rng, []string{"", "", "(?i)", "(?m)", "(?-s)", "(?is)"}) + re
	return strings.ReplaceAll(re, "/", `\/`)
}

// randomLeaf returns one of the new kinds of leaf: a comparison, a
// wildcard, a regular expression or an existence test.
func randomLeaf(rng *rand.Rand) Node {
	ops := []string{"<", "<=", ">", ">=", "="}
	switch rng.IntN(5) {
	case 0:
		return &Compare{Name: pick(rng, append(propertyNumKeys, "missing_key")), Op: pick(rng, ops), Value: randomNumber(rng)}
	case 1:
		return &Compare{Name: "level", Op: pick(rng, ops), Value: pick(rng, []string{"trace", "debug", "INFO", "warning", "err", "crit"})}
	case 2:
		name := ""
		if rng.IntN(2) == 0 {
			name = pick(rng, propertyFields[1:]) // no level wildcards
		}
		return &Wildcard{Name: name, Value: randomWildcard(rng)}
	case 3:
		name := ""
		if rng.IntN(2) == 0 {
			name = pick(rng, propertyFields)
		}
		return &Regex{Name: name, Pattern: randomRegex(rng)}
	}
	return &Exists{Name: pick(rng, append(propertyFields, propertyNumKeys...))}
}

// validLeaf returns n when its text parses back to it, or else a term:
// a random wildcard or regex can fail to be one (a word that is only '*',
// a pattern over the complexity limit).
func validLeaf(rng *rand.Rand, n Node) Node {
	if q, err := Parse(n.String()); err == nil && equalAST(q.Root(), n) {
		return n
	}
	return &Term{Text: needleOf(rng)}
}

// randomNode builds a query AST over the event values.
func randomNode(rng *rand.Rand, depth int) Node {
	if depth == 0 || rng.IntN(3) == 0 {
		if rng.IntN(2) == 0 {
			return validLeaf(rng, randomLeaf(rng))
		}
		if rng.IntN(2) == 0 {
			return &Term{Text: needleOf(rng)}
		}
		name := pick(rng, propertyFields)
		switch name {
		case "level":
			return &Field{Name: name, Value: pick(rng, []string{"debug", "INFO", "warning", "WARN", "err", "crit", "critical"})}
		case "service":
			return &Field{Name: name, Value: pick(rng, []string{"web", "worker", "Web", "api", ""})}
		case "message", "exception.type", "exception.message":
			return &Field{Name: name, Value: needleOf(rng)}
		}
		v := pick(rng, propertyWords)
		if rng.IntN(5) == 0 {
			v = ""
		}
		return &Field{Name: name, Value: v}
	}
	switch rng.IntN(3) {
	case 0:
		return &Not{X: randomNode(rng, depth-1)}
	case 1:
		ops := make([]Node, 2+rng.IntN(2))
		for i := range ops {
			ops[i] = randomNode(rng, depth-1)
		}
		return &And{Operands: ops}
	}
	ops := make([]Node, 2+rng.IntN(2))
	for i := range ops {
		ops[i] = randomNode(rng, depth-1)
	}
	return &Or{Operands: ops}
}

// propertyTable stores events in a fresh logs table through pkg/store (the
// writer's insert path), event i as idx i, and returns a connection to it.
func propertyTable(tb testing.TB, tenants []string, events []event.Event) driver.Conn {
	tb.Helper()
	batch := make([]store.Row, len(events))
	for i, e := range events {
		batch[i] = store.Row{Tenant: tenants[i], Idx: uint32(i), Event: e}
	}
	return storeRows(tb, batch)
}

var (
	propertySeed   = flag.Uint64("lql.property-seed", 4, "seed of TestPropertySQLMatchesMatcher; try others to explore")
	modernProperty = flag.String("lql.modern-property", "", "also write the property test's events and queries to this file as self-checking SQL for ch-modern-check")
)

// TestPropertySQLMatchesMatcher: for 300 random events of two tenants and
// 200 random queries generated as ASTs over the events' own values, the SQL
// on ClickHouse and the in-memory matcher select the same events, for each
// tenant. Seeded (-lql.property-seed): a failure reproduces, and prints the
// query.
func TestPropertySQLMatchesMatcher(t *testing.T) {
	rng := rand.New(rand.NewPCG(*propertySeed, 2026))
	tenants := make([]string, 300)
	events := make([]event.Event, 300)
	for i := range events {
		tenants[i] = pick(rng, []string{"acme", "acme", "globex"})
		events[i] = randomEvent(rng)
	}
	conn := propertyTable(t, tenants, events)
	modern := newModernScript(t, tenants, events)
	nonEmpty := 0
	for range 200 {
		text := randomNode(rng, 3).String()
		q, err := Parse(text)
		if err != nil {
			t.Fatalf("generated query %q does not parse: %v", text, err)
		}
		for _, tenant := range []string{"acme", "globex"} {
			var want []uint32
			for i := range events {
				if tenants[i] == tenant && q.Match(&events[i]) {
					want = append(want, uint32(i))
				}
			}
			if len(want) > 0 {
				nonEmpty++
			}
			modern.check(q, tenant, want)
			if got := selectIDs(t, conn, tenant, q); !reflect.DeepEqual(got, want) {
				where, args := q.SQL()
				t.Errorf("%s %q: ClickHouse selects %v, Match %v\n%s %q", tenant, text, got, want, where, args)
			}
		}
	}
	// The generator must produce queries that select something, or the
	// property proves little.
	if nonEmpty < 100 {
		t.Fatalf("only %d of 400 (query, tenant) pairs select any event", nonEmpty)
	}
	t.Logf("%d of 400 (query, tenant) pairs select at least one event", nonEmpty)
	if *modernProperty != "" {
		if err := os.WriteFile(*modernProperty, []byte(modern.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// modernScript renders events and checks as SQL for ch-modern-check, the
// way TestConformanceModernSQL does: a Memory table of literal rows, and
// per check a SELECT that fails (throwIf) unless it selects exactly want.
type modernScript struct {
	tb testing.TB
	strings.Builder
}

func newModernScript(tb testing.TB, tenants []string, events []event.Event) *modernScript {
	m := &modernScript{tb: tb}
	m.WriteString(strings.Replace(logsDDL, "MergeTree() ORDER BY (tenant_id, id)", "Memory", 1) + ";\n")
	m.WriteString("INSERT INTO logs (" + logsColumns + ") VALUES\n")
	for i, e := range events {
		vals := rowValues(row{uint32(i), tenants[i], e})
		vals[2] = "2026-11-01 12:00:00"
		lits := make([]string, len(vals))
		for j, v := range vals {
			lits[j] = sqlLiteral(tb, v)
		}
		sep := ",\n"
		if i == len(events)-1 {
			sep = ";\n"
		}
		m.WriteString("(" + strings.Join(lits, ", ") + ")" + sep)
	}
	return m
}

func (m *modernScript) check(q *Query, tenant string, want []uint32) {
	where, args := q.SQL()
	ids := make([]string, len(want))
	for i, id := range want {
		ids[i] = strconv.FormatUint(uint64(id), 10)
	}
	fmt.Fprintf(m, "SELECT throwIf(arraySort(groupArray(id)) != CAST([%s] AS Array(UInt32)), %s) FROM logs WHERE tenant_id = %s AND %s;\n",
		strings.Join(ids, ","), sqlLiteral(m.tb, "case "+q.String()), sqlLiteral(m.tb, tenant), inline(m.tb, where, args))
}

// TestPropertyTextRangesKeepMatches: for the property test's random events
// (event i at t0 + i seconds, stored 5 to a chunk) and random queries, every
// event the matcher selects lies in a time range pkg/store's text blooms
// narrow TextCond to: narrowing never loses a match, whatever the query's
// ANDs, ORs, NOTs, wildcards, cases and scripts.
func TestPropertyTextRangesKeepMatches(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(*propertySeed, 2027))
	st, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(t), Database: testenv.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	events := make([]event.Event, 300)
	tenants := make([]string, len(events))
	start := time.Unix(0, t0)
	var batch []store.Row
	for i := range events {
		tenants[i] = pick(rng, []string{"acme", "acme", "globex"})
		events[i] = randomEvent(rng)
		events[i].Time = start.Add(time.Duration(i) * time.Second).UnixNano()
		batch = append(batch, store.Row{Tenant: tenants[i], RetentionDays: 7, Seq: 1, Idx: uint32(i), Event: events[i]})
		if len(batch) == 5 || i == len(events)-1 {
			if err := st.Insert(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	narrowed := 0
	for range 300 {
		text := randomNode(rng, 3).String()
		q, err := Parse(text)
		if err != nil {
			t.Fatalf("generated query %q does not parse: %v", text, err)
		}
		cond, ok := q.TextCond()
		if !ok {
			continue
		}
		for _, tenant := range []string{"acme", "globex"} {
			ranges, ok, err := st.TextRanges(ctx, tenant, start, start.Add(time.Hour), cond)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				continue
			}
			excluded := false
			for i := range events {
				if tenants[i] != tenant {
					continue
				}
				sec := events[i].Time / 1e9
				in := slices.ContainsFunc(ranges, func(r store.TimeRange) bool { return r.From <= sec && sec <= r.To })
				excluded = excluded || !in
				if !in && q.Match(&events[i]) {
					t.Fatalf("%s %q: event %d matches, but no range of %v holds its second %d (cond %+v)", tenant, text, i, ranges, sec, cond)
				}
			}
			if excluded {
				narrowed++
			}
		}
	}
	// Narrowing must rule some events out, or the property proves little.
	if narrowed < 50 {
		t.Fatalf("only %d (query, tenant) pairs ruled any event out", narrowed)
	}
	t.Logf("%d (query, tenant) pairs ruled some events out", narrowed)
}
