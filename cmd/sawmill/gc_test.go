package main

import (
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	setGCPercent(func(string) string { return "150" }) // GOGC set: left alone
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, GC percent became %d", got)
	}
	setGCPercent(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Fatalf("without GOGC, GC percent %d, want %d", got, serverGCPercent)
	}
}
