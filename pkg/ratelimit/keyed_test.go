package ratelimit

import (
	"testing"
	"time"
)

func TestKeyed(t *testing.T) {
	now := time.Unix(1000, 0)
	k := NewKeyed(60, 3) // one a second, bursts of 3
	k.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := k.Allow("a"); !ok {
			t.Fatalf("request %d refused within burst", i)
		}
	}
	ok, wait := k.Allow("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused with wait in (0, 1s]", ok, wait)
	}
	if ok, _ := k.Allow("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(time.Second)
	if ok, _ := k.Allow("a"); !ok {
		t.Fatal("not refilled after a second")
	}
	now = now.Add(time.Hour)
	k.Allow("c")
	if len(k.buckets) != 1 {
		t.Fatalf("idle buckets kept: %d", len(k.buckets))
	}
	if ok, _ := NewKeyed(0, 0).Allow("x"); !ok {
		t.Fatal("disabled limiter refused")
	}
}
