package esbulk

import (
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
)

var now = time.Date(2026, 11, 26, 10, 20, 0, 0, time.UTC)

// Payload shapes as the shippers write them.
const (
	// Fluent Bit es output (Suppress_Type_Name On), Kubernetes tail input.
	fluentBit = `{"create":{"_index":"fluent-bit"}}
{"@timestamp":"2026-11-26T10:15:30.123Z","log":"GET /api/orders/ 200","stream":"stdout","time":"2026-11-26T10:15:30.123456789Z","kubernetes":{"pod_name":"web-7d9f","namespace_name":"shop","labels":{"app":"web"}}}
{"index":{"_index":"fluent-bit","_type":"_doc"}}
{"@timestamp":"2026-11-26T10:15:31.000Z","log":"worker ready","stream":"stderr"}
`
	// Vector elasticsearch sink (bulk mode, action index).
	vector = `{"index":{"_index":"vector-2026.11.26"}}
{"host":"web-3","message":"GET /health 200","source_type":"file","file":"/var/log/app.log","timestamp":"2026-11-26T10:15:30.123456Z"}
`
	// Filebeat 8 (data stream: create), ECS document.
	filebeat = `{"create":{"_index":"filebeat-8.15.0","_id":"abc"}}
{"@timestamp":"2026-11-26T10:15:30.123Z","message":"payment failed","log":{"level":"error","offset":1234,"file":{"path":"/var/log/app.log"}},"ecs":{"version":"8.0.0"},"host":{"name":"web-3"},"service":{"name":"shop"},"agent":{"type":"filebeat","version":"8.15.0"}}
`
)

func TestDecodeShippers(t *testing.T) {
	f := func(name, body string, want []event.Event, wantIndex []string) {
		t.Helper()
		res := Decode([]byte(body), "", now, event.Limits{})
		if len(res.Items) != len(want) || len(res.Events) != len(want) {
			t.Fatalf("%s: %d items, %d events, want %d: %+v", name, len(res.Items), len(res.Events), len(want), res.Items)
		}
		for i, it := range res.Items {
			if it.Reason != "" || it.Event != i || it.Index != wantIndex[i] {
				t.Fatalf("%s: item %d = %+v", name, i, it)
			}
			got := res.Events[i]
			w := want[i]
			if got.Message != w.Message || got.Host != w.Host || got.Service != w.Service || got.Level != w.Level ||
				got.Time != w.Time {
				t.Fatalf("%s: event %d = %+v, want %+v", name, i, got, w)
			}
		}
	}
	ts := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	f("fluent bit", fluentBit, []event.Event{
		{Message: "GET /api/orders/ 200", Time: ts("2026-11-26T10:15:30.123456789Z")},
		{Message: "worker ready", Time: ts("2026-11-26T10:15:31Z")},
	}, []string{"fluent-bit", "fluent-bit"})
	f("vector", vector, []event.Event{
		{Message: "GET /health 200", Host: "web-3", Time: ts("2026-11-26T10:15:30.123456Z")},
	}, []string{"vector-2026.11.26"})
	f("filebeat", filebeat, []event.Event{
		{Message: "payment failed", Host: "web-3", Service: "shop", Level: "error", Time: ts("2026-11-26T10:15:30.123Z")},
	}, []string{"filebeat-8.15.0"})
}

func TestDecodeItemErrors(t *testing.T) {
	type want struct {
		op, errType, reason string // reason: a substring; "" accepted
	}
	f := func(body string, ws ...want) {
		t.Helper()
		res := Decode([]byte(body), "logs", now, event.Limits{})
		if len(res.Items) != len(ws) {
			t.Fatalf("%q: %d items, want %d: %+v", body, len(res.Items), len(ws), res.Items)
		}
		events := 0
		for i, w := range ws {
			it := res.Items[i]
			if it.Op != w.op || it.ErrType != w.errType || (w.reason == "") != (it.Reason == "") ||
				!strings.Contains(it.Reason, w.reason) {
				t.Fatalf("%q: item %d = %+v, want %+v", body, i, it, w)
			}
			if w.reason == "" {
				if it.Event != events {
					t.Fatalf("%q: item %d event %d, want %d", body, i, it.Event, events)
				}
				events++
			} else if it.Event != -1 {
				t.Fatalf("%q: rejected item %d has event %d", body, i, it.Event)
			}
		}
		if len(res.Events) != events {
			t.Fatalf("%q: %d events, want %d", body, len(res.Events), events)
		}
	}
	ok := func(op string) want { return want{op, "", ""} }
	doc := `{"message":"hi"}` + "\n"
	f(`{"index":{}}`+"\n"+doc, ok("index"))
	f(`{"index":{}}`+"\r\n"+`{"message":"hi"}`+"\r\n", ok("index"))
	f(`{"index":{}}`+"\n"+`{"message":"hi"}`, ok("index")) // no final newline
	f(`{"delete":{"_id":"1"}}`+"\n"+`{"index":{}}`+"\n"+doc,
		want{"delete", ErrIllegalArgument, "immutable"}, ok("index"))
	f(`{"update":{"_id":"1"}}`+"\n"+`{"doc":{"message":"x"}}`+"\n"+`{"create":{}}`+"\n"+doc,
		want{"update", ErrIllegalArgument, "immutable"}, ok("create"))
	f(`{"index":{}}`+"\n"+`{"message":""}`+"\n"+`{"index":{}}`+"\n"+doc,
		want{"index", ErrMapperParsing, "line 1: message is empty"}, ok("index"))
	f(`{"index":{}}`+"\n"+`{"message":"x"`+"\n"+`{"index":{}}`+"\n"+doc,
		want{"index", ErrMapperParsing, "invalid JSON"}, ok("index"))
	f(`{"index":{}}`+"\n"+`"text"`+"\n", want{"index", ErrMapperParsing, "expected a JSON object"})
	f(`{"index":{}}`+"\n", want{"index", ErrMapperParsing, "no source document"})
	f(`{"index":{}}`+"\n\n"+doc, want{"index", ErrMapperParsing, "no source document"}, want{"index", ErrIllegalArgument, "malformed action"})
	f(`{"index":`+"\n"+doc+`{"index":{}}`+"\n"+doc,
		want{"index", ErrIllegalArgument, "line 0: malformed action line: "}, ok("index"))
	f(`{"upsert":{}}`+"\n"+doc+`{"index":{}}`+"\n"+doc,
		want{"index", ErrIllegalArgument, "expected one of index"}, ok("index"))
	f(`{"index":{},"create":{}}`+"\n"+doc, want{"index", ErrIllegalArgument, "expected one of"})
	// An unreadable action followed directly by an action: that one is kept.
	f(`nonsense`+"\n"+`{"index":{}}`+"\n"+doc, want{"index", ErrIllegalArgument, "malformed"}, ok("index"))
	f(`{"index":{"_id":7}}`+"\n"+doc, want{"index", ErrIllegalArgument, "must be a string"})
	f("")
	f("\n\n")
}

func TestDecodeIndexAndID(t *testing.T) {
	body := `{"index":{"_id":"a1"}}` + "\n" + `{"message":"x"}` + "\n" +
		`{"create":{"_index":"other","_id":"b2"}}` + "\n" + `{"message":"y"}` + "\n"
	res := Decode([]byte(body), "default-idx", now, event.Limits{})
	if len(res.Items) != 2 || res.Items[0].Index != "default-idx" || res.Items[0].ID != "a1" ||
		res.Items[1].Index != "other" || res.Items[1].ID != "b2" || res.Items[1].Line != 2 {
		t.Fatalf("items %+v", res.Items)
	}
}
