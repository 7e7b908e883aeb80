package lql

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var modernSQL = flag.String("lql.modern-sql", "", "also write the conformance suite to this file as self-checking SQL for ch-modern-check")

// row is a conformance event and the tenant that owns it.
type row struct {
	id     uint32
	tenant string
	e      event.Event
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).UnixNano()

// rows are the events every conformance case runs against: Django and
// Celery lines, non-Latin text, case-folding edges, hostile text, attributes
// named like columns, a minimal event, and another tenant's event.
var rows = []row{
	{1, "acme", event.Event{
		Level: "error", SeverityNumber: 17, Message: "Internal Server Error: /api/v1/orders/42",
		Service: "web", Environment: "production", Host: "web-1", Logger: "django.request",
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", RequestID: "req-7f3a9c",
		Attrs: []event.Attr{
			{Key: "http.method", Value: "GET"}, {Key: "http.path", Value: "/api/v1/orders/42"},
			{Key: "status_code", Value: "500"}, {Key: "user_id", Value: "42"}, {Key: "duration_ms", Value: "1234.5"},
		},
		NumAttrs: []event.NumAttr{{Key: "status_code", Value: 500}, {Key: "duration_ms", Value: 1234.5}},
		Exception: event.Exception{
			Type:    "django.db.utils.OperationalError",
			Message: "could not connect to server: Connection refused",
			Stack: "Traceback (most recent call last):\n  File \"/app/views.py\", line 42, in get\n" +
				"    return Order.objects.get(pk=pk)\ndjango.db.utils.OperationalError: could not connect to server",
		},
	}},
	{2, "acme", event.Event{
		Level: "warn", SeverityNumber: 13, Message: "Task app.tasks.send_email[8c1e2f] retry: SMTP timeout after 30s",
		Service: "worker", Environment: "staging", Host: "worker-2", Logger: "celery.worker",
		Attrs: []event.Attr{{Key: "task_id", Value: "8c1e2f"}, {Key: "levelname", Value: "WARNING"}, {Key: "retries", Value: "3"}},
	}},
	{3, "acme", event.Event{
		Level: "info", SeverityNumber: 9, Message: "Zahlung fehlgeschlagen für Kunde Müller — Überweisung abgelehnt",
		Service: "payments", Environment: "production", Host: "web-2", Logger: "app.payments",
		Attrs: []event.Attr{{Key: "customer", Value: "Müller"}, {Key: "country", Value: "DE"}},
	}},
	{4, "acme", event.Event{
		Level: "error", SeverityNumber: 17, Message: "ユーザー 田中 のログインに失敗しました 🚫",
		Service: "auth", Environment: "production", Host: "web-1", Logger: "app.auth",
		Attrs: []event.Attr{{Key: "user", Value: "田中"}},
	}},
	{5, "acme", event.Event{
		Level: "debug", SeverityNumber: 5, Message: `quote ' double " backslash \ percent 100% under_score`,
		Service: "web", Environment: "dev", Host: "dev-box", Logger: "test",
		Attrs: []event.Attr{{Key: "sql", Value: `'; DROP TABLE logs; --`}, {Key: "path", Value: `C:\Users\admin`}},
	}},
	{6, "acme", event.Event{
		Level: "info", SeverityNumber: 9, Message: "Σφάλμα σύνδεσης ΣΤΗ βάση δεδομένων", Service: "greek",
		Attrs: []event.Attr{{Key: "note", Value: ""}},
	}},
	{7, "acme", event.Event{
		Level: "info", SeverityNumber: 9, Message: "STRASSE straße 5\u212a ǅemal µs", Service: "edge",
		Attrs: []event.Attr{{Key: "unit", Value: "µs"}},
	}},
	{8, "acme", event.Event{Level: "info", SeverityNumber: 9, Message: "1000 done userXid", Service: "pct"}},
	{9, "acme", event.Event{
		Level: "info", SeverityNumber: 9, Message: "attribute collisions", Service: "web",
		Attrs: []event.Attr{
			{Key: "level", Value: "custom"}, {Key: "message_id", Value: "abc"}, {Key: "levelx", Value: "warn"},
			{Key: "exception.stack", Value: "boom"}, {Key: "tenant_id", Value: "globex"}, {Key: "env", Value: "attr-env"},
		},
	}},
	{10, "globex", event.Event{
		Level: "error", SeverityNumber: 17, Message: "acme secret for globex: request req-7f3a9c", Service: "web",
		Environment: "production", Attrs: []event.Attr{{Key: "tenant", Value: "acme"}, {Key: "user_id", Value: "42"}},
	}},
	{11, "acme", event.Event{}},
	{12, "acme", event.Event{
		Level: "warn", SeverityNumber: 14, Message: "GET /api/v1/orders/42 took 1500ms\nretry 2 of 3: timeout 30s",
		Service: "api", Environment: "production", Host: "api-7",
		Attrs: []event.Attr{
			{Key: "http.path", Value: "/api/v1/orders/42"}, {Key: "status_code", Value: "404"},
			{Key: "pattern", Value: `a%b_c\d*e`}, {Key: "duration_ms", Value: "1500"},
		},
		// Numbers at float boundaries; status_code is a string only.
		NumAttrs: []event.NumAttr{
			{Key: "duration_ms", Value: 1500}, {Key: "bytes", Value: 1e21}, {Key: "ratio", Value: 0.30000000000000004},
			{Key: "neg", Value: -0.5}, {Key: "max", Value: math.MaxFloat64}, {Key: "tiny", Value: math.SmallestNonzeroFloat64},
			{Key: "big_int", Value: 1 << 53}, {Key: "zero", Value: math.Copysign(0, -1)},
		},
	}},
	{13, "acme", event.Event{
		Level: "fatal", SeverityNumber: 24, Message: "kernel panic: CPU#3 stuck for 22s", Service: "kernel",
		Attrs: []event.Attr{{Key: "request_id", Value: "attr-rid"}},
		// Ingest refuses NaN and infinities; stored anyway, both sides
		// compare them by IEEE rules.
		NumAttrs: []event.NumAttr{
			{Key: "nan", Value: math.NaN()}, {Key: "inf", Value: math.Inf(1)}, {Key: "ninf", Value: math.Inf(-1)},
			{Key: "duration_ms", Value: -1},
		},
	}},
}

// conformance lists queries and the ids of the rows they select, for tenant
// acme unless the case names another. Match and the SQL on ClickHouse must
// both give exactly these.
var conformance = []struct {
	tenant string // "" is acme
	query  string
	want   []uint32
}{
	{"", "", ids(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13)},
	// Bare terms search every text column and attribute value.
	{"", "error", ids(1, 4)},
	{"", "ERROR", ids(1, 4)},
	{"", "req-7f3a9c", ids(1)},
	{"", `"connection refused"`, ids(1)},
	{"", `"could not connect to server: connection refused"`, ids(1)},
	{"", "4bf92f35", ids(1)},
	{"", "timeout", ids(2, 12)},
	{"", "8c1e2f", ids(2)},
	{"", "-error", ids(2, 3, 5, 6, 7, 8, 9, 11, 12, 13)},
	{"", "globex", ids(9)},
	// Unicode.
	{"", "müller", ids(3)},
	{"", "MÜLLER", ids(3)},
	{"", `"zahlung fehlgeschlagen für kunde müller — überweisung"`, ids(3)},
	{"", "田中", ids(4)},
	{"", "🚫", ids(4)},
	{"", `"στη"`, ids(6)},
	{"", "ΣΎΝΔΕΣΗ", ids(6)},
	{"", "ΣΎΝΔΕΣΗΣ", nil}, // Σ never matches final ς
	{"", "σύνδεσης", ids(6)},
	{"", "σφάλμα", nil}, // μ is not folded: case-sensitive
	{"", "Σφάλμα", ids(6)},
	{"", "straße", ids(7)},
	{"", "Straße", nil}, // ß is not folded: case-sensitive
	{"", "STRASSE", ids(7)},
	{"", "5k", nil}, // the Kelvin sign is not k
	{"", "5\u212a", ids(7)},
	{"", "ǅemal", ids(7)},
	{"", "ǆemal", nil}, // title-case ǅ matches only itself
	{"", "µS", ids(7)},
	{"", "ΜS", nil}, // Greek Μ is not the micro sign
	// Hostile text: quotes, backslashes, SQL, LIKE wildcards.
	{"", `"100%"`, ids(5)},
	{"", `"_"`, ids(2, 5, 12)},
	{"", "user_id", nil},
	{"", `"'; DROP TABLE logs; --"`, ids(5)},
	{"", `"DROP TABLE"`, ids(5)},
	{"", `"C:\\Users"`, ids(5)},
	{"", `"\\"`, ids(5, 12)},
	{"", `"\""`, ids(1, 5)},
	{"", `"'"`, ids(5)},
	{"", `sql:"'; DROP TABLE logs; --"`, ids(5)},
	{"", `path:"C:\\Users\\admin"`, ids(5)},
	{"", `service:"web' OR '1'='1"`, nil},
	// Fields with columns.
	{"", "level:error", ids(1, 4)},
	{"", "level:ERR", ids(1, 4)},
	{"", "level:warning", ids(2, 12)},
	{"", "level:CRITICAL", ids(13)},
	{"", "-level:error", ids(2, 3, 5, 6, 7, 8, 9, 11, 12, 13)},
	{"", "NOT level:error", ids(2, 3, 5, 6, 7, 8, 9, 11, 12, 13)},
	{"", "service:web", ids(1, 5, 9)},
	{"", "service:Web", nil},
	{"", "service:we", nil},
	{"", "env:production", ids(1, 3, 4, 12)},
	{"", "environment:staging", ids(2)},
	{"", "env:attr-env", nil},
	{"", "host:web-1", ids(1, 4)},
	{"", "logger:django.request", ids(1)},
	{"", "trace_id:4bf92f3577b34da6a3ce929d0e0e4736", ids(1)},
	{"", "trace_id:4BF92F3577B34DA6A3CE929D0E0E4736", nil},
	{"", "span_id:00f067aa0ba902b7", ids(1)},
	{"", "request_id:req-7f3a9c", ids(1)},
	{"", "message:refused", nil},
	{"", `message:"internal server"`, ids(1)},
	{"", "message:müller", ids(3)},
	{"", `message:""`, ids(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13)},
	{"", "exception.type:operationalerror", ids(1)},
	{"", "exception.message:REFUSED", ids(1)},
	// Attributes.
	{"", "user_id:42", ids(1)},
	{"", "user_id:4", nil},
	{"", "status_code:500", ids(1)},
	{"", "duration_ms:1234.5", ids(1)},
	{"", "levelname:WARNING", ids(2)},
	{"", "levelname:warning", nil},
	{"", "levelx:warn", ids(9)},
	{"", "message_id:abc", ids(9)},
	{"", "exception.stack:boom", ids(9)},
	{"", "tenant_id:globex", ids(9)},
	{"", `note:""`, ids(6)},
	{"", "customer:Müller", ids(3)},
	{"", "user:田中", ids(4)},
	// Boolean structure.
	{"", "error timeout", nil},
	{"", "error OR timeout", ids(1, 2, 4, 12)},
	{"", "error AND 田中", ids(4)},
	{"", "level:error -service:auth", ids(1)},
	{"", "(service:web OR service:worker) -error", ids(2, 5, 9)},
	{"", "-(service:web OR service:worker) -level:info", ids(4, 11, 12, 13)},
	{"", "NOT NOT service:pct", ids(8)},
	// Numeric comparisons read numeric attributes only.
	{"", "status_code:>=500", ids(1)},
	{"", "status_code:>=400", ids(1)}, // row 12's "404" is a string
	{"", "status_code:=500", ids(1)},
	{"", "status_code:404", ids(12)},
	{"", "duration_ms:>1000", ids(1, 12)},
	{"", "duration_ms:>1234.5", ids(12)},
	{"", "duration_ms:>=1234.5", ids(1, 12)},
	{"", "duration_ms:<0", ids(13)},
	{"", "duration_ms:<=-1", ids(13)},
	{"", "duration_ms:>1e3", ids(1, 12)},
	{"", "duration_ms:>=1.5E3", ids(12)},
	{"", "duration_ms:=+1500.0", ids(12)},
	{"", "-duration_ms:>0", ids(2, 3, 4, 5, 6, 7, 8, 9, 11, 13)},
	{"", "bytes:>=1e21", ids(12)},
	{"", "bytes:>999999999999999999999", nil}, // the same double as 1e21
	{"", "bytes:>=999999999999999999999", ids(12)},
	{"", "ratio:=0.30000000000000004", ids(12)},
	{"", "ratio:>0.3", ids(12)},
	{"", "ratio:=0.3", nil},
	{"", "neg:<-0.4", ids(12)},
	{"", "neg:>-.5", nil},
	{"", "neg:>=-.5", ids(12)},
	{"", "max:>=1.7976931348623157e308", ids(12)},
	{"", "max:>1.7976931348623157e308", nil},
	{"", "tiny:>0", ids(12)},
	{"", "tiny:<2.2250738585072014e-308", ids(12)},
	{"", "big_int:=9007199254740993", ids(12)}, // rounds to 2^53
	{"", "zero:=0", ids(12)},                   // -0 = 0
	{"", "zero:<0", nil},
	{"", "inf:>1.7976931348623157e308", ids(13)},
	{"", "ninf:<-1.7976931348623157e308", ids(13)},
	{"", "nan:>0", nil},
	{"", "nan:<=0", nil},
	{"", "nan:=0", nil},
	{"", "user_id:>0", nil}, // a string attribute only
	{"", "missing:<1", nil},
	// Severity ranges.
	{"", "level:>=warning", ids(1, 2, 4, 12, 13)},
	{"", "level:>warn", ids(1, 4, 13)},
	{"", "level:<info", ids(5)},
	{"", "level:<=INFO", ids(3, 5, 6, 7, 8, 9)}, // 11 has no severity
	{"", "level:=warn", ids(2, 12)},
	{"", "level:>=CRITICAL", ids(13)},
	{"", "level:>fatal", nil},
	{"", "level:<trace", nil},
	{"", "-level:>=warn", ids(3, 5, 6, 7, 8, 9, 11)},
	// Wildcards: whole value and case-sensitive on fields, substring and
	// case-insensitive (by the terms' rules) on bare words and text fields.
	{"", "http.path:/api/*", ids(1, 12)},
	{"", "http.path:/api/v1/*/42", ids(1, 12)},
	{"", "http.path:/API/*", nil},
	{"", "http.path:*/42", ids(1, 12)},
	{"", "http.path:*/4", nil},
	{"", `path:C:\Users\*`, ids(5)},
	{"", `pattern:a%b_c\d*e`, ids(12)},
	{"", "pattern:a%b*", ids(12)},
	{"", "pattern:a_b*", nil}, // _ is no wildcard
	{"", "pattern:%*", nil},   // nor is %
	{"", `pattern:*\d*`, ids(12)},
	{"", `pattern:*\D*`, nil},
	{"", "pattern:*.*", nil}, // nor is .
	{"", "service:web*", ids(1, 5, 9)},
	{"", "service:w*", ids(1, 2, 5, 9)},
	{"", "service:*er", ids(2)},
	{"", "service:*", ids(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13)},
	{"", "host:web-*", ids(1, 3, 4)},
	{"", "time*out", ids(2, 12)},
	{"", "TIME*OUT", ids(2, 12)},
	{"", "intern*error", ids(1)},
	{"", "100*score", ids(5)},
	{"", "1500ms*retry", ids(12)}, // * spans newlines
	{"", "müll*", ids(3)},
	{"", "MÜLL*", ids(3)},
	{"", "stra*e", ids(7)},
	{"", "Stra*ße", nil}, // ß is not folded: case-sensitive
	{"", "5*\u212a", ids(7)},
	{"", "*tasks.send*", ids(2)},
	{"", "message:*", ids(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13)},
	{"", "message:*refused*", nil},
	{"", "exception.message:*REFUSED", ids(1)},
	{"", "tenant_id:glob*", ids(9)},
	{"", "request_id:attr*", nil},
	// Regular expressions (RE2): case-sensitive unless (?i); "." matches a
	// newline unless (?-s); ^ and $ anchor the whole text unless (?m).
	{"", `message:/timeout \d+/`, ids(12)},
	{"", `/timeout \d+s/`, ids(12)},
	{"", `message:/^GET/`, ids(12)},
	{"", `message:/^retry/`, nil},
	{"", `message:/(?m)^retry/`, ids(12)},
	{"", `message:/1500ms.retry/`, ids(12)},
	{"", `message:/(?-s)1500ms.retry/`, nil},
	{"", `message:/42$/`, ids(1)},
	{"", `message:/(?m)42$/`, ids(1)},
	{"", `message:/\A[[:upper:]]/`, ids(1, 2, 3, 7, 12)}, // ASCII classes,
	{"", `message:/internal server/`, nil},
	{"", `message:/(?i)internal server/`, ids(1)},
	{"", `message:/(?i)MÜLLER/`, ids(3)},
	{"", `message:/(?i)ΣΎΝΔΕΣΗΣ/`, ids(6)}, // (?i) folds Σ, σ and ς together
	{"", `message:/(?i)5k/`, ids(7)},       // and k with the Kelvin sign
	{"", `message:/^.{4} 田中/`, ids(4)},     // "." is one character
	{"", `/田中|Müller/`, ids(3, 4)},
	{"", `/\d{3}%/`, ids(5)},
	{"", `/\\/`, ids(5, 12)},
	{"", `/"/`, ids(1, 5)},
	{"", `message:/^$/`, ids(11)},
	{"", `/^$/`, ids(2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13)}, // some text is empty,
	{"", `user:/^田/`, ids(4)},
	{"", `http.path:/^\/api\/v1\/orders\/\d+$/`, ids(1, 12)},
	{"", `request_id:/^req-/`, ids(1)},
	{"", `level:/^(warn|error)$/`, ids(1, 2, 4, 12)},
	{"", `sql:/DROP\s+TABLE/`, ids(5)},
	{"", `-/e/`, ids(11)},
	{"", `service:/x/ OR /\bCPU#\d\b/`, ids(13)},
	// Existence.
	{"", "has:request_id", ids(1)}, // the column; row 13's attribute does not count
	{"", "has:status_code", ids(1, 12)},
	{"", "has:nan", ids(13)},
	{"", "has:duration_ms", ids(1, 12, 13)},
	{"", "has:note", ids(6)}, // an empty value is still there
	{"", "-has:message", ids(11)},
	{"", "has:exception.type", ids(1)},
	{"", "has:env", ids(1, 2, 3, 4, 5, 12)},
	{"", `has:"http.path"`, ids(1, 12)},
	{"", "has:missing", nil},
	{"", "has:level -has:service", nil},
	// Tenancy is the caller's predicate: no query reaches another tenant's rows.
	{"", "acme", nil},
	{"", `"acme secret"`, nil},
	{"", "-nothing-matches-this", ids(1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13)},
	{"globex", "acme", ids(10)},
	{"globex", "req-7f3a9c", ids(10)},
	{"globex", "user_id:42", ids(10)},
	{"globex", "", ids(10)},
	{"globex", "-error", nil},
}

func ids(ns ...uint32) []uint32 { return ns }

func TestConformanceMatch(t *testing.T) {
	for _, c := range conformance {
		q := mustParse(t, c.query)
		tenant := tenantOf(c.tenant)
		var got []uint32
		for _, r := range rows {
			if r.tenant == tenant && q.Match(&r.e) {
				got = append(got, r.id)
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %q: Match selects %v, want %v", tenant, c.query, got, c.want)
		}
	}
}

func tenantOf(s string) string {
	if s == "" {
		return "acme"
	}
	return s
}

// logsDDL has the logs table's columns (pkg/store) plus an id; only the
// ch-modern-check rendering uses it (a Memory table of literal rows).
const logsDDL = `CREATE TABLE logs (
    id UInt32,
    tenant_id String,
    ts DateTime('UTC'),
    ts_ns Int64,
    level String,
    severity_number UInt8,
    message String,
    service String,
    environment String,
    host String,
    logger String,
    trace_id String,
    span_id String,
    request_id String,
    attr_keys Array(String),
    attr_values Array(String),
    num_keys Array(String),
    num_values Array(Float64),
    exc_type String,
    exc_message String,
    exc_stack String
) ENGINE = MergeTree() ORDER BY (tenant_id, id)`

const logsColumns = "id, tenant_id, ts, ts_ns, level, severity_number, message, service, environment, host, logger, " +
	"trace_id, span_id, request_id, attr_keys, attr_values, num_keys, num_values, exc_type, exc_message, exc_stack"

// rowValues returns r's column values in logsColumns order.
func rowValues(r row) []any {
	e := &r.e
	var ak, av, nk []string
	var nv []float64
	for _, a := range e.Attrs {
		ak, av = append(ak, a.Key), append(av, a.Value)
	}
	for _, a := range e.NumAttrs {
		nk, nv = append(nk, a.Key), append(nv, a.Value)
	}
	return []any{
		r.id, r.tenant, time.Unix(0, t0).UTC(), t0, e.Level, uint8(e.SeverityNumber), e.Message, e.Service,
		e.Environment, e.Host, e.Logger, e.TraceID, e.SpanID, e.RequestID,
		nonNil(ak), nonNil(av), nonNil(nk), nonNilF(nv), e.Exception.Type, e.Exception.Message, e.Exception.Stack,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilF(s []float64) []float64 {
	if s == nil {
		return []float64{}
	}
	return s
}

// logsTable stores rows in the real logs table (pkg/store's migrations and
// insert path) in a fresh database, each row's id as its idx, and returns a
// connection to that database.
func logsTable(tb testing.TB) driver.Conn {
	tb.Helper()
	batch := make([]store.Row, len(rows))
	for i, r := range rows {
		batch[i] = store.Row{Tenant: r.tenant, Idx: r.id, Event: r.e}
	}
	return storeRows(tb, batch)
}

// storeRows stores batch in a fresh logs table through pkg/store (its
// migrations and the writer's insert path), every row at t0 in message 1
// with a 7-day retention, and returns a connection to that database.
func storeRows(tb testing.TB, batch []store.Row) driver.Conn {
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
	for i := range batch {
		batch[i].Time, batch[i].RetentionDays, batch[i].Seq = t0, 7, 1
	}
	if err := st.Insert(ctx, batch); err != nil {
		tb.Fatalf("insert: %v", err)
	}
	return dial(tb, addr, db)
}

// openDatabase connects to a fresh database on the test ClickHouse server.
func openDatabase(tb testing.TB) driver.Conn {
	tb.Helper()
	return dial(tb, testenv.ClickHouse(tb), testenv.Database(tb))
}

func dial(tb testing.TB, addr, db string) driver.Conn {
	tb.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		tb.Fatalf("open clickhouse: %v", err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// selectIDs runs the caller's shape of statement: tenant predicate AND the
// query's expression.
func selectIDs(tb testing.TB, conn driver.Conn, tenant string, q *Query) []uint32 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// As the query service runs it (From); every row is at t0.
	from, args := q.From(tenant, time.Unix(0, t0), time.Unix(0, t0).Add(time.Second))
	stmt := "SELECT idx" + from + " ORDER BY idx"
	rs, err := conn.Query(ctx, stmt, args...)
	if err != nil {
		tb.Fatalf("%q: %s: %v", q.String(), stmt, err)
	}
	defer rs.Close()
	var got []uint32
	for rs.Next() {
		var id uint32
		if err := rs.Scan(&id); err != nil {
			tb.Fatalf("scan: %v", err)
		}
		got = append(got, id)
	}
	if err := rs.Err(); err != nil {
		tb.Fatalf("%q: %v", q.String(), err)
	}
	return got
}

func TestConformanceClickHouse(t *testing.T) {
	conn := logsTable(t)
	for _, c := range conformance {
		got := selectIDs(t, conn, tenantOf(c.tenant), mustParse(t, c.query))
		if !reflect.DeepEqual(got, c.want) {
			where, args := mustParse(t, c.query).SQL()
			t.Errorf("%s %q: ClickHouse selects %v, want %v\n%s %q", tenantOf(c.tenant), c.query, got, c.want, where, args)
		}
	}
}

// TestConformanceModernSQL renders the suite as SQL statements with every
// argument inlined the way clickhouse-go binds it, each SELECT failing
// (throwIf) when it selects other rows than the case wants. With
// -lql.modern-sql=FILE it writes them, and TestFoldTableAgainstClickHouse's
// checks, for /work/shared/tools/ch-modern-check FILE, which runs them on
// ClickHouse 26.
func TestConformanceModernSQL(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.Replace(logsDDL, "MergeTree() ORDER BY (tenant_id, id)", "Memory", 1) + ";\n")
	b.WriteString("INSERT INTO logs (" + logsColumns + ") VALUES\n")
	for i, r := range rows {
		vals := rowValues(r)
		vals[2] = "2026-11-01 12:00:00"
		var lits []string
		for _, v := range vals {
			lits = append(lits, sqlLiteral(t, v))
		}
		sep := ","
		if i == len(rows)-1 {
			sep = ";"
		}
		b.WriteString("(" + strings.Join(lits, ", ") + ")" + sep + "\n")
	}
	for _, c := range conformance {
		where, args := mustParse(t, c.query).SQL()
		inlined := inline(t, where, args)
		want := make([]string, len(c.want))
		for i, id := range c.want {
			want[i] = fmt.Sprint(id)
		}
		fmt.Fprintf(&b, "SELECT throwIf(arraySort(groupArray(id)) != CAST([%s] AS Array(UInt32)), %s) FROM logs WHERE tenant_id = %s AND %s;\n",
			strings.Join(want, ","), sqlLiteral(t, "case "+c.query), sqlLiteral(t, tenantOf(c.tenant)), inlined)
	}
	for _, text := range append(worstCaseQueries(), patternQueries...) {
		q := mustParse(t, text)
		var want []string
		for _, r := range rows {
			if r.tenant == "acme" && q.Match(&r.e) {
				want = append(want, fmt.Sprint(r.id))
			}
		}
		where, args := q.SQL()
		fmt.Fprintf(&b, "SELECT throwIf(arraySort(groupArray(id)) != CAST([%s] AS Array(UInt32)), %s) FROM logs WHERE tenant_id = 'acme' AND %s;\n",
			strings.Join(want, ","), sqlLiteral(t, "worst case"), inline(t, where, args))
	}
	b.WriteString(foldCheckSQL(t))
	if *modernSQL != "" {
		if err := os.WriteFile(*modernSQL, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// inline substitutes args for the ? placeholders of where, as clickhouse-go's
// client-side binding does. where has no other '?'.
func inline(tb testing.TB, where string, args []any) string {
	tb.Helper()
	parts := strings.Split(where, "?")
	if len(parts) != len(args)+1 {
		tb.Fatalf("%s: %d placeholders, %d args", where, len(parts)-1, len(args))
	}
	var b strings.Builder
	for i, a := range args {
		b.WriteString(parts[i] + sqlLiteral(tb, a))
	}
	b.WriteString(parts[len(parts)-1])
	return b.String()
}

var quoteReplacer = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`, "\n", `\n`, "\t", `\t`, "\r", `\r`)

func sqlLiteral(tb testing.TB, v any) string {
	tb.Helper()
	switch v := v.(type) {
	case string:
		return "'" + quoteReplacer.Replace(v) + "'"
	case uint32, int64, uint8:
		return fmt.Sprint(v)
	case []string:
		lits := make([]string, len(v))
		for i, s := range v {
			lits[i] = sqlLiteral(tb, s)
		}
		return "CAST([" + strings.Join(lits, ", ") + "] AS Array(String))"
	case float64: // as clickhouse-go binds it
		return "cast(" + strconv.FormatFloat(v, 'g', -1, 64) + ", 'Float64')"
	case []float64:
		lits := make([]string, len(v))
		for i, f := range v {
			switch {
			case math.IsNaN(f):
				lits[i] = "nan"
			case math.IsInf(f, 0):
				lits[i] = strings.Replace(fmt.Sprint(f), "Inf", "inf", 1)
			default:
				lits[i] = strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
		return "CAST([" + strings.Join(lits, ", ") + "] AS Array(Float64))"
	}
	tb.Fatalf("no literal for %T", v)
	return ""
}

// TestConformanceRandomQueries combines the conformance queries at random
// with AND, OR, NOT and "-" and checks that ClickHouse and Match select the
// same rows, whatever those are.
func TestConformanceRandomQueries(t *testing.T) {
	conn := logsTable(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var atoms []string
	for _, c := range conformance {
		if c.query != "" {
			atoms = append(atoms, c.query)
		}
	}
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth == 0 || rng.IntN(3) == 0 {
			return atoms[rng.IntN(len(atoms))]
		}
		a, b := gen(depth-1), gen(depth-1)
		switch rng.IntN(5) {
		case 0:
			return "(" + a + ") (" + b + ")"
		case 1:
			return "(" + a + ") AND (" + b + ")"
		case 2:
			return "(" + a + ") OR (" + b + ")"
		case 3:
			return "-(" + a + ")"
		}
		return "NOT (" + a + ") OR " + "(" + b + ")"
	}
	for range 300 {
		q := mustParse(t, gen(3))
		for _, tenant := range []string{"acme", "globex"} {
			var want []uint32
			for _, r := range rows {
				if r.tenant == tenant && q.Match(&r.e) {
					want = append(want, r.id)
				}
			}
			if got := selectIDs(t, conn, tenant, q); !reflect.DeepEqual(got, want) {
				t.Errorf("%s %q: ClickHouse selects %v, Match %v", tenant, q.String(), got, want)
			}
		}
	}
}

// worstCaseQueries are the largest SQL the limits allow: the most terms,
// each as long as possible and full of characters the binding escapes, and
// the deepest nesting.
func worstCaseQueries() []string {
	term := `"` + strings.Repeat(`'`, MaxQueryBytes/MaxTerms-3) + `"`
	return []string{
		strings.TrimSpace(strings.Repeat(term+" ", MaxTerms)),
		`"` + strings.Repeat(`\\`, (MaxQueryBytes-2)/2) + `"`,
		strings.Repeat("(a OR -", MaxDepth/2) + "b" + strings.Repeat(")", MaxDepth/2),
		strings.Repeat("ü OR ", MaxTerms-1) + "ü",
		// Patterns: the most compiled bytes (\pL expands to its ranges),
		// the most complex automaton, the most wildcards.
		`/\pL/ OR message:/\pL/ x`,
		strings.Repeat(`message:/\pL/ OR `, 13) + `message:/\pL/`,
		`message:/(?i)\pL{15}/ OR message:/[\pL\pN]{13}/`,
		strings.Repeat("é*Ü*ß OR ", MaxTerms-1) + "é*Ü*ß",
	}
}

// TestWorstCaseQueries runs the largest queries on ClickHouse: they must fit
// its default max_query_size (256 KiB) once bound, and its AST limits.
func TestWorstCaseQueries(t *testing.T) {
	conn := logsTable(t)
	for _, text := range append(worstCaseQueries(), patternQueries...) {
		q := mustParse(t, text)
		where, args := q.SQL()
		n := len(inline(t, where, args))
		t.Logf("%.40q...: %d bytes of SQL once bound", text, n)
		if n > 200_000 {
			t.Errorf("%.40q...: %d bytes of SQL once bound", text, n)
		}
		var want []uint32
		for _, r := range rows {
			if r.tenant == "acme" && q.Match(&r.e) {
				want = append(want, r.id)
			}
		}
		if got := selectIDs(t, conn, "acme", q); !reflect.DeepEqual(got, want) {
			t.Errorf("%.40q...: ClickHouse selects %v, Match %v", text, got, want)
		}
	}
}

// patternQueries are regular expressions and wildcards using syntax whose
// support or meaning could differ between Go, ClickHouse 18.16's RE2 and a
// current one's; the engines must agree on them, whatever they select.
var patternQueries = []string{
	`/\pN+/`, `/\p{Greek}/`, `/\P{Latin}\p{Han}/`, `/[[:^alpha:]]{3}$/`, `/(?U)a+b/`, `/\Qa.b\E/`,
	`/[\x00-\x{10FFFF}]/`, `/(?i)[^k]5/`, `/\Berror\B/`, `/(?m)s$/`, `/a{0}x/`, `/(|a)b/`, `/(?:)/`,
	`/\v|\f|\a/`, `/\z/`, `/\A\z/`, `/(?P<name>orders)\/\d+/`, `/(?i:ORDERS)\/(?-i:42)/`,
	`/(?s:.)\n/`, `/(?i)ǆ/`, `/(?i)ß/`, `/(?i)µ/`, `/(?i)ǅemal/`, `/[[:upper:]][[:lower:]]+/`,
	`/\w+@\w+/`, `/\x{1F6AB}/`, `/[🚫-🚬]/`, `/[^\x00-\x7F]{2}/`, `/.{150}/`, `/(a|b|c|d|e)+\d/`,
	`/^$|^x/`, `/\\Users/`, `/%|_/`, `/[%_]/`, `/'/`, `/"/`, `/\//`, `/\)/`, `/x{150}/`,
	`message:/(?i)^[^a-z]*$/`, `user:/^\S+$/`, `http.path:/(?i)API/`, `sql:/--$/`,
	`*%*`, `*_*`, `*\*`, `*'*`, `C:*admin`, `*ß*`, `*ǅ*`, `*µ*`, `*Σ*`, `*ς*`, `*\u212a*`,
	`path:C:*`, `http.path:*42`, `service:*e*`, `host:*-*`, `logger:*.*`, `env:*o*`, `message:*%*`,
}

// TestPatternsClickHouse runs patternQueries on ClickHouse: no error, and
// the rows Match selects.
func TestPatternsClickHouse(t *testing.T) {
	conn := logsTable(t)
	for _, text := range patternQueries {
		q := mustParse(t, text)
		var want []uint32
		for _, r := range rows {
			if r.tenant == "acme" && q.Match(&r.e) {
				want = append(want, r.id)
			}
		}
		if got := selectIDs(t, conn, "acme", q); !reflect.DeepEqual(got, want) {
			where, args := q.SQL()
			t.Errorf("%q: ClickHouse selects %v, Match %v\n%s %q", text, got, want, where, args)
		}
	}
}
