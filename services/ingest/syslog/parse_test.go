package syslog

import (
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
)

var testNow = time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	f := func(frame string, want Message) {
		t.Helper()
		got, err := Parse([]byte(frame), testNow)
		if err != nil {
			t.Fatalf("Parse(%q): %v", frame, err)
		}
		if got.Key != want.Key || got.Format != want.Format || got.Facility != want.Facility || got.Severity != want.Severity {
			t.Errorf("Parse(%q) = key %q format %v pri %d.%d, want key %q format %v pri %d.%d", frame,
				got.Key, got.Format, got.Facility, got.Severity, want.Key, want.Format, want.Facility, want.Severity)
		}
		g, w := got.Event, want.Event
		if g.Time != w.Time || g.Host != w.Host || g.Service != w.Service || g.Message != w.Message ||
			g.SeverityNumber != w.SeverityNumber || g.Level != w.Level {
			t.Errorf("Parse(%q) event\n got  time=%v host=%q service=%q msg=%q sev=%d %q\n want time=%v host=%q service=%q msg=%q sev=%d %q", frame,
				g.Timestamp(), g.Host, g.Service, g.Message, g.SeverityNumber, g.Level,
				w.Timestamp(), w.Host, w.Service, w.Message, w.SeverityNumber, w.Level)
		}
		if !equalAttrs(g.Attrs, w.Attrs) {
			t.Errorf("Parse(%q) attrs = %v, want %v", frame, g.Attrs, w.Attrs)
		}
		if got.Key != "" && strings.Contains(g.Message+attrString(g.Attrs), got.Key) {
			t.Errorf("Parse(%q): key %q left in the event", frame, got.Key)
		}
	}
	ts := func(s string) int64 {
		t.Helper()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	attrs := func(kv ...string) []event.Attr {
		var a []event.Attr
		for i := 0; i < len(kv); i += 2 {
			a = append(a, event.Attr{Key: kv[i], Value: kv[i+1]})
		}
		return a
	}

	f(realFrames[0], Message{Key: "sm_abc_def", Format: RFC5424, Facility: 16, Severity: 3, Event: event.Event{
		Time: ts("2026-11-26T10:00:21.513775Z"), Host: "vm", Service: "myapp", Message: "hello 5424 octet",
		SeverityNumber: 17, Level: "error",
		Attrs: attrs(AttrMsgID, "M1", "sd.timeQuality.tzKnown", "1", "sd.timeQuality.isSynced", "0", AttrFacility, "local0")}})
	f(realFrames[2], Message{Key: "sm_abc_def", Format: RFC3164, Facility: 1, Severity: 5, Event: event.Event{
		Time: ts("2026-11-26T10:00:21Z"), Host: "vm", Service: "myapp", Message: "hello 3164 tcp",
		SeverityNumber: 10, Level: "info", Attrs: attrs(AttrProcID, "23009", AttrFacility, "user")}})
	f(realFrames[5], Message{Key: "sm_abc_def", Format: RFC3164, Facility: 1, Severity: 3, Event: event.Event{
		Service: "django.request", Message: "Internal Server Error: /x é",
		SeverityNumber: 17, Level: "error", Attrs: attrs(AttrFacility, "user")}})
	f(realFrames[7], Message{Format: RFC5424, Facility: 4, Severity: 2, Event: event.Event{
		Time: ts("2003-10-11T22:14:15.003Z"), Host: "mymachine.example.com", Service: "su",
		Message: "'su root' failed for lonvick on /dev/pts/8", SeverityNumber: 21, Level: "fatal",
		Attrs: attrs(AttrMsgID, "ID47", AttrFacility, "auth")}})
	f(realFrames[9], Message{Format: RFC5424, Facility: 20, Severity: 5, Event: event.Event{
		Time: ts("2003-10-11T22:14:15.003Z"), Host: "mymachine.example.com", Service: "evntslog",
		SeverityNumber: 10, Level: "info",
		Attrs: attrs(AttrMsgID, "ID47", "sd.exampleSDID@32473.iut", "3", "sd.exampleSDID@32473.eventSource", "Application",
			"sd.exampleSDID@32473.eventID", "1011", "sd.examplePriority@32473.class", "high", AttrFacility, "local4")}})
	f(realFrames[10], Message{Format: RFC3164, Facility: 4, Severity: 2, Event: event.Event{
		Time: ts("2026-10-11T22:14:15Z"), Host: "mymachine", Service: "su",
		Message: "'su root' failed for lonvick on /dev/pts/8", SeverityNumber: 21, Level: "fatal",
		Attrs: attrs(AttrFacility, "auth")}})
	// Escapes in SD values; the key element may sit anywhere and carry escapes.
	f(`<14>1 - - - - - [a b="x\"y\\z\]w\n"][sawmill@32473 key="sm_k_s"] m`, Message{Key: "sm_k_s", Format: RFC5424, Facility: 1, Severity: 6,
		Event: event.Event{Message: "m", SeverityNumber: 9, Level: "info", Attrs: attrs(`sd.a.b`, `x"y\z]w\n`, AttrFacility, "user")}})
	// RFC 5424 without SD key: the first word of MSG.
	f(`<14>1 - h app 12 - - sm_k_s the text`, Message{Key: "sm_k_s", Format: RFC5424, Facility: 1, Severity: 6,
		Event: event.Event{Host: "h", Service: "app", Message: "the text", SeverityNumber: 9, Level: "info", Attrs: attrs(AttrProcID, "12", AttrFacility, "user")}})
	// Header-less, key and no tag; no PRI at all (user.notice).
	f(`<15>sm_k_s just text: here`, Message{Key: "sm_k_s", Format: RFC3164, Facility: 1, Severity: 7,
		Event: event.Event{Message: "just text: here", SeverityNumber: 5, Level: "debug", Attrs: attrs(AttrFacility, "user")}})
	f(`plain line`, Message{Format: RFC3164, Facility: 1, Severity: 5,
		Event: event.Event{Message: "plain line", SeverityNumber: 10, Level: "info", Attrs: attrs(AttrFacility, "user")}})
	// No hostname after the timestamp; a URL is not a tag.
	f(`<13>Nov 26 10:00:21 app[7]: sm_k_s see http://x`, Message{Key: "sm_k_s", Format: RFC3164, Facility: 1, Severity: 5,
		Event: event.Event{Time: ts("2026-11-26T10:00:21Z"), Service: "app", Message: "see http://x", SeverityNumber: 10, Level: "info",
			Attrs: attrs(AttrProcID, "7", AttrFacility, "user")}})
	f(`<13>http://x y`, Message{Format: RFC3164, Facility: 1, Severity: 5,
		Event: event.Event{Message: "http://x y", SeverityNumber: 10, Level: "info", Attrs: attrs(AttrFacility, "user")}})
	// RFC 3339 timestamp in a BSD-style message (rsyslog's ForwardFormat).
	f(`<13>2026-11-26T10:00:21.5+01:00 host app: sm_k_s m`, Message{Key: "sm_k_s", Format: RFC3164, Facility: 1, Severity: 5,
		Event: event.Event{Time: ts("2026-11-26T09:00:21.5Z"), Host: "host", Service: "app", Message: "m", SeverityNumber: 10, Level: "info",
			Attrs: attrs(AttrFacility, "user")}})
}

func TestBSDTimeYear(t *testing.T) {
	f := func(stamp string, now time.Time, want string) {
		t.Helper()
		got, _, ok := bsdTime(stamp, now)
		if !ok {
			t.Fatalf("bsdTime(%q) failed", stamp)
		}
		if got.Format(time.RFC3339Nano) != want {
			t.Errorf("bsdTime(%q, %v) = %v, want %v", stamp, now, got.Format(time.RFC3339Nano), want)
		}
	}
	f("Dec 31 23:59:59", time.Date(2027, 1, 1, 0, 0, 5, 0, time.UTC), "2026-12-31T23:59:59Z")
	f("Jan  1 00:00:01", time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), "2026-01-01T00:00:01Z")
	f("Nov 27 10:00:00", testNow, "2026-11-27T10:00:00Z") // within 24h ahead: this year
	f("Nov 28 10:00:00", testNow, "2025-11-28T10:00:00Z")
	f("Nov 26 10:00:21.250", testNow, "2026-11-26T10:00:21.25Z")
}

func TestParseErrors(t *testing.T) {
	f := func(frame, want string) {
		t.Helper()
		_, err := Parse([]byte(frame), testNow)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v, want it to mention %q", frame, err, want)
		}
	}
	f("", "empty")
	f(" \x00\n", "empty")
	f("<192>x", "above 191")
	f("<1a>x", "not a number")
	f("<>x", "malformed PRI")
	f("<01>x", "leading zero")
	f("<13>1 2026-11-26 h a p m -", "not RFC 3339")
	f("<13>1 - h a", "header ends early")
	f("<13>1 - h a p m [x", "without id or ]")
	f(`<13>1 - h a p m [x a="b`, "not closed")
	f(`<13>1 - h a p m [x a=b]`, `name="value"`)
	f(`<13>1 - h a p m x`, "must be - or start with [")
	f(`<13>1 - h a p m [x a="b"]y`, "want a space")
}

func equalAttrs(a, b []event.Attr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func attrString(attrs []event.Attr) string {
	var b strings.Builder
	for _, a := range attrs {
		b.WriteString(a.Key + "=" + a.Value + " ")
	}
	return b.String()
}
