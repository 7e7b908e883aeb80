// Package textbloom provides bloom filters of the 3-grams of search text:
// our own skipping index for ClickHouse releases without one (18.16).
//
// pkg/store keeps one filter per chunk of up to ChunkRows rows of a tenant
// (table text_blooms, with the chunk's time range). A row whose lowered
// search text contains a needle of three bytes or more has every 3-gram of
// that needle, so its chunk's filter has every probe bit of them set: a
// filter with some bit unset rules the whole chunk out, and a search for a
// rare term reads only the time ranges of the chunks left. False positives
// cost a chunk read in vain; there are no false negatives.
//
// Text is lowered as ClickHouse's lower() lowers it: ASCII letters only.
// The same hashes are computed here to build a filter and in SQL to test
// one (Cond.SQL), so the two must never change apart: a change of hash or
// layout needs a new table.
package textbloom

import (
	"strconv"
	"strings"
)

// ChunkRows is the most rows one filter should cover; BitsPerRow bits per
// row (at least MinBits, at most MaxBits, a power of two) keep about one bit
// in four set for Django-like lines (bench/querybench): a needle of ten
// 3-grams rare in the data passes a chunk without it about once in a
// million. Four bytes a row; the filters of 10 million rows are 40 MiB.
const (
	ChunkRows  = 1024
	BitsPerRow = 32
	MinBits    = 512
	MaxBits    = ChunkRows * BitsPerRow
)

// Builder accumulates the 3-grams of the rows of one chunk.
type Builder struct {
	bits []byte
	mask uint32 // len(bits)*8 - 1
	gram uint32 // the last bytes written, lowered, newest lowest
	n    int    // bytes written in this row, saturating at 2
}

// NewBuilder returns a Builder sized for rows rows.
func NewBuilder(rows int) *Builder {
	m := MinBits
	for m < rows*BitsPerRow && m < MaxBits {
		m *= 2
	}
	return &Builder{bits: make([]byte, m/8), mask: uint32(m - 1)}
}

// Write adds the 3-grams of s, continuing those of the row's text written
// so far (a 3-gram may span two writes, as it spans two fields joined into
// one search text).
func (b *Builder) Write(s string) {
	// Locals, not fields, in the loop: the stores into bits would
	// otherwise make the compiler reload and store them every byte.
	gram, n, bits, mask := b.gram, b.n, b.bits, b.mask
	for i := 0; i < len(s); i++ {
		gram = shift(gram, s[i])
		if n < 2 {
			n++
			continue
		}
		p := probe(gram) & mask
		bits[p>>3] |= 1 << (p & 7)
	}
	b.gram, b.n = gram, n
}

// shift returns the 3-gram that ends with c, after the one that ended
// before it: Builder.Write and needleProbes must agree on it.
func shift(gram uint32, c byte) uint32 {
	// A table, not a branch: mixed case mispredicts.
	return (gram<<8 | uint32(lower[c])) & 0xFFFFFF
}

// lower maps a byte to itself with ASCII letters lowered, as ClickHouse's
// lower() does.
var lower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] += 'a' - 'A'
		}
	}
	return t
}()

// EndRow ends a row: the next Write starts a new text.
func (b *Builder) EndRow() { b.gram, b.n = 0, 0 }

// Bytes returns the filter.
func (b *Builder) Bytes() []byte { return b.bits }

// probe returns the probe position of a 3-gram (its bytes packed first
// byte highest: "abc" is 'a'<<16|'b'<<8|'c'). A filter of m bits tests bit
// p & (m-1), bit i being bit i&7 of byte i>>3. One probe per 3-gram (a
// bloom filter with k = 1): half the work of two, and a needle has several
// 3-grams, each a probe. Multiplicative hashing: the high 32 bits of the
// product mix every input bit.
func probe(gram uint32) uint32 {
	return uint32(uint64(gram) * 0x9E3779B97F4A7C15 >> 32)
}

// needleProbes returns the probes of needle's 3-grams, lowered, without
// repeats; none when needle is shorter than three bytes.
func needleProbes(needle string) []uint32 {
	var gram uint32
	seen := map[uint32]bool{}
	var out []uint32
	for i := 0; i < len(needle); i++ {
		gram = shift(gram, needle[i])
		if i < 2 {
			continue
		}
		if p := probe(gram); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// MayContain reports whether a row of the chunk filter was built from may
// contain needle (lowered as Write lowers). An empty filter stands for "any
// text" and always may.
func MayContain(filter []byte, needle string) bool {
	if len(filter) == 0 {
		return true
	}
	mask := uint32(len(filter)*8 - 1)
	for _, p := range needleProbes(needle) {
		i := p & mask
		if filter[i>>3]&(1<<(i&7)) == 0 {
			return false
		}
	}
	return true
}

// Cond is a condition on the search text of the rows a query selects: a
// leaf (Needle: the text holds it, as a substring, ASCII case ignored), or
// the conjunction of All, or the disjunction of Any.
type Cond struct {
	Needle   string
	All, Any []Cond
}

// Match reports whether a chunk with filter may hold a row meeting c.
// Leaves without a condition (needles under three bytes) count as met.
func (c Cond) Match(filter []byte) bool {
	switch {
	case c.All != nil:
		for _, x := range c.All {
			if !x.Match(filter) {
				return false
			}
		}
		return true
	case c.Any != nil:
		for _, x := range c.Any {
			if x.Match(filter) {
				return true
			}
		}
		return false
	}
	return MayContain(filter, c.Needle)
}

// SQL returns a ClickHouse expression (18.16 and later) over the String
// column that is true for the filters Match accepts, except that it has
// no case for the empty filter: callers test that themselves. ok is false
// when c rules nothing out (no needle of three bytes where one is needed).
// The expression holds only numbers this package computed, no query text.
func (c Cond) SQL(column string) (expr string, ok bool) {
	switch {
	case c.All != nil:
		var parts []string
		for _, x := range c.All {
			if e, ok := x.SQL(column); ok {
				parts = append(parts, e)
			}
		}
		if len(parts) == 0 {
			return "", false
		}
		return "(" + strings.Join(parts, " AND ") + ")", true
	case c.Any != nil:
		parts := make([]string, 0, len(c.Any))
		for _, x := range c.Any {
			e, ok := x.SQL(column)
			if !ok {
				return "", false
			}
			parts = append(parts, e)
		}
		return "(" + strings.Join(parts, " OR ") + ")", true
	}
	ps := needleProbes(c.Needle)
	if len(ps) == 0 {
		return "", false
	}
	tests := make([]string, len(ps))
	for i, p := range ps {
		// Bit p & (m-1) of the filter: byte (that >> 3) + 1 (1-based),
		// bit p & 7 within it (m is a multiple of 8).
		tests[i] = "bitAnd(reinterpretAsUInt8(substring(" + column + ", intDiv(bitAnd(" + strconv.FormatUint(uint64(p), 10) +
			", length(" + column + ") * 8 - 1), 8) + 1, 1)), " + strconv.Itoa(1<<(p&7)) + ") != 0"
	}
	return "(" + strings.Join(tests, " AND ") + ")", true
}
