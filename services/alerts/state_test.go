package alerts

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestAdvance(t *testing.T) {
	type obs struct {
		holds    bool
		silenced bool
	}
	for _, tc := range []struct {
		name     string
		forDur   time.Duration
		renotify time.Duration
		obs      []obs
		// want per window: "<to>/<notify>" ("" for no change)
		want []string
	}{
		{"fire and resolve", 0, 0, []obs{{true, false}, {true, false}, {false, false}, {false, false}},
			[]string{"firing/firing", "", "resolved/resolved", ""}},
		{"for holds", 2 * time.Minute, 0, []obs{{true, false}, {true, false}, {true, false}, {true, false}, {false, false}},
			[]string{"pending/", "", "firing/firing", "", "resolved/resolved"}},
		{"pending back to ok", 2 * time.Minute, 0, []obs{{true, false}, {false, false}, {true, false}},
			[]string{"pending/", "ok/", "pending/"}},
		{"renotify", 0, 2 * time.Minute, []obs{{true, false}, {true, false}, {true, false}, {true, false}, {true, false}},
			[]string{"firing/firing", "", "/renotify", "", "/renotify"}},
		{"silenced firing: no resolve either", 0, 0, []obs{{true, true}, {true, false}, {false, false}},
			[]string{"firing/", "", "resolved/"}},
		{"silenced resolve", 0, 0, []obs{{true, false}, {false, true}},
			[]string{"firing/firing", "resolved/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &groupState{State: stateOK}
			var n uint64
			for i, o := range tc.obs {
				end := t0.Add(time.Duration(i) * time.Minute)
				s := advance(g, o.holds, 1, end, tc.forDur, tc.renotify, o.silenced)
				got := s.to + "/" + s.notify
				if got == "/" {
					got = ""
				}
				if got != tc.want[i] {
					t.Fatalf("window %d: %q, want %q (state %+v)", i, got, tc.want[i], g)
				}
				if s.to != "" {
					if s.n != n+1 {
						t.Fatalf("window %d: transition %d, want %d", i, s.n, n+1)
					}
					n = s.n
				}
			}
		})
	}
}

func TestDueWindows(t *testing.T) {
	for _, tc := range []struct {
		name        string
		evaluatedTo time.Time
		watermark   time.Time
		want        []time.Time
		skipped     int
	}{
		{"first: only the latest", time.Time{}, t0.Add(95 * time.Second), []time.Time{t0.Add(time.Minute)}, 0},
		{"not yet", t0.Add(time.Minute), t0.Add(119 * time.Second), nil, 0},
		{"due: skew counts", t0.Add(time.Minute), t0.Add(122 * time.Second), []time.Time{t0.Add(2 * time.Minute)}, 0},
		{"skew not passed", t0.Add(time.Minute), t0.Add(121 * time.Second), nil, 0},
		{"backlog in order", t0, t0.Add(3*time.Minute + 2*time.Second),
			[]time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(3 * time.Minute)}, 0},
		{"backlog capped", t0, t0.Add(10*time.Minute + 2*time.Second),
			[]time.Time{t0.Add(8 * time.Minute), t0.Add(9 * time.Minute), t0.Add(10 * time.Minute)}, 7},
		{"unaligned after an interval change", t0.Add(30 * time.Second), t0.Add(2*time.Minute + 2*time.Second),
			[]time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := dueWindows(tc.evaluatedTo, tc.watermark, time.Minute, 2*time.Second, 3)
			if len(got) != len(tc.want) || skipped != tc.skipped {
				t.Fatalf("got %v (skipped %d), want %v (skipped %d)", got, skipped, tc.want, tc.skipped)
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
