package lql

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestNeedle(t *testing.T) {
	f := func(needle, haystack string, want bool) {
		t.Helper()
		n := newNeedle(needle)
		if got := n.in(haystack); got != want {
			t.Errorf("%q in %q = %v, want %v (fold %v)", needle, haystack, got, want, n.fold)
		}
	}
	f("", "", true)
	f("", "abc", true)
	f("abc", "", false)
	f("abc", "xxABCxx", true)
	f("aBc", "abc", true)
	f("abc", "ab", false)
	f("abd", "abcabd", true)
	f("aab", "aaab", true)
	f("5k", "5K", true)
	f("5k", "5\u212a", false) // Kelvin sign
	f("s", "\u017f", false)   // long s
	f("i", "İı", false)
	f("@", "`", false)
	f("[", "{", false)
	f("müller", "Kunde MÜLLER", true)
	f("MÜLLER", "kunde müller", true)
	f("ü", "u", false)
	f("zahlung für", "ZAHLUNG FÜR", true)
	f("σ", "Σ", true)
	f("Σ", "ς", false)
	f("ς", "Σ", false)
	f("ς", "ς", true)
	f("µ", "Μ", false)
	f("Μ", "μ", true)
	f("ǆ", "Ǆ", true)
	f("ǆ", "ǅ", false)
	f("ǅ", "ǅ", true)
	f("ǅ", "ǆ", false) // not folded: case-sensitive
	f("straße", "STRASSE", false)
	f("straße", "Straße", false) // ß is not folded: the whole needle is case-sensitive
	f("Straße", "Straße", true)
	f("ü5k", "Ü5\u212a", false) // current ClickHouse may differ (see package doc)
	f("田中", "ユーザー 田中", true)
	f("🚫", "x🚫", true)
	f("é", "\xc3E\xc3\xa9", true) // an invalid byte before a match
	f("\ufffd", "\xff", false)    // an invalid byte never matches
	f("\ufffd", "a\ufffd", true)  // a real replacement character does
	f("ＡＢＣ", "ａｂｃ", true)         // fullwidth
	f("𐐀", "𐐨", true)             // Deseret, 4 bytes
	f("ⓐ", "Ⓐ", false)            // circled letters are not folded
	f("Ꭰ", "ꭰ", false)            // Cherokee is not folded
}

func TestFoldTableSorted(t *testing.T) {
	for i, r := range foldRanges {
		if r.lo > r.hi || i > 0 && foldRanges[i-1].hi >= r.lo {
			t.Fatalf("foldRanges[%d] = %U..%U: ranges must be sorted, disjoint and non-empty", i, r.lo, r.hi)
		}
	}
}

// foldTableRunes returns the cased runes of foldRanges.
func foldTableRunes() []rune {
	var rs []rune
	for _, fr := range foldRanges {
		for r := fr.lo; r <= fr.hi; r++ {
			if !caseless(r) {
				rs = append(rs, r)
			}
		}
	}
	return rs
}

// TestFoldTableCasedCount guards against a Go release whose Unicode tables
// make more or fewer runes cased inside the verified ranges: rerun
// TestFoldTableAgainstClickHouse on both ClickHouse versions then, and adjust
// the table and this count.
func TestFoldTableCasedCount(t *testing.T) {
	if n := len(foldTableRunes()); n != 2018 {
		t.Fatalf("foldRanges hold %d cased runes, verified with 2018 (Unicode %s)", n, unicode.Version)
	}
}

func TestFoldAlternativeUnique(t *testing.T) {
	for _, r := range foldTableRunes() {
		lower := unicode.ToLower(r)
		var n int
		for _, m := range []rune{lower, unicode.ToUpper(r)} {
			if m != r && utf8.RuneLen(m) == utf8.RuneLen(r) && unicode.ToLower(m) == lower {
				n++
			}
		}
		if n > 1 {
			t.Errorf("%U %c has %d alternatives; needle matching assumes one", r, r, n)
		}
	}
}

// TestFoldTableAgainstClickHouse checks, on the test server, that every cased
// rune of foldRanges matches exactly itself and foldAlternative among all
// cased runes, as the first character of a short needle (ClickHouse's plain
// searcher), after an ASCII character, and at both ends of needles long
// enough for its Volnitsky searcher.
func TestFoldTableAgainstClickHouse(t *testing.T) {
	conn := openDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE TABLE hay (r UInt32, s String) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO hay (r, s)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range casedRunes() {
		if err := batch.Append(uint32(r), string(r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	needles := foldTableRunes()
	for len(needles) > 0 {
		chunk := needles[:min(100, len(needles))]
		needles = needles[len(chunk):]
		var cols []string
		var args []any
		for _, r := range chunk {
			for _, c := range foldContexts {
				cols = append(cols, "groupArrayIf(r, positionCaseInsensitiveUTF8("+c.haystack+", ?) > 0)")
				args = append(args, c.needle(r))
			}
		}
		results := make([][]uint32, len(cols))
		dest := make([]any, len(cols))
		for i := range results {
			dest[i] = &results[i]
		}
		if err := conn.QueryRow(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM hay", args...).Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for i, r := range chunk {
			want := foldWant(r)
			for j, c := range foldContexts {
				got := results[i*len(foldContexts)+j]
				slices.Sort(got)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%U %c (%s): matches %s, want %s", r, r, c.name, runeList(got), runeList(want))
				}
			}
		}
	}
}

const long = "abcdefghijklmnopq" // 17 bytes: more than one SIMD block

// foldContexts are the places TestFoldTableAgainstClickHouse puts a rune:
// a haystack expression over hay.s and the needle for the rune.
var foldContexts = []struct {
	name, haystack string
	needle         func(r rune) string
}{
	{"first", "concat('#', s, '~~~~')", func(r rune) string { return string(r) }},
	{"second", "concat('#', s, '~~~~')", func(r rune) string { return "#" + string(r) }},
	{"last of long", "concat('" + long + "', s, '~~~~')", func(r rune) string { return strings.ToUpper(long) + string(r) }},
	{"first of long", "concat('#', s, '" + long + "')", func(r rune) string { return string(r) + strings.ToUpper(long) }},
}

// foldWant returns the runes r must match, sorted.
func foldWant(r rune) []uint32 {
	want := []uint32{uint32(r)}
	if alt := foldAlternative(r); alt != r {
		want = append(want, uint32(alt))
	}
	slices.Sort(want)
	return want
}

// casedRunes returns every cased rune.
func casedRunes() []rune {
	var rs []rune
	for r := rune(1); r <= unicode.MaxRune; r++ {
		if utf8.ValidRune(r) && !caseless(r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// foldCheckSQL renders TestFoldTableAgainstClickHouse as statements for
// ch-modern-check: each SELECT throws when a rune matches other runes.
func foldCheckSQL(tb testing.TB) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE hay (r UInt32, s String) ENGINE = Memory;\nINSERT INTO hay (r, s) VALUES ")
	for i, r := range casedRunes() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, %s)", r, sqlLiteral(tb, string(r)))
	}
	b.WriteString(";\n")
	needles := foldTableRunes()
	for len(needles) > 0 {
		chunk := needles[:min(100, len(needles))]
		needles = needles[len(chunk):]
		var cols []string
		for _, r := range chunk {
			want := strings.Trim(strings.ReplaceAll(fmt.Sprint(foldWant(r)), " ", ","), "[]")
			for _, c := range foldContexts {
				cols = append(cols, fmt.Sprintf("throwIf(arraySort(groupArrayIf(r, positionCaseInsensitiveUTF8(%s, %s) > 0)) != CAST([%s] AS Array(UInt32)), %s)",
					c.haystack, sqlLiteral(tb, c.needle(r)), want, sqlLiteral(tb, fmt.Sprintf("fold %U %s", r, c.name))))
			}
		}
		b.WriteString("SELECT " + strings.Join(cols, ", ") + " FROM hay;\n")
	}
	return b.String()
}

func runeList(rs []uint32) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%U %c", r, r))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
