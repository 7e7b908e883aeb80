package esbulk

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// FuzzDecode checks that any body decodes without panicking into items
// that each either carry a reason or own exactly one event, in order, and
// that no more items come out than non-blank lines went in.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{fluentBit, vector, filebeat,
		`{"delete":{"_id":"1"}}` + "\n" + `{"update":{}}` + "\n" + `{"doc":{}}` + "\n",
		`{"index":` + "\n" + `{"message":"x"}` + "\n",
		`{"index":{}}` + "\r\n" + `{"msg":"é","level":"WARNING","ts":1732612345.5}` + "\r\n",
		"\n\n{}\n[]\n",
	} {
		f.Add([]byte(s), "logs")
	}
	f.Fuzz(func(t *testing.T, body []byte, index string) {
		for _, line := range strings.Split(string(body), "\n") {
			checkSimpleAction(t, line)
		}
		res := Decode(body, index, now, event.Limits{})
		lines := 0
		for _, l := range strings.Split(string(body), "\n") {
			if !isBlank(strings.TrimSuffix(l, "\r")) {
				lines++
			}
		}
		if len(res.Items) > lines {
			t.Fatalf("%d items from %d non-blank lines", len(res.Items), lines)
		}
		next := 0
		for i, it := range res.Items {
			switch {
			case it.Event == -1 && (it.Reason == "" || it.ErrType == ""):
				t.Fatalf("item %d rejected without a reason: %+v", i, it)
			case it.Event >= 0 && (it.Reason != "" || it.Event != next):
				t.Fatalf("item %d: %+v, want event %d and no reason", i, it, next)
			case it.Event >= 0:
				next++
			}
			if it.Op != "index" && it.Op != "create" && it.Op != "update" && it.Op != "delete" {
				t.Fatalf("item %d: op %q", i, it.Op)
			}
		}
		if next != len(res.Events) {
			t.Fatalf("%d accepted items, %d events", next, len(res.Events))
		}
	})
}

// checkSimpleAction checks that the fast action parser agrees with
// encoding/json whenever it accepts a line.
func checkSimpleAction(t *testing.T, line string) {
	name, a, ok := parseSimpleAction(line)
	if !ok || !utf8.ValidString(line) {
		return
	}
	var l actionLine
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		t.Fatalf("fast path accepted %q, encoding/json: %v", line, err)
	}
	jname, ja, jok := l.op()
	if !jok || jname != name || *ja != *a {
		t.Fatalf("%q: fast path %s %+v, encoding/json %s %+v (ok %v)", line, name, *a, jname, ja, jok)
	}
}
