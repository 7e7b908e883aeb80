package native

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	f := func(text string, k kind, want string) {
		t.Helper()
		got, reason := parseTime(text, k)
		if reason != "" {
			t.Errorf("parseTime(%q) failed: %s", text, reason)
			return
		}
		if w := ts(t, want); got != w {
			t.Errorf("parseTime(%q) = %d, want %d (%s)", text, got, w, want)
		}
	}
	// strings
	f("2026-02-28T09:15:02Z", kindString, "2026-02-28T09:15:02Z")
	f("2026-02-28T09:15:02.123456789123Z", kindString, "2026-02-28T09:15:02.123456789Z")
	f("2026-02-28T10:15:02.5+01:00", kindString, "2026-02-28T09:15:02.5Z")
	f("2026-02-28T10:15:02.5+0100", kindString, "2026-02-28T09:15:02.5Z")
	f("2026-02-28 09:15:02,481", kindString, "2026-02-28T09:15:02.481Z")
	f("2026-02-28 09:15:02.481", kindString, "2026-02-28T09:15:02.481Z")
	f("2026-02-28 09:15:02", kindString, "2026-02-28T09:15:02Z")
	f("2026-02-28 10:15:02,481 +0100", kindString, "2026-02-28T09:15:02.481Z")
	f("2026-02-28t09:15:02z", kindString, "2026-02-28T09:15:02Z")
	f("2026-02-28T09:15:02.123456", kindString, "2026-02-28T09:15:02.123456Z")
	f("2026-02-28", kindString, "2026-02-28T00:00:00Z")
	f(" 2026-02-28T09:15:02Z ", kindString, "2026-02-28T09:15:02Z")
	f("2024-02-29T23:59:59.999999999-05", kindString, "2024-03-01T04:59:59.999999999Z")
	f("2026-02-28T09:15:02 -03:30", kindString, "2026-02-28T12:45:02Z")
	// numbers by magnitude
	f("1772270102", kindNumber, "2026-02-28T09:15:02Z")
	f("1772270102.481516", kindNumber, "2026-02-28T09:15:02.481516Z")
	f("1772270102.4815162342999", kindNumber, "2026-02-28T09:15:02.481516234Z")
	f("1772270102481", kindNumber, "2026-02-28T09:15:02.481Z")
	f("1772270102481.5", kindNumber, "2026-02-28T09:15:02.4815Z")
	f("1772270102481516", kindNumber, "2026-02-28T09:15:02.481516Z")
	f("1772270102481516234", kindNumber, "2026-02-28T09:15:02.481516234Z")
	f("1.772270102e9", kindNumber, "2026-02-28T09:15:02Z")
	f("1772270102", kindString, "2026-02-28T09:15:02Z")
	f("1772270102481", kindString, "2026-02-28T09:15:02.481Z")
	f("-1", kindNumber, "1969-12-31T23:59:59Z")
	f("0.5", kindNumber, "1970-01-01T00:00:00.5Z")
	f("9223372036854775807.9", kindNumber, "2262-04-11T23:47:16.854775807Z")

	bad := func(text string, k kind, want string) {
		t.Helper()
		if got, reason := parseTime(text, k); reason != want {
			t.Errorf("parseTime(%q) = %d, %q; want reason %q", text, got, reason, want)
		}
	}
	bad("yesterday", kindString, `unparseable timestamp "yesterday"`)
	bad("", kindString, `unparseable timestamp ""`)
	for _, s := range []string{
		"2026-02-30T00:00:00Z", "2023-02-29", "2026-02-28T24:00:00Z", "2026-02-28T09:60:00Z",
		"2026-02-28T09:15:02Zx", "2026-02-28T09:15:02.", "2026-02-28T09:15:02+1", "2026-02-28T09:15:02+25:00",
		"2026-02-28T09:15", "2026-2-28", "2026-02-28X09:15:02", "2026-00-10", "T", "2026-02-28T09:15:02  Z",
	} {
		bad(s, kindString, fmt.Sprintf("unparseable timestamp %q", s))
	}
	bad("28/Feb/2026:09:15:02 +0000", kindString, `unparseable timestamp "28/Feb/2026:09:15:02 +0000"`)
	bad("9999-01-01T00:00:00Z", kindString, `timestamp "9999-01-01T00:00:00Z" is out of range`)
	bad("99999999999999999999", kindNumber, `timestamp "99999999999999999999" is out of range`)
	bad("9300000000", kindNumber, `timestamp "9300000000" is out of range`)
	bad("1e300", kindNumber, `timestamp "1e300" is out of range`)
	bad(string(make([]byte, 100)), kindString,
		`unparseable timestamp "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00..."`)
}

var fixedWidth = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)

var zoneSuffix = regexp.MustCompile(`[+-](\d\d):(\d\d)$`)

// FuzzParseISO checks parseISO against time.Parse on what RFC 3339 allows.
func FuzzParseISO(f *testing.F) {
	for _, s := range []string{"2026-02-28T09:15:02Z", "2026-02-28T09:15:02.123456789+01:00",
		"2024-02-29T00:00:00,5-00:30", "2026-02-28 09:15:02,481", "2026-02-28"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseISO(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		if !fixedWidth.MatchString(s) {
			return // time.Parse also takes 1-digit hours and the like; we need not
		}
		if m := zoneSuffix.FindStringSubmatch(s); m != nil && (m[1] > "23" || m[2] > "59") {
			return // time.Parse takes offsets up to +24:60; we refuse them
		}
		if err == nil && (!ok || !got.Equal(want)) {
			t.Fatalf("parseISO(%q) = %v, %v; time.Parse = %v", s, got, ok, want)
		}
	})
}
