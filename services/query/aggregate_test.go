package query

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixture is a query Service over a migrated store holding rows, and an API
// key with the query scope per tenant.
type fixture struct {
	svc  *Service
	st   *store.Store
	rows []store.Row
	keys map[string]string // tenant → full API key
}

func newFixture(tb testing.TB, rows []store.Row) *fixture {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(tb), Database: testenv.Database(tb)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	if err := st.Insert(ctx, rows); err != nil {
		tb.Fatalf("insert: %v", err)
	}
	table := auth.NewKeyTable()
	f := &fixture{st: st, rows: rows, keys: map[string]string{}}
	for _, tenant := range []string{"acme", "globex"} {
		id, secret, full := auth.NewKeySecret()
		b, _ := json.Marshal(auth.Key{ID: id, TenantID: tenant, Scopes: []auth.Scope{auth.ScopeQuery}, Hash: auth.HashSecret(secret)})
		if err := table.Apply(auth.KVKey(tenant, id), b, false); err != nil {
			tb.Fatal(err)
		}
		f.keys[tenant] = full
	}
	f.svc = New(Config{}, slog.New(slog.DiscardHandler), &auth.Authenticator{Keys: table, MissWait: -1}, st)
	return f
}

func (f *fixture) ctx(tenant string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+f.keys[tenant]))
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var services = []string{"web", "worker", "api", "db", "cron", "mail", "auth"}

// genRows makes a tenant's events over the 10 minutes from t0: none in
// minutes 3 and 7, skewed over services (web most), levels cycling, most
// with a duration_ms and a user_id, some with a region, a few just outside
// the range on either side.
func genRows(tenant string, seq uint64, seed uint64) []store.Row {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var rows []store.Row
	add := func(at time.Time, e event.Event) {
		e.Time = at.UnixNano()
		rows = append(rows, store.Row{Tenant: tenant, RetentionDays: 7, Seq: seq, Idx: uint32(len(rows)), Event: e})
	}
	levels := []string{"info", "info", "warn", "error", "info", "debug"}
	for m := range 10 {
		if m == 3 || m == 7 {
			continue
		}
		for j := range 8 + 5*m {
			e := event.Event{
				Level:   levels[(j+m)%len(levels)],
				Message: fmt.Sprintf("GET /api/%d", j),
				Service: services[min(int(rng.ExpFloat64()*1.3), len(services)-1)],
				Host:    fmt.Sprintf("host-%d", rng.IntN(4)),
			}
			if j%4 != 0 {
				d := math.Round(rng.Float64()*2000) / 10
				e.NumAttrs = append(e.NumAttrs, event.NumAttr{Key: "duration_ms", Value: d})
				e.Attrs = append(e.Attrs, event.Attr{Key: "duration_ms", Value: strconv.FormatFloat(d, 'f', -1, 64)})
			}
			if j%3 != 0 {
				e.Attrs = append(e.Attrs, event.Attr{Key: "user_id", Value: fmt.Sprintf("u%d", rng.IntN(25))})
			}
			if j%5 == 1 {
				e.Attrs = append(e.Attrs, event.Attr{Key: "region", Value: []string{"eu", "us"}[rng.IntN(2)]})
			}
			if j%2 == 0 { // a promoted attribute (pkg/promoted)
				e.Attrs = append(e.Attrs, event.Attr{Key: "path", Value: fmt.Sprintf("/api/%d", j%3)})
			}
			at := t0.Add(time.Duration(m)*time.Minute + time.Duration(rng.Int64N(int64(time.Minute))))
			add(at, e)
		}
	}
	add(t0.Add(-time.Nanosecond), event.Event{Level: "error", Service: "web"})
	add(t0.Add(10*time.Minute), event.Event{Level: "error", Service: "web"})
	return rows
}

func testRows() []store.Row {
	return append(genRows("acme", 1, 7), genRows("globex", 2, 99)...)
}

// reference computes the table an analysis must give, in Go, from the same
// rows: the semantics Aggregate documents, written plainly.
func reference(rows []store.Row, tenant string, q *lql.Query, from, to time.Time, a *lql.Analysis, limit int) [][]any {
	var evs []event.Event
	for _, r := range rows {
		if r.Tenant == tenant && r.Time >= from.UnixNano() && r.Time < to.UnixNano() && q.Match(&r.Event) {
			evs = append(evs, r.Event)
		}
	}
	key := func(e event.Event) string {
		var parts []string
		for _, f := range a.By {
			parts = append(parts, fieldValue(e, f))
		}
		return strings.Join(parts, "\x00")
	}
	groups := map[string][]event.Event{}
	for _, e := range evs {
		groups[key(e)] = append(groups[key(e)], e)
	}
	seconds := to.Sub(from).Seconds()
	if a.Interval > 0 {
		seconds = a.Interval.Seconds()
	}
	var ranked []string
	for k := range groups {
		ranked = append(ranked, k)
	}
	slices.SortFunc(ranked, func(x, y string) int {
		vx, _ := aggregate(groups[x], a.Aggs[0], seconds)
		vy, _ := aggregate(groups[y], a.Aggs[0], seconds)
		return cmp.Or(cmp.Compare(vy, vx), strings.Compare(x, y))
	})
	other := len(a.By) > 0 && len(ranked) > limit
	if other {
		ranked = ranked[:limit]
	}
	inTop := map[string]bool{}
	for _, k := range ranked {
		inTop[k] = true
	}
	type series struct {
		key   string
		other bool
	}
	var all []series
	for _, k := range ranked {
		all = append(all, series{key: k})
	}
	if len(a.By) == 0 {
		all = []series{{key: ""}}
	}
	if other {
		all = append(all, series{other: true})
	}
	row := func(s series, sel func(event.Event) bool) []any {
		var out []any
		for i := range a.By {
			if s.other {
				out = append(out, nil)
			} else {
				out = append(out, strings.Split(s.key, "\x00")[i])
			}
		}
		var es []event.Event
		for _, e := range evs {
			if sel(e) && (s.other && !inTop[key(e)] || !s.other && key(e) == s.key) {
				es = append(es, e)
			}
		}
		for _, g := range a.Aggs {
			v, ok := aggregate(es, g, seconds)
			if !ok {
				out = append(out, nil)
			} else {
				out = append(out, v)
			}
		}
		return out
	}
	var table [][]any
	if a.Interval == 0 {
		for _, s := range all {
			table = append(table, row(s, func(event.Event) bool { return true }))
		}
		return table
	}
	w := int64(a.Interval / time.Second)
	first := floorDiv(from.Unix(), w) * w
	for b := first; b < to.Unix()+boolInt(to.UnixNano()%1e9 != 0); b += w {
		for _, s := range all {
			r := row(s, func(e event.Event) bool { return floorDiv(e.Time, 1e9)/w*w == b })
			table = append(table, append([]any{time.Unix(b, 0).UTC().Format(time.RFC3339)}, r...))
		}
	}
	return table
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func fieldValue(e event.Event, f string) string {
	switch f {
	case "level":
		return e.Level
	case "service":
		return e.Service
	case "host":
		return e.Host
	case "message":
		return e.Message
	}
	for _, at := range e.Attrs {
		if at.Key == f {
			return at.Value
		}
	}
	return ""
}

// aggregate computes g over es; ok is false when it has no value.
func aggregate(es []event.Event, g lql.Agg, seconds float64) (v float64, ok bool) {
	var nums []float64
	distinct := map[string]bool{}
	for _, e := range es {
		for _, n := range e.NumAttrs {
			if n.Key == g.Field {
				nums = append(nums, n.Value)
				break
			}
		}
		if s := fieldValue(e, g.Field); s != "" || hasAttr(e, g.Field) {
			distinct[s] = true
		}
	}
	slices.Sort(nums)
	switch g.Func {
	case "count":
		return float64(len(es)), true
	case "rate":
		return float64(len(es)) / seconds, true
	case "count_distinct":
		return float64(len(distinct)), true
	case "sum":
		for _, n := range nums {
			v += n
		}
		return v, true
	}
	if len(nums) == 0 {
		return 0, false
	}
	switch g.Func {
	case "avg":
		for _, n := range nums {
			v += n
		}
		return v / float64(len(nums)), true
	case "min":
		return nums[0], true
	case "max":
		return nums[len(nums)-1], true
	}
	p, _ := strconv.Atoi(g.Func[1:])
	level := float64(p) / 100
	return nums[min(int(level*float64(len(nums))), len(nums)-1)], true
}

func hasAttr(e event.Event, k string) bool {
	for _, a := range e.Attrs {
		if a.Key == k {
			return true
		}
	}
	return false
}

// plain turns API rows into Go values: strings, float64s and nils.
func plain(rows []*structpb.ListValue) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = r.AsSlice()
	}
	return out
}

// sameTable compares tables, numbers with a relative tolerance of 1e-9
// (ClickHouse sums floats in another order).
func sameTable(tb testing.TB, what string, got, want [][]any) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d rows, want %d\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			tb.Fatalf("%s: row %d has %d cells, want %d", what, i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			g, w := got[i][j], want[i][j]
			gf, gok := g.(float64)
			wf, wok := w.(float64)
			if gok && wok && math.Abs(gf-wf) <= 1e-9*math.Max(1, math.Abs(wf)) {
				continue
			}
			if g != w {
				tb.Fatalf("%s: row %d col %d = %#v, want %#v\n got %v\nwant %v", what, i, j, g, w, got[i], want[i])
			}
		}
	}
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

func (f *fixture) aggregate(tb testing.TB, tenant string, req *sawmillv1.AggregateRequest) *sawmillv1.AggregateResponse {
	tb.Helper()
	if req.From == nil {
		req.From, req.To = ts(t0), ts(t0.Add(10*time.Minute))
	}
	resp, err := f.svc.Aggregate(f.ctx(tenant), req)
	if err != nil {
		tb.Fatalf("Aggregate(%q): %v", req.GetQuery(), err)
	}
	return resp
}

// check runs a piped query for tenant over [t0, t0+10m) and compares it
// with the reference.
func (f *fixture) check(t *testing.T, tenant, query string, limit int) *sawmillv1.AggregateResponse {
	t.Helper()
	resp := f.aggregate(t, tenant, &sawmillv1.AggregateRequest{Query: query, Limit: int32(limit)})
	q, err := lql.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	a := q.Pipeline().Analysis
	if limit == 0 {
		limit = defaultGroups
		if a.Interval > 0 {
			limit = defaultSeries
		}
	}
	want := reference(f.rows, tenant, q, t0, t0.Add(10*time.Minute), a, limit)
	sameTable(t, query, plain(resp.Rows), want)
	var names []string
	for _, c := range resp.Columns {
		names = append(names, c.Name+":"+c.Type)
	}
	var wantNames []string
	for _, c := range a.Columns() {
		wantNames = append(wantNames, c.Name+":"+c.Type)
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("%s: columns %v, want %v", query, names, wantNames)
	}
	return resp
}

func TestAggregate(t *testing.T) {
	f := newFixture(t, testRows())
	for _, c := range []struct {
		tenant, query string
		limit         int
	}{
		{"acme", "| timechart 1m count()", 0},
		{"acme", "| timechart 1m count() by level", 0},
		{"acme", "level:error | timechart 1m count(), rate()", 0},
		{"acme", "| timechart 2m count() by service", 3},
		{"acme", "| timechart 5m count(), sum(duration_ms), rate(), avg(duration_ms) by service, level", 4},
		{"acme", "| timechart 1m p95(duration_ms), max(duration_ms) by host", 0},
		{"acme", "| stats count()", 0},
		{"acme", "| stats count(), count_distinct(user_id), count_distinct(host), count_distinct(duration_ms), rate()", 0},
		{"acme", "| stats count(), avg(duration_ms), min(duration_ms), max(duration_ms), sum(duration_ms), p50(duration_ms), p90(duration_ms), p95(duration_ms), p99(duration_ms) by service", 0},
		{"acme", "| stats count(), avg(duration_ms), p99(duration_ms), rate() by service", 3},
		{"acme", "| stats sum(duration_ms), count() by level, host", 5},
		{"acme", "| stats count() by region", 0},
		{"acme", "| stats count(), p95(duration_ms), avg(duration), count_distinct(path) by path", 0},
		{"acme", "| timechart 2m p50(duration_ms), min(duration_ms) by path", 2},
		{"acme", "-level:debug | stats count_distinct(user_id) by host", 0},
		{"acme", "nothing-matches | stats count(), avg(duration_ms), sum(duration_ms)", 0},
		{"acme", "nothing-matches | timechart 1m count(), p50(duration_ms) by level", 0},
		{"acme", "| stats avg(no_such_number), count()", 0},
		{"globex", "| timechart 1m count() by level", 0},
		{"globex", "| stats count(), p95(duration_ms) by service", 2},
	} {
		t.Run(c.tenant+" "+c.query, func(t *testing.T) { f.check(t, c.tenant, c.query, c.limit) })
	}
}

// TestTimechartFilled spells out the expectation of one timechart instead of
// trusting the reference: one row per minute in order, empty minutes as 0.
func TestTimechartFilled(t *testing.T) {
	rows := []store.Row{}
	for i, m := range []int{0, 0, 1, 4, 4, 4} {
		rows = append(rows, store.Row{Tenant: "acme", RetentionDays: 7, Seq: 1, Idx: uint32(i),
			Event: event.Event{Time: t0.Add(time.Duration(m)*time.Minute + time.Second).UnixNano(), Level: "info",
				NumAttrs: []event.NumAttr{{Key: "duration_ms", Value: float64(10 * (i + 1))}}}})
	}
	f := newFixture(t, rows)
	resp := f.aggregate(t, "acme", &sawmillv1.AggregateRequest{
		Query: "| timechart 1m count(), avg(duration_ms), rate()", From: ts(t0), To: ts(t0.Add(5 * time.Minute)),
	})
	want := [][]any{
		{"2026-11-01T12:00:00Z", 2.0, 15.0, 2.0 / 60},
		{"2026-11-01T12:01:00Z", 1.0, 30.0, 1.0 / 60},
		{"2026-11-01T12:02:00Z", 0.0, nil, 0.0},
		{"2026-11-01T12:03:00Z", 0.0, nil, 0.0},
		{"2026-11-01T12:04:00Z", 3.0, 50.0, 3.0 / 60},
	}
	sameTable(t, "timechart", plain(resp.Rows), want)
	// A range that starts and ends inside minutes covers both partial ones.
	resp = f.aggregate(t, "acme", &sawmillv1.AggregateRequest{
		Query: "| timechart 1m count()", From: ts(t0.Add(30 * time.Second)), To: ts(t0.Add(90 * time.Second)),
	})
	sameTable(t, "partial", plain(resp.Rows), [][]any{{"2026-11-01T12:00:00Z", 0.0}, {"2026-11-01T12:01:00Z", 1.0}})
}

// TestTopNOther checks the "other" row against the events of the groups
// left out, spelled out.
func TestTopNOther(t *testing.T) {
	f := newFixture(t, testRows())
	resp := f.aggregate(t, "acme", &sawmillv1.AggregateRequest{Query: "| stats count() by service", Limit: 2})
	got := plain(resp.Rows)
	counts := map[string]float64{}
	var total float64
	for _, r := range f.rows {
		if r.Tenant == "acme" && r.Time >= t0.UnixNano() && r.Time < t0.Add(10*time.Minute).UnixNano() {
			counts[r.Service]++
			total++
		}
	}
	if len(got) != 3 || got[2][0] != nil {
		t.Fatalf("want 2 groups and other, got %v", got)
	}
	if got[0][0] != "web" || got[0][1] != counts["web"] || got[1][1] != counts[got[1][0].(string)] {
		t.Fatalf("top groups %v, counts %v", got, counts)
	}
	if other := got[2][1].(float64); other != total-got[0][1].(float64)-got[1][1].(float64) {
		t.Fatalf("other = %v, want %v", other, total-got[0][1].(float64)-got[1][1].(float64))
	}
}

// TestStructuredRequest checks that AggregateRequest's fields give what the
// equivalent pipe gives, and that table pipes still apply.
func TestStructuredRequest(t *testing.T) {
	f := newFixture(t, testRows())
	pipe := f.aggregate(t, "acme", &sawmillv1.AggregateRequest{Query: "level:error | timechart 1m count(), p95(duration_ms) by service", Limit: 3})
	fields := f.aggregate(t, "acme", &sawmillv1.AggregateRequest{
		Query: "level:error", Interval: "1m", GroupBy: []string{"service"}, Aggregations: []string{"count()", "P95( duration_ms )"}, Limit: 3,
	})
	sameTable(t, "structured", plain(fields.Rows), plain(pipe.Rows))
	dflt := f.aggregate(t, "acme", &sawmillv1.AggregateRequest{Query: "| fields count()"})
	if len(dflt.Rows) != 1 || len(dflt.Columns) != 1 || dflt.Columns[0].Name != "count()" {
		t.Fatalf("default aggregation: %v %v", dflt.Columns, dflt.Rows)
	}
}

func TestTablePipes(t *testing.T) {
	f := newFixture(t, testRows())
	base := f.aggregate(t, "acme", &sawmillv1.AggregateRequest{Query: "| stats count(), avg(duration_ms) by service"})
	rows := plain(base.Rows)
	byAvg := slices.Clone(rows)
	slices.SortStableFunc(byAvg, func(x, y []any) int { return cmp.Compare(x[2].(float64), y[2].(float64)) })
	cases := []struct {
		query string
		want  [][]any
	}{
		{"| stats count(), avg(duration_ms) by service | sort avg(duration_ms)", byAvg},
		{"| stats count(), avg(duration_ms) by service | sort avg(duration_ms) asc | limit 2", byAvg[:2]},
		{"| stats count(), avg(duration_ms) by service | limit 1 | fields count(), service", [][]any{{rows[0][1], rows[0][0]}}},
		{"| stats count(), avg(duration_ms) by service | sort service desc | fields service | limit 2", func() [][]any {
			names := []string{}
			for _, r := range rows {
				names = append(names, r[0].(string))
			}
			slices.Sort(names)
			slices.Reverse(names)
			return [][]any{{names[0]}, {names[1]}}
		}()},
	}
	for _, c := range cases {
		resp := f.aggregate(t, "acme", &sawmillv1.AggregateRequest{Query: c.query})
		sameTable(t, c.query, plain(resp.Rows), c.want)
	}
}

// TestTenantIsolation checks that no aggregation counts another tenant's
// rows, even when the groups have the same names.
func TestTenantIsolation(t *testing.T) {
	f := newFixture(t, testRows())
	for _, tenant := range []string{"acme", "globex"} {
		var n float64
		for _, r := range f.rows {
			if r.Tenant == tenant && r.Time >= t0.UnixNano() && r.Time < t0.Add(10*time.Minute).UnixNano() {
				n++
			}
		}
		for _, q := range []string{"| stats count()", "tenant_id:acme OR -tenant_id:acme | stats count()"} {
			resp := f.aggregate(t, tenant, &sawmillv1.AggregateRequest{Query: q})
			if got := resp.Rows[0].Values[0].GetNumberValue(); got != n {
				t.Fatalf("%s %q: count %v, want %v", tenant, q, got, n)
			}
		}
		resp := f.aggregate(t, tenant, &sawmillv1.AggregateRequest{Query: "| timechart 1m count() by level", Limit: 100})
		var sum float64
		for _, r := range resp.Rows {
			sum += r.Values[2].GetNumberValue()
		}
		if sum != n {
			t.Fatalf("%s: timechart sums to %v, want %v", tenant, sum, n)
		}
	}
}

// TestSearchTable runs "| stats" through POST /v1/search on a real server.
func TestSearchTable(t *testing.T) {
	f := newFixture(t, testRows())
	srv := server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err := f.svc.Register(context.Background(), srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+srv.HTTPAddr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.keys["acme"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, b)
		}
		return resp.StatusCode, m
	}
	rng := `"from": "2026-11-01T12:00:00Z", "to": "2026-11-01T12:10:00Z"`
	code, m := post("/v1/search", `{"query": "level:error | stats count(), p95(duration_ms) by service | sort count() desc | limit 3", `+rng+`}`)
	if code != 200 {
		t.Fatalf("search: %d %v", code, m)
	}
	q, _ := lql.Parse("level:error | stats count(), p95(duration_ms) by service")
	want := reference(f.rows, "acme", q, t0, t0.Add(10*time.Minute), q.Pipeline().Analysis, defaultGroups)
	got := m["rows"].([]any)
	if len(got) != 3 || len(m["events"].([]any)) != 0 {
		t.Fatalf("search table: %v", m)
	}
	for i, r := range got {
		sameTable(t, "search", [][]any{r.([]any)}, want[i:i+1])
	}
	cols, _ := json.Marshal(m["columns"])
	if string(cols) != `[{"name":"service","type":"string"},{"name":"count()","type":"number"},{"name":"p95(duration_ms)","type":"number"}]` {
		t.Fatalf("columns %s", cols)
	}
	code, m = post("/v1/aggregate", `{"query": "level:error", "interval": "5m", "aggregations": ["count()"], `+rng+`}`)
	if code != 200 || len(m["rows"].([]any)) != 2 {
		t.Fatalf("aggregate: %d %v", code, m)
	}
	code, m = post("/v1/aggregate", `{"query": "| stats nope(x)", `+rng+`}`)
	if code != 400 || !strings.Contains(m["message"].(string), `unknown function "nope"`) {
		t.Fatalf("bad function: %d %v", code, m)
	}
}

func TestAggregateErrors(t *testing.T) {
	f := newFixture(t, nil)
	long := &sawmillv1.AggregateRequest{Query: "| timechart 1s count()", From: ts(t0), To: ts(t0.Add(time.Hour))}
	for _, c := range []struct {
		req  *sawmillv1.AggregateRequest
		want string
	}{
		{&sawmillv1.AggregateRequest{Query: "| stats median(x)"}, `query: at 8: unknown function "median"; use count(), count_distinct(f), sum(f), avg(f), min(f), max(f), p50(f), p90(f), p95(f), p99(f) (any p1 to p99) or rate()`},
		{&sawmillv1.AggregateRequest{Query: "error | stats count() by"}, `query: at 22: expected field names after "by"`},
		{&sawmillv1.AggregateRequest{Query: "(error | stats count()"}, `query: at 0: unclosed "("`},
		{&sawmillv1.AggregateRequest{Query: "| stats avg(service)"}, `query: at 12: avg needs a numeric attribute such as duration_ms; service is a text field`},
		{&sawmillv1.AggregateRequest{Query: "| stats count() | sort p95(x)"}, `query: at 18: sort: no column "p95(x)"; the columns are count()`},
		{&sawmillv1.AggregateRequest{Query: "| stats count()", Interval: "1m"}, `give the aggregation either as a stats or timechart pipe in query or as interval, group_by and aggregations, not both`},
		{&sawmillv1.AggregateRequest{Aggregations: []string{"count()", "p101(x)"}}, `aggregation: aggregations[1]: at 0: unknown function "p101"; use count(), count_distinct(f), sum(f), avg(f), min(f), max(f), p50(f), p90(f), p95(f), p99(f) (any p1 to p99) or rate()`},
		{&sawmillv1.AggregateRequest{Interval: "1 minute"}, `aggregation: interval: invalid interval "1 minute"; write a whole number and s, m, h or d, e.g. 30s, 1m, 1h, 1d`},
		{&sawmillv1.AggregateRequest{GroupBy: []string{"a b"}}, `aggregation: group_by[0]: invalid character in field name "a b"`},
		{&sawmillv1.AggregateRequest{Query: "| stats count()", Limit: 1001}, `limit 1001 exceeds the maximum of 1000 groups`},
		{long, `interval 1s makes 3600 time buckets over this range; the most is 1500: widen the interval (to 5s or more) or narrow the range`},
	} {
		if c.req.From == nil {
			c.req.From, c.req.To = ts(t0), ts(t0.Add(10*time.Minute))
		}
		_, err := f.svc.Aggregate(f.ctx("acme"), c.req)
		ae := apierr.From(err)
		if err == nil || ae.Code != apierr.Invalid || ae.Message != c.want {
			t.Errorf("Aggregate(%+v):\n got %v\nwant %s", c.req, err, c.want)
		}
	}
	// Search: pipes on a plain search and a cursor with a table.
	for _, c := range []struct {
		req  *sawmillv1.SearchRequest
		want string
	}{
		{&sawmillv1.SearchRequest{Query: "error | fields message"}, "query: at 8: | fields on a plain search is not supported yet; start the pipes with stats or timechart"},
		{&sawmillv1.SearchRequest{Query: "| stats count()", Cursor: "abc"}, "cursor: a stats or timechart table has no pages"},
		{&sawmillv1.SearchRequest{Query: "| stats count() | bogus"}, `query: at 18: unknown pipe "bogus"; use stats, timechart, sort, limit or fields`},
	} {
		c.req.From, c.req.To = ts(t0), ts(t0.Add(10*time.Minute))
		_, err := f.svc.Search(f.ctx("acme"), c.req)
		ae := apierr.From(err)
		if err == nil || ae.Code != apierr.Invalid || ae.Message != c.want {
			t.Errorf("Search(%q):\n got %v\nwant %s", c.req.Query, err, c.want)
		}
	}
}

// BenchmarkCompileAggregate measures what a request costs before ClickHouse
// sees it: parsing the query and building the ranking and timechart
// statements with their arguments.
func BenchmarkCompileAggregate(b *testing.B) {
	const text = `level:error service:web -host:web-2 | timechart 1m count(), p95(duration_ms), count_distinct(user_id) by service, region | sort count() desc`
	top := [][]string{{"web", "eu"}, {"api", "us"}, {"worker", ""}}
	b.ReportAllocs()
	for b.Loop() {
		q, err := parseQuery(text)
		if err != nil {
			b.Fatal(err)
		}
		sc := scope{tenant: "acme", from: t0, to: t0.Add(time.Hour), q: q}
		rankedGroupsSQL(sc, q.Pipeline().Analysis, 11, false)
		timechartSQL(sc, q.Pipeline().Analysis, top, true)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/query")
}
