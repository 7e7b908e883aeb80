package textbloom

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestNoFalseNegatives: every substring of every row's text, in any ASCII
// case, may be in the chunk; and across fields written separately too.
func TestNoFalseNegatives(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]string, 200)
	b := NewBuilder(len(rows))
	for i := range rows {
		for range 1 + rng.IntN(4) {
			rows[i] = append(rows[i], randomText(rng))
		}
		for j, f := range rows[i] {
			if j > 0 {
				b.Write("\n")
			}
			b.Write(f)
		}
		b.EndRow()
	}
	for _, fields := range rows {
		text := strings.Join(fields, "\n")
		for range 20 {
			i := rng.IntN(len(text))
			j := i + rng.IntN(len(text)-i+1)
			needle := text[i:j]
			if rng.IntN(2) == 0 {
				needle = asciiUpper(needle)
			}
			if !MayContain(b.Bytes(), needle) {
				t.Fatalf("%q is in %q but the filter says it cannot be", needle, text)
			}
		}
	}
}

// TestRulesOut: needles absent from a small chunk are mostly ruled out (a
// filter that says yes to everything would pass the test above), and a
// 3-gram spanning two rows is not in the filter.
func TestRulesOut(t *testing.T) {
	b := NewBuilder(2)
	b.Write("GET /api/v1/orders HTTP/1.1 200")
	b.EndRow()
	b.Write("xyz")
	b.EndRow()
	for _, n := range []string{"frobnicator", "timeout", "0xyz", "00x"} {
		if MayContain(b.Bytes(), n) {
			t.Errorf("%q may be in the chunk, but is not in any row", n)
		}
	}
	for _, n := range []string{"orders", "ORDERS", "http/1.1", "xyz", "ge", ""} {
		if !MayContain(b.Bytes(), n) {
			t.Errorf("%q is in the chunk, the filter rules it out", n)
		}
	}
	if !MayContain(nil, "anything") {
		t.Error("an empty filter must accept anything")
	}
}

func TestCondMatch(t *testing.T) {
	b := NewBuilder(1)
	b.Write("payment declined for order 42")
	f := b.Bytes()
	yes, no := Cond{Needle: "declined"}, Cond{Needle: "frobnicator"}
	short := Cond{Needle: "42"}
	for _, c := range []struct {
		cond Cond
		want bool
	}{
		{yes, true}, {no, false}, {short, true},
		{Cond{All: []Cond{yes, no}}, false}, {Cond{All: []Cond{yes, short}}, true},
		{Cond{Any: []Cond{no, yes}}, true}, {Cond{Any: []Cond{no, no}}, false},
	} {
		if got := c.cond.Match(f); got != c.want {
			t.Errorf("%+v: Match = %v, want %v", c.cond, got, c.want)
		}
	}
	if _, ok := (Cond{Any: []Cond{yes, short}}).SQL("bloom"); ok {
		t.Error("an OR with an operand that rules nothing out must have no condition")
	}
	if e, ok := (Cond{All: []Cond{yes, short}}).SQL("bloom"); !ok || strings.Contains(e, "declined") {
		t.Errorf("SQL = %q, %v: want a condition without the needle's text", e, ok)
	}
}

// asciiUpper raises ASCII letters only (strings.ToUpper would rewrite
// invalid UTF-8, which random cuts make).
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

func randomText(rng *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_/.:\n\"'%é田"
	var s strings.Builder
	for range 1 + rng.IntN(80) {
		s.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	return s.String()
}

func BenchmarkWrite(b *testing.B) {
	line := "GET /api/v1/orders/1234 HTTP/1.1 200\ninfo\nweb\nproduction\nweb-3\ndjango.request\n\n\nreq-7f3a9c0d11e2b4a5\n\n\n\n/api/v1/orders/\n200\n12345\n17.5"
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	bl := NewBuilder(ChunkRows)
	for b.Loop() {
		bl.Write(line)
		bl.EndRow()
	}
}
