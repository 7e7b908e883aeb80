package event

import (
	"strings"
	"testing"
	"time"
)

func attr(e *Event, key string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Each limit either repairs with a marker or rejects with a reason.
func TestPrepare(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	lim := Limits{MaxValueBytes: 16, MaxAttributes: 5, MaxAge: 7 * 24 * time.Hour}

	// Invalid UTF-8: repaired and marked.
	e := Event{Message: "caf\xe9 latte", Service: "web"}
	if err := lim.Prepare(&e, now); err != nil {
		t.Fatal(err)
	}
	if e.Message != "caf\uFFFD latte" {
		t.Fatalf("message %q", e.Message)
	}
	if v, _ := attr(&e, MarkerInvalidUTF8); v != "replaced" {
		t.Fatalf("no UTF-8 marker: %v", e.Attrs)
	}

	// Long field and value: cut on a character boundary, marked.
	e = Event{Message: "m", Host: strings.Repeat("h", 20), Attrs: []Attr{{Key: "note", Value: strings.Repeat("é", 10)}}}
	if err := lim.Prepare(&e, now); err != nil {
		t.Fatal(err)
	}
	if len(e.Host) != 16 || e.Attrs[0].Value != strings.Repeat("é", 8) {
		t.Fatalf("truncation: host %q note %q", e.Host, e.Attrs[0].Value)
	}
	if v, _ := attr(&e, MarkerTruncated); v != "host,note" {
		t.Fatalf("truncated marker %q", v)
	}

	// Too many attributes: the first kept, the count of the rest recorded,
	// the limit still holds with the marker.
	e = Event{Message: "m"}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		e.Attrs = append(e.Attrs, Attr{Key: k, Value: "1"})
		e.NumAttrs = append(e.NumAttrs, NumAttr{Key: k, Value: 1})
	}
	if err := lim.Prepare(&e, now); err != nil {
		t.Fatal(err)
	}
	if len(e.Attrs) != 5 || e.Attrs[3].Key != "d" || len(e.NumAttrs) != 4 {
		t.Fatalf("attrs after dropping: %v / %v", e.Attrs, e.NumAttrs)
	}
	if v, _ := attr(&e, MarkerDroppedAttributes); v != "3" {
		t.Fatalf("dropped marker %q", v)
	}

	// Rejections keep their reasons.
	f := func(e Event, want string) {
		t.Helper()
		err := lim.Prepare(&e, now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%+v: err %v, want %q", e, err, want)
		}
	}
	f(Event{Message: ""}, "message is empty")
	f(Event{Message: "m", Time: now.Add(48 * time.Hour).UnixNano()}, "in the future")
	f(Event{Message: "m", Time: now.Add(-8 * 24 * time.Hour).UnixNano()}, "older than the retention")
	f(Event{Message: "m", Attrs: []Attr{{Key: "", Value: "x"}}}, "key is empty")
	f(Event{Message: strings.Repeat("x", 300<<10)}, "bytes, limit")
	if err := (Limits{}).Prepare(&Event{Message: "m", Time: now.Add(-400 * 24 * time.Hour).UnixNano()}, now); err != nil {
		t.Fatalf("no MaxAge: old event rejected: %v", err)
	}
}
