package lql

import (
	"context"
	"flag"
	"math/rand/v2"
	"reflect"
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
	e := event.Event{
		Level: lvl, SeverityNumber: sev, Message: text(),
		Service: pick(rng, []string{"web", "worker", "Web", "api", ""}), Environment: maybe(rng, word),
		Host: maybe(rng, word), Logger: maybe(rng, word), TraceID: maybe(rng, word), SpanID: maybe(rng, word),
		RequestID: maybe(rng, word),
	}
	for range rng.IntN(4) {
		e.Attrs = append(e.Attrs, event.Attr{Key: pick(rng, propertyAttrKeys), Value: maybe(rng, text)})
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

// randomNode builds a query AST over the event values.
func randomNode(rng *rand.Rand, depth int) Node {
	if depth == 0 || rng.IntN(3) == 0 {
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr, db := testenv.ClickHouse(tb), testenv.Database(tb)
	st, err := store.Open(ctx, store.Config{Addr: addr, Database: db})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	batch := make([]store.Row, len(events))
	for i, e := range events {
		e.Time = t0
		batch[i] = store.Row{Tenant: tenants[i], RetentionDays: 7, Seq: 1, Idx: uint32(i), Event: e}
	}
	if err := st.Insert(ctx, batch); err != nil {
		tb.Fatalf("insert: %v", err)
	}
	return dial(tb, addr, db)
}

var propertySeed = flag.Uint64("lql.property-seed", 4, "seed of TestPropertySQLMatchesMatcher; try others to explore")

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
}
