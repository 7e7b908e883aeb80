package plan

import (
	"testing"
	"time"
)

func TestPeriod(t *testing.T) {
	d := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	f := func(anchor, now, wantStart, wantEnd string) {
		t.Helper()
		s, e := Period(d(anchor), d(now))
		if !s.Equal(d(wantStart)) || !e.Equal(d(wantEnd)) {
			t.Fatalf("Period(%s, %s) = [%s, %s), want [%s, %s)", anchor, now, s, e, wantStart, wantEnd)
		}
	}
	f("2026-03-15T10:00:00Z", "2026-11-26T09:00:00Z", "2026-11-15T00:00:00Z", "2026-12-15T00:00:00Z")
	f("2026-03-15T10:00:00Z", "2026-11-14T23:59:59Z", "2026-10-15T00:00:00Z", "2026-11-15T00:00:00Z")
	f("2026-03-15T10:00:00Z", "2026-11-15T00:00:00Z", "2026-11-15T00:00:00Z", "2026-12-15T00:00:00Z")
	f("2026-01-31T08:00:00Z", "2026-02-28T12:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z")
	f("2026-01-31T08:00:00Z", "2026-02-27T12:00:00Z", "2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z")
	f("2026-01-31T08:00:00Z", "2026-04-30T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-31T00:00:00Z")
	f("2026-05-20T00:00:00Z", "2027-01-05T00:00:00Z", "2026-12-20T00:00:00Z", "2027-01-20T00:00:00Z")
}
