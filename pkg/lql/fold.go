package lql

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// needle is a compiled search text: a substring test with the semantics of
// ClickHouse's positionCaseInsensitiveUTF8 (fold) or position (!fold).
type needle struct {
	text string
	// fold: case-insensitive. False when text has a cased rune outside
	// foldRanges, on which ClickHouse releases disagree.
	fold bool
	// lower is text with ASCII letters lowered, when fold and text is ASCII.
	lower string
	// runes is text rune by rune with its alternatives, when fold and text
	// is not ASCII.
	runes []foldRune
}

// foldRune is a needle rune and the one other rune it matches (r when none).
type foldRune struct{ r, alt rune }

func newNeedle(text string) needle {
	n := needle{text: text, fold: foldable(text)}
	if !n.fold {
		return n
	}
	if isASCII(text) {
		n.lower = asciiLower(text)
		return n
	}
	n.runes = make([]foldRune, 0, len(text))
	for _, r := range text {
		n.runes = append(n.runes, foldRune{r, foldAlternative(r)})
	}
	return n
}

// foldable reports whether every cased rune of s is in foldRanges.
func foldable(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf && !caseless(r) && !inFoldRanges(r) {
			return false
		}
	}
	return true
}

// caseless reports whether Go's Unicode tables give r no case mapping.
func caseless(r rune) bool {
	return unicode.SimpleFold(r) == r && unicode.ToLower(r) == r &&
		unicode.ToUpper(r) == r && unicode.ToTitle(r) == r
}

func inFoldRanges(r rune) bool {
	i := sort.Search(len(foldRanges), func(i int) bool { return foldRanges[i].hi >= r })
	return i < len(foldRanges) && foldRanges[i].lo <= r
}

// foldAlternative returns the rune other than r that r matches
// case-insensitively, or r when there is none: r's simple lower or upper
// case mapping, if it encodes to as many bytes as r and lowers to what r
// lowers to. (ClickHouse compares UTF-8 byte sequences of equal length; the
// lowering condition keeps final sigma ς from matching Σ.) For runes in
// foldRanges at most one mapping qualifies (TestFoldAlternativeUnique).
func foldAlternative(r rune) rune {
	lower := unicode.ToLower(r)
	for _, m := range [2]rune{lower, unicode.ToUpper(r)} {
		if m != r && utf8.RuneLen(m) == utf8.RuneLen(r) && unicode.ToLower(m) == lower {
			return m
		}
	}
	return r
}

// in reports whether the needle occurs in h.
func (n *needle) in(h string) bool { return n.index(h) >= 0 }

// index returns the offset of the needle's first occurrence in h, or -1.
// An occurrence is always len(n.text) bytes long: a rune matches only
// itself or an alternative of the same length.
func (n *needle) index(h string) int {
	switch {
	case !n.fold:
		return strings.Index(h, n.text)
	case n.runes == nil:
		return indexFoldASCII(h, n.lower)
	}
	return n.indexFoldRunes(h)
}

// indexFoldASCII returns the offset of the first occurrence in h of lower,
// an ASCII string with no upper-case letters, ignoring ASCII case, or -1.
// Bytes of multi-byte runes never equal ASCII bytes, so a byte-wise search
// is exact.
func indexFoldASCII(h, lower string) int {
	if lower == "" {
		return 0
	}
	first, firstUp := lower[0], asciiUpper(lower[0])
	rest := lower[1:]
	for i, last := 0, len(h)-len(lower); i <= last; i++ {
		c := h[i]
		if c != first && c != firstUp {
			// Skip ahead to the next candidate first byte.
			j := indexEither(h[i+1:last+1], first, firstUp)
			if j < 0 {
				return -1
			}
			i += j
			continue
		}
		if equalFoldASCII(h[i+1:i+len(lower)], rest) {
			return i
		}
	}
	return -1
}

// indexEither returns the index of the first a or b in s, or -1.
func indexEither(s string, a, b byte) int {
	i := strings.IndexByte(s, a)
	if a == b {
		return i
	}
	if i >= 0 {
		s = s[:i]
	}
	if j := strings.IndexByte(s, b); j >= 0 {
		return j
	}
	return i
}

// equalFoldASCII reports whether s equals lower ignoring ASCII case.
func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// indexFoldRunes tries the needle at each byte that starts its first rune
// or that rune's alternative (a lead or ASCII byte is always where Go's
// decoding of h starts a rune, valid UTF-8 or not), and returns the first
// offset where it matches, or -1.
func (n *needle) indexFoldRunes(h string) int {
	var first, firstAlt [utf8.UTFMax]byte
	utf8.EncodeRune(first[:], n.runes[0].r)
	utf8.EncodeRune(firstAlt[:], n.runes[0].alt)
	for i := 0; i < len(h); i++ {
		j := indexEither(h[i:], first[0], firstAlt[0])
		if j < 0 {
			return -1
		}
		i += j
		if n.matchAt(h[i:]) {
			return i
		}
	}
	return -1
}

// matchAt reports whether h starts with the needle.
func (n *needle) matchAt(h string) bool {
	for _, fr := range n.runes {
		r, w := utf8.DecodeRuneInString(h)
		if w == 0 || r == utf8.RuneError && w == 1 || r != fr.r && r != fr.alt {
			return false
		}
		h = h[w:]
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func asciiUpper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
