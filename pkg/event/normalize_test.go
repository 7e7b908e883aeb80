package event

import (
	"reflect"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	nowNs := now.UnixNano()
	f := func(name string, in, want Event) {
		t.Helper()
		Normalize(&in, now)
		if !reflect.DeepEqual(in, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, in, want)
		}
		again := in
		again.Attrs = append([]Attr(nil), in.Attrs...)
		Normalize(&again, now.Add(time.Hour))
		if !reflect.DeepEqual(again, in) {
			t.Errorf("%s: not idempotent:\n got %+v\nwant %+v", name, again, in)
		}
	}
	f("times filled", Event{Message: "m"},
		Event{Time: nowNs, ObservedTime: nowNs, Message: "m"})
	f("times kept", Event{Time: 5, ObservedTime: 7, Message: "m"},
		Event{Time: 5, ObservedTime: 7, Message: "m"})
	f("time from observed", Event{ObservedTime: 7},
		Event{Time: 7, ObservedTime: 7})
	f("level from number", Event{Time: 1, ObservedTime: 1, SeverityNumber: 14},
		Event{Time: 1, ObservedTime: 1, SeverityNumber: 14, Level: LevelWarn})
	f("number wins", Event{Time: 1, ObservedTime: 1, SeverityNumber: 17, Level: "info"},
		Event{Time: 1, ObservedTime: 1, SeverityNumber: 17, Level: LevelError})
	f("number from level", Event{Time: 1, ObservedTime: 1, Level: "WARNING"},
		Event{Time: 1, ObservedTime: 1, SeverityNumber: 13, Level: LevelWarn})
	f("python critical", Event{Time: 1, ObservedTime: 1, Level: "CRITICAL"},
		Event{Time: 1, ObservedTime: 1, SeverityNumber: 21, Level: LevelFatal})
	f("out of range number", Event{Time: 1, ObservedTime: 1, SeverityNumber: 99, Level: "debug"},
		Event{Time: 1, ObservedTime: 1, SeverityNumber: 5, Level: LevelDebug})
	f("unknown level to attr", Event{Time: 1, ObservedTime: 1, Level: "verbose", Attrs: []Attr{{"a", "b"}}},
		Event{Time: 1, ObservedTime: 1, Attrs: []Attr{{"a", "b"}, {LevelAttr, "verbose"}}})
	f("unknown level, attr taken", Event{Time: 1, ObservedTime: 1, Level: "verbose", Attrs: []Attr{{"level", "x"}}},
		Event{Time: 1, ObservedTime: 1, Attrs: []Attr{{"level", "x"}}})
	f("invalid utf-8", Event{
		Time: 1, ObservedTime: 1, Message: "a\xff\xfeb", Host: "h\xc3",
		Attrs:     []Attr{{"k\x80", "v\xff"}},
		NumAttrs:  []NumAttr{{"n\xff", 1}},
		Exception: Exception{Stack: "s\xe2\x82"},
	}, Event{
		Time: 1, ObservedTime: 1, Message: "a\uFFFDb", Host: "h\uFFFD",
		Attrs:     []Attr{{"k\uFFFD", "v\uFFFD"}},
		NumAttrs:  []NumAttr{{"n\uFFFD", 1}},
		Exception: Exception{Stack: "s\uFFFD"},
	})
}
