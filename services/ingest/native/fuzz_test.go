package native

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// inputCount is how many lines or elements a body holds, or -1 when that
// is not defined (an array with a syntax error).
func inputCount(body string, ndjson bool) int {
	body = strings.TrimPrefix(body, "\uFEFF")
	trimmed := strings.TrimLeft(body, " \t\r\n")
	nonBlank := 0
	for _, l := range strings.Split(body, "\n") {
		if strings.TrimLeft(l, " \t\r") != "" {
			nonBlank++
		}
	}
	switch {
	case trimmed == "":
		return 0
	case ndjson:
		return nonBlank
	case trimmed[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal([]byte(trimmed), &elems); err != nil {
			return -1
		}
		return len(elems)
	case trimmed[0] == '{' && !json.Valid([]byte(trimmed)):
		return nonBlank
	}
	return 1
}

func FuzzDecode(f *testing.F) {
	for _, l := range sampleLines {
		f.Add(l, false)
	}
	f.Add(strings.Join(sampleLines, "\n"), false)
	f.Add(strings.Join(sampleLines, "\r\n\n"), true)
	f.Add("["+strings.Join(sampleLines, ",")+"]", false)
	f.Add("{\"msg\":\"m\"}\n{\"msg\":\"m\"\n{\"msg\":\"m\"}", true)
	f.Add(`[{"msg":"m"}, 3, {"msg":"m",}, {"msg":"m"}]`, false)
	f.Add("{\n  \"msg\": \"m\"\n}", false)
	f.Add("hello\nworld", false)
	f.Add("", true)
	lim := event.Limits{MaxEventBytes: 4096, MaxAttributes: 20, MaxKeyBytes: 32, MaxValueBytes: 512}
	f.Fuzz(func(t *testing.T, body string, ndjson bool) {
		ct := "application/json"
		if ndjson {
			ct = "application/x-ndjson"
		}
		evs, idx, errs := Decode([]byte(body), ct, testNow, lim)
		if len(evs) != len(idx) {
			t.Fatalf("%d events, %d indexes", len(evs), len(idx))
		}
		if n := inputCount(body, ndjson); n >= 0 && len(evs)+len(errs) != n {
			t.Fatalf("%d accepted + %d rejected, want %d inputs; errors %v", len(evs), len(errs), n, errs)
		}
		seen := map[int]bool{}
		for i, j := range idx {
			if seen[j] || i > 0 && j <= idx[i-1] {
				t.Fatalf("indexes %v not strictly increasing", idx)
			}
			seen[j] = true
		}
		for i, e := range errs {
			if seen[e.Index] || i > 0 && e.Index <= errs[i-1].Index || e.Reason == "" {
				t.Fatalf("bad error list %v (accepted %v)", errs, idx)
			}
			seen[e.Index] = true
		}
		for i := range evs {
			if err := lim.Validate(&evs[i], testNow); err != nil {
				t.Fatalf("event %d fails Validate: %v", i, err)
			}
			if !utf8.ValidString(evs[i].Message) {
				t.Fatalf("event %d: invalid UTF-8 message %q", i, evs[i].Message)
			}
		}
	})
}
