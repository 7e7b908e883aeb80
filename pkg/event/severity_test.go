package event

import "testing"

func TestParseLevel(t *testing.T) {
	f := func(in string, want int32, wantOK bool) {
		t.Helper()
		got, ok := ParseLevel(in)
		if got != want || ok != wantOK {
			t.Errorf("ParseLevel(%q) = %d, %v; want %d, %v", in, got, ok, want, wantOK)
		}
	}
	f("DEBUG", 5, true)
	f(" Warning\n", 13, true)
	f("CRITICAL", 21, true)
	f("err", 17, true)
	f("Informational", 9, true)
	f("\u212Aill", 0, false) // Kelvin sign lower-cases to 'k': slow path
	f("verbose", 0, false)
	f("", 0, false)
	f("a-level-name-longer-than-sixteen", 0, false)
	if n := testing.AllocsPerRun(100, func() { ParseLevel("WARNING") }); n != 0 {
		t.Errorf("ParseLevel allocates %v times per call", n)
	}
}

func TestLevelName(t *testing.T) {
	for n, want := range map[int32]string{0: "", 1: "trace", 4: "trace", 5: "debug", 9: "info",
		13: "warn", 17: "error", 21: "fatal", 24: "fatal", 25: "", -1: ""} {
		if got := LevelName(n); got != want {
			t.Errorf("LevelName(%d) = %q, want %q", n, got, want)
		}
	}
}
