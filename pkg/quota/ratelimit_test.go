package quota

import (
	"testing"
	"time"
)

func TestRateLimiterSingleEdge(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewRateLimiter("e1", time.Second)
	lim := Limit{EventsPerSecond: 100}
	if d := l.Allow("t", lim, 100, 0, now); !d.Allowed {
		t.Fatalf("first second's worth: %+v", d)
	}
	d := l.Allow("t", lim, 10, 0, now)
	if d.Allowed || d.Which != "events" || d.RetryAfter <= 0 || d.RetryAfter > 150*time.Millisecond {
		t.Fatalf("over the rate: %+v", d)
	}
	if d := l.Allow("t", lim, 10, 0, now.Add(100*time.Millisecond)); !d.Allowed {
		t.Fatalf("after 100ms, 10 events: %+v", d)
	}
	// Sustained: over 10 s at most 100/s get through (plus the first burst).
	admitted := int64(0)
	for i := 1; i <= 1000; i++ {
		if l.Allow("t", lim, 5, 0, now.Add(100*time.Millisecond+time.Duration(i)*10*time.Millisecond)).Allowed {
			admitted += 5
		}
	}
	if admitted < 950 || admitted > 1010 {
		t.Fatalf("admitted %d events in 10s at 100/s", admitted)
	}
	if d := l.Allow("other", Limit{}, 1e9, 1e9, now); !d.Allowed {
		t.Fatal("unlimited tenant refused")
	}
	// A batch bigger than a second's worth passes once the bucket is full.
	if d := l.Allow("big", lim, 500, 0, now); !d.Allowed {
		t.Fatalf("oversized batch on a full bucket: %+v", d)
	}
	if d := l.Allow("big", lim, 1, 0, now.Add(time.Second)); d.Allowed {
		t.Fatal("the debt of an oversized batch was forgiven")
	}
	bl := Limit{BytesPerSecond: 1000}
	if d := l.Allow("b", bl, 1, 2000, now); !d.Allowed {
		t.Fatal("full bytes bucket refused")
	}
	if d := l.Allow("b", bl, 1, 10, now); d.Allowed || d.Which != "bytes" {
		t.Fatalf("bytes limit: %+v", d)
	}
}

// Two edges share a limit through each other's reports.
func TestRateLimiterSharesAcrossEdges(t *testing.T) {
	now := time.Unix(1000, 0)
	lim := Limit{EventsPerSecond: 1000}
	e1, e2 := NewRateLimiter("e1", time.Second), NewRateLimiter("e2", time.Second)
	// e2 reports it admitted 800/s for t: e1 may admit only 200/s.
	e1.Observe(Report{Edge: "e2", Deltas: map[string]Delta{"t": {Events: 800}}}, now)
	e1.Observe(Report{Edge: "e1", Deltas: map[string]Delta{"t": {Events: 5000}}}, now) // its own: ignored
	admitted := int64(0)
	for i := 0; i < 100; i++ {
		if e1.Allow("t", lim, 10, 0, now.Add(time.Duration(i)*10*time.Millisecond)).Allowed {
			admitted += 10
		}
	}
	if admitted < 180 || admitted > 420 {
		t.Fatalf("e1 admitted %d in 1s while e2 used 800/s of 1000/s", admitted)
	}
	// e2 stops reporting: after three intervals e1 gets the whole limit.
	later := now.Add(4 * time.Second)
	if d := e1.Allow("t", lim, 900, 0, later); !d.Allowed {
		t.Fatalf("stale peer still counted: %+v", d)
	}
	// The others use the whole limit: refused, retry after their next report.
	e2.Observe(Report{Edge: "e1", Deltas: map[string]Delta{"t": {Events: 1200}}}, now)
	if d := e2.Allow("t", lim, 1, 0, now); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("limit used elsewhere: %+v", d)
	}
}
