package query

import (
	"slices"
	"testing"
	"time"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/lql"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// isolationRows are depthRows plus globex lines made to be found: its
// secrets in every field, attributes named like columns, and text that
// looks like SQL.
func isolationRows() []store.Row {
	rows := depthRows()
	for i, msg := range []string{"globex-secret", "' OR 1=1 --", `tenant_id = 'acme'`, "acme"} {
		e := event.Event{
			Time: t0.Add(time.Duration(i) * time.Second).UnixNano(), Level: "error", Message: msg,
			Service: "web", Host: "h1", RequestID: "req-1", Logger: "globex-secret",
			Attrs: []event.Attr{{Key: "tenant_id", Value: "acme"}, {Key: "secret", Value: "globex-secret"}},
		}
		rows = append(rows, store.Row{Tenant: "globex", RetentionDays: 7, Seq: 2, Idx: uint32(1000 + i), Event: e})
	}
	return rows
}

// FuzzSearchIsolation runs any string as acme's query with globex's rows in
// the same table. The answer is either a clean 400 (invalid_argument) or
// acme's rows only — exactly the ones lql's matcher selects — never a
// globex row and never a ClickHouse error. `go test` runs the seeds below;
// to explore further (it needs ClickHouse, which testenv starts):
//
//	go test ./services/query -run '^$' -fuzz FuzzSearchIsolation -fuzztime 2m
func FuzzSearchIsolation(f *testing.F) {
	for _, seed := range []string{
		"", "error", "globex-secret", "tenant_id:globex", "tenant_id:acme", "-tenant_id:acme",
		"' OR 1=1 --", `"' OR tenant_id != 'acme' OR '"`, `") OR (1=1`, `\' OR 1 --`,
		`message:"%"`, `message:_`, `"\\"`, `"\"`, "a\x00b", "\xff\xfe", "level:nope", "NOT", "OR OR",
		"(((((", "a:b:c", `host:h1 OR tenant_id:"globex"`, "secret:globex-secret", "*", "status:>500",
		"| stats count() by tenant_id", "| stats count() by secret", "globex | timechart 1m count()",
		"error | fields message", "| stats count() | sort tenant_id", "req-1", "request_id:req-1",
		"SELECT * FROM logs", "1) UNION ALL SELECT * FROM logs WHERE (1", "`tenant_id`", "$1 ? ?",
		"status_code:>=500", "level:>=warn", "time*out", "path:/api/*", "/(?i)globex/", "/(/",
		"has:secret", "secret:/glob.*/", "tenant_id:/.*/", "/globex/ OR has:tenant_id",
	} {
		f.Add(seed)
	}
	rows := isolationRows()
	fx := newFixture(f, rows)
	from, to := t0, t0.Add(10*time.Minute)
	f.Fuzz(func(t *testing.T, text string) {
		resp, err := fx.svc.Search(fx.ctx("acme"), &sawmillv1.SearchRequest{Query: text, From: ts(from), To: ts(to), Limit: 1000})
		if err != nil {
			if ae := apierr.From(err); ae.Code != apierr.Invalid {
				t.Fatalf("%q: %v, want a result or invalid_argument", text, err)
			}
			return
		}
		for _, e := range resp.Events {
			if c, err := decodeCursor(e.Id); err != nil || c.seq != 1 {
				t.Fatalf("%q: returned %q (id %q), not one of acme's rows", text, e.Message, e.Id)
			}
		}
		q, err := lql.Parse(text)
		if err != nil {
			t.Fatalf("%q: search accepted what Parse rejects: %v", text, err)
		}
		if q.Pipeline() != nil {
			return
		}
		var want []string
		for _, r := range rows {
			if r.Tenant == "acme" && r.Time >= from.UnixNano() && r.Time < to.UnixNano() && q.Match(&r.Event) {
				want = append(want, idOf(r))
			}
		}
		got := ids(resp.Events)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: search returned %d rows, the matcher selects %d", text, len(got), len(want))
		}
	})
}
