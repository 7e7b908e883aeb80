package query

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
	"github.com/sawmillhq/sawmill/pkg/lql"
)

func TestDashboardCRUD(t *testing.T) {
	e := newSavedEnv(t, nil)
	d := e.must(t, 200, "acme", "POST", "/v1/dashboards", `{"name": "Web", "panels": [
		{"name": "errors", "query": "level:error", "kind": "events"},
		{"name": "traffic", "query": "service:web", "kind": "timeseries", "interval": "5m"}]}`)
	id := d["id"].(string)
	panels, _ := json.Marshal(d["panels"])
	want := `[{"interval":"","kind":"events","name":"errors","query":"level:error"},{"interval":"5m","kind":"timeseries","name":"traffic","query":"service:web"}]`
	if string(panels) != want || d["name"] != "Web" {
		t.Fatalf("create: %v\n panels %s\n  want %s", d, panels, want)
	}
	if got, _ := json.Marshal(e.must(t, 200, "acme", "GET", "/v1/dashboards/"+id, "")); string(got) != mustJSON(t, d) {
		t.Fatalf("get %s, want %s", got, mustJSON(t, d))
	}
	e.must(t, 200, "acme", "POST", "/v1/dashboards", `{"name": "api"}`)
	if got := names(e.must(t, 200, "acme", "GET", "/v1/dashboards", "")["dashboards"].([]any)); strings.Join(got, ",") != "api,Web" {
		t.Fatalf("list: %v", got)
	}
	u := e.must(t, 200, "acme", "PUT", "/v1/dashboards/"+id, `{"name": "Web 2", "panels": [{"name": "n", "query": "", "kind": "number"}]}`)
	if u["name"] != "Web 2" || len(u["panels"].([]any)) != 1 || u["created_at"] != d["created_at"] {
		t.Fatalf("update: %v", u)
	}
	if got := e.must(t, 200, "acme", "GET", "/v1/dashboards/"+id, ""); got["name"] != "Web 2" {
		t.Fatalf("after update: %v", got)
	}
	e.must(t, 200, "acme", "DELETE", "/v1/dashboards/"+id, "")
	e.must(t, 404, "acme", "GET", "/v1/dashboards/"+id, "")
	e.must(t, 404, "acme", "DELETE", "/v1/dashboards/"+id, "")
	if got := names(e.must(t, 200, "acme", "GET", "/v1/dashboards", "")["dashboards"].([]any)); strings.Join(got, ",") != "api" {
		t.Fatalf("list after delete: %v", got)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestDashboardValidation(t *testing.T) {
	e := newSavedEnv(t, nil)
	panel := func(name, query, kind, interval string) string {
		return fmt.Sprintf(`{"name": %q, "query": %q, "kind": %q, "interval": %q}`, name, query, kind, interval)
	}
	ok := panel("ok", "", "events", "")
	var many []string
	for range 21 {
		many = append(many, ok)
	}
	for _, c := range []struct {
		panels  string
		message string
		details string
	}{
		{strings.Join(many, ","), "a dashboard has at most 20 panels, not 21", ""},
		{panel("p", "", "pie", ""), `panels[0]: kind "pie": use one of timeseries, bar, table, events, number`, `{"panel":0}`},
		{panel("", "", "events", ""), `panels[0]: name must be 1 to 100 characters`, `{"panel":0}`},
		{ok + "," + panel("p", "level:error OR", "table", ""), `panels[1]: query: at 14: expected a term after "OR"`, `{"panel":1,"position":14}`},
		{panel("p", "x", "timeseries", "1 minute"), `panels[0]: interval: invalid interval "1 minute"; write a whole number and s, m, h or d, e.g. 30s, 1m, 1h, 1d`, `{"panel":0}`},
		{panel("p", "x | stats count()", "events", ""), `panels[0]: an events panel shows a plain search: remove the pipes or choose another kind`, `{"panel":0}`},
		{panel("p", "x | stats count()", "timeseries", ""), `panels[0]: a timeseries panel needs a timechart pipe, not stats (or no pipe: it then counts per interval)`, `{"panel":0}`},
		{panel("p", "x", "events", "1m"), `panels[0]: interval applies only to a timeseries panel whose query has no timechart pipe`, `{"panel":0}`},
		{panel("p", "x | timechart 1m count()", "timeseries", "1m"), `panels[0]: interval applies only to a timeseries panel whose query has no timechart pipe`, `{"panel":0}`},
		{panel("p", "error | sort message", "table", ""), `panels[0]: query: at 8: start the pipes with stats or timechart`, `{"panel":0,"position":8}`},
		{panel("p", "error | sort nope", "timeseries", "1m"), `panels[0]: query: at 8: sort: no column "nope"; the columns are time, count()`, `{"panel":0,"position":8}`},
	} {
		for _, m := range []string{"POST", "PUT"} {
			path := "/v1/dashboards"
			if m == "PUT" {
				path = "/v1/dashboards/" + e.must(t, 200, "acme", "POST", "/v1/dashboards", `{"name": "target"}`)["id"].(string)
			}
			code, got := e.call(t, "acme", m, path, `{"name": "d", "panels": [`+c.panels+`]}`)
			if code != 400 || got["message"] != c.message {
				t.Errorf("%s %.60s: %d %v\nwant 400 %s", m, c.panels, code, got["message"], c.message)
				continue
			}
			if d := got["details"]; c.details != "" && mustJSON(t, d) != c.details {
				t.Errorf("%.60s: details %s, want %s", c.panels, mustJSON(t, d), c.details)
			}
		}
	}
	code, got := e.call(t, "acme", "POST", "/v1/dashboards", `{"name": "", "panels": []}`)
	if code != 400 || got["message"] != "name must be 1 to 100 characters" {
		t.Fatalf("empty name: %d %v", code, got)
	}
	// Nothing invalid was stored (only the PUT targets, unchanged).
	for _, d := range e.must(t, 200, "acme", "GET", "/v1/dashboards", "")["dashboards"].([]any) {
		if d := d.(map[string]any); d["name"] != "target" || len(d["panels"].([]any)) != 0 {
			t.Fatalf("stored %v", d)
		}
	}
	// The data endpoint needs a valid range.
	id := e.must(t, 200, "acme", "POST", "/v1/dashboards", `{"name": "r", "panels": [`+ok+`]}`)["id"].(string)
	for q, want := range map[string]string{
		"": "from and to are required (RFC 3339 times)",
		"?from=2026-11-01T12:00:00Z&to=2026-11-01T11:00:00Z": "to must be after from",
		"?from=yesterday&to=2026-11-01T11:00:00Z":            "",
	} {
		code, got := e.call(t, "acme", "GET", "/v1/dashboards/"+id+"/data"+q, "")
		if code != 400 || want != "" && got["message"] != want {
			t.Errorf("data%s: %d %v, want 400 %q", q, code, got, want)
		}
	}
}

// dashRows turns JSON rows into what sameTable compares.
func dashRows(v any) [][]any {
	var out [][]any
	for _, r := range v.([]any) {
		out = append(out, r.([]any))
	}
	return out
}

// TestDashboardData evaluates a dashboard over real ClickHouse data: every
// panel equals what the query API (or the Go reference) gives for it, and
// the panels that fail report why without failing the others.
func TestDashboardData(t *testing.T) {
	e := newSavedEnv(t, testRows())
	// The range reaches 20 minutes back, so that "timechart 1s" makes too
	// many buckets (1800 > 1500) and fails.
	from, to := t0.Add(-20*time.Minute), t0.Add(10*time.Minute)
	body := `{"name": "ops", "panels": [
		{"name": "errors", "query": "level:error", "kind": "events"},
		{"name": "web traffic", "query": "service:web", "kind": "timeseries", "interval": "1m"},
		{"name": "by service", "query": "| stats count(), avg(duration_ms) by service", "kind": "table"},
		{"name": "too fine", "query": "| timechart 1s count()", "kind": "timeseries"},
		{"name": "auto", "query": "", "kind": "timeseries"},
		{"name": "total", "query": "level:warn", "kind": "number"}]}`
	id := e.must(t, 200, "acme", "POST", "/v1/dashboards", body)["id"].(string)
	rng := "?from=" + from.Format(time.RFC3339) + "&to=" + to.Format(time.RFC3339)
	data := e.must(t, 200, "acme", "GET", "/v1/dashboards/"+id+"/data"+rng, "")
	panels := data["panels"].([]any)
	if len(panels) != 6 {
		t.Fatalf("%d panels", len(panels))
	}
	p := func(i int) map[string]any { return panels[i].(map[string]any) }
	for i, name := range []string{"errors", "web traffic", "by service", "too fine", "auto", "total"} {
		if p(i)["name"] != name {
			t.Fatalf("panel %d is %v, want %s", i, p(i)["name"], name)
		}
		if wantErr := i == 3; (p(i)["error"] != "") != wantErr {
			t.Fatalf("panel %s: error %q", name, p(i)["error"])
		}
	}
	ref := func(query string, limit int) [][]any {
		q, err := lql.Parse(query)
		if err != nil {
			t.Fatal(err)
		}
		return reference(e.rows, "acme", q, from, to, q.Pipeline().Analysis, limit)
	}

	// events: what POST /v1/search returns, all errors, newest first.
	search, err := e.svc.Search(e.ctx("acme"), &sawmillv1.SearchRequest{Query: "level:error", From: ts(from), To: ts(to)})
	if err != nil {
		t.Fatal(err)
	}
	evs := p(0)["events"].([]any)
	if n := ref("level:error | stats count()", 0)[0][0].(float64); len(evs) != int(n) || len(evs) != len(search.Events) || n == 0 {
		t.Fatalf("events: %d, search %d, reference %v", len(evs), len(search.Events), n)
	}
	for i, ev := range evs {
		ev := ev.(map[string]any)
		if ev["level"] != "error" || ev["id"] != search.Events[i].GetId() {
			t.Fatalf("event %d: %v, search gave %v", i, ev, search.Events[i])
		}
	}
	// timeseries without a pipe: "| timechart 1m count()" semantics.
	sameTable(t, "web traffic", dashRows(p(1)["rows"]), ref("service:web | timechart 1m count()", defaultSeries))
	if cols := mustJSON(t, p(1)["columns"]); cols != `[{"name":"time","type":"time"},{"name":"count()","type":"number"}]` {
		t.Fatalf("timeseries columns %s", cols)
	}
	sameTable(t, "by service", dashRows(p(2)["rows"]), ref("| stats count(), avg(duration_ms) by service", defaultGroups))
	if msg := p(3)["error"].(string); !strings.HasPrefix(msg, "interval 1s makes 1800 time buckets over this range") || len(p(3)["rows"].([]any)) != 0 {
		t.Fatalf("bad panel: %v", p(3))
	}
	// No interval: the narrowest that gives at most 300 buckets, 10s here.
	sameTable(t, "auto", dashRows(p(4)["rows"]), ref("| timechart 10s count()", defaultSeries))
	sameTable(t, "total", dashRows(p(5)["rows"]), ref("level:warn | stats count()", defaultGroups))

	// A stored panel whose query no longer parses fails alone.
	bad := dashboardRecord{ID: "dbroken", Name: "broken", Panels: []panelRecord{
		{Name: "old", Query: "(unclosed", Kind: "events"}, {Name: "fine", Query: "| stats count()", Kind: "table"}}}
	raw, _ := json.Marshal(bad)
	if _, err := e.bus.Dashboards.Put(context.Background(), kvrecord.Key("acme", bad.ID), raw); err != nil {
		t.Fatal(err)
	}
	data = e.must(t, 200, "acme", "GET", "/v1/dashboards/dbroken/data"+rng, "")
	panels = data["panels"].([]any)
	if p(0)["error"] != `query: at 0: unclosed "("` || p(1)["error"] != "" {
		t.Fatalf("broken dashboard: %v", data)
	}
	sameTable(t, "fine", dashRows(p(1)["rows"]), ref("| stats count()", defaultGroups))
}

// TestDashboardConcurrency checks that panels run concurrently and never
// more than panelConcurrency at once. Each panel waits in the hook until
// panelConcurrency of them are in flight (a barrier, not a timer), so the
// maximum observed is exactly the bound when it holds, and more when the
// bound is broken.
func TestDashboardConcurrency(t *testing.T) {
	e := newSavedEnv(t, testRows())
	var (
		mu        sync.Mutex
		inFlight  int
		maxFlight int
		started   int
		full      = make(chan struct{})
	)
	hook := func() func() {
		mu.Lock()
		inFlight++
		started++
		maxFlight = max(maxFlight, inFlight)
		if inFlight == panelConcurrency {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		mu.Unlock()
		select {
		case <-full:
		case <-time.After(30 * time.Second): // only if the bound were below panelConcurrency
		}
		return func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}
	}
	e.state.panelHook.Store(&hook)
	var ps []string
	for i := range maxPanels {
		ps = append(ps, fmt.Sprintf(`{"name": "p%d", "query": "| stats count() by service", "kind": "table"}`, i))
	}
	id := e.must(t, 200, "acme", "POST", "/v1/dashboards", `{"name": "many", "panels": [`+strings.Join(ps, ",")+`]}`)["id"].(string)
	data := e.must(t, 200, "acme", "GET", "/v1/dashboards/"+id+"/data?from=2026-11-01T12:00:00Z&to=2026-11-01T12:10:00Z", "")
	panels := data["panels"].([]any)
	for i, p := range panels {
		if p := p.(map[string]any); p["name"] != fmt.Sprintf("p%d", i) || p["error"] != "" || len(p["rows"].([]any)) == 0 {
			t.Fatalf("panel %d: %v", i, p)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if started != maxPanels || maxFlight != panelConcurrency {
		t.Fatalf("%d panels started, at most %d at once; want %d and exactly %d", started, maxFlight, maxPanels, panelConcurrency)
	}
}
