package native

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// parseTime reads a timestamp field: a number (or a string of one) is Unix
// time in seconds, milliseconds, microseconds or nanoseconds, told apart by
// magnitude; a string is ISO 8601 as parseISO reads it. It returns Unix
// nanoseconds, or a client-safe reason.
func parseTime(text string, k kind) (int64, string) {
	s := strings.TrimSpace(text)
	if k == kindNumber || looksNumeric(s) {
		return parseEpoch(s, text)
	}
	t, ok := parseISO(s)
	if !ok {
		return 0, unparseable(text)
	}
	if t.Before(minTime) || t.After(maxTime) {
		return 0, outOfRange(text)
	}
	return t.UnixNano(), ""
}

func unparseable(text string) string {
	return fmt.Sprintf("unparseable timestamp %q", shorten(text))
}

func outOfRange(text string) string {
	return fmt.Sprintf("timestamp %q is out of range", shorten(text))
}

// looksNumeric reports whether s is a decimal number: digits with at most
// one '.' and an optional leading '-'.
func looksNumeric(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || s == "." {
		return false
	}
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return true
}

// epochUnits, by magnitude of the integer part: below 1e11 seconds (until
// the year 5138), below 1e14 milliseconds, below 1e17 microseconds, else
// nanoseconds. digits is how many fraction digits reach nanoseconds.
var epochUnits = [...]struct {
	below  uint64
	ns     int64
	digits int
}{
	{1e11, 1e9, 9},
	{1e14, 1e6, 6},
	{1e17, 1e3, 3},
	{math.MaxUint64, 1, 0},
}

// parseEpoch converts a decimal Unix time exactly (no float rounding unless
// it has an exponent).
func parseEpoch(s, text string) (int64, string) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if strings.ContainsAny(s, "eE") {
		return parseEpochFloat(s, neg, text)
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" {
		intPart = "0"
	}
	n, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil {
		return 0, outOfRange(text)
	}
	u := epochUnits[0]
	for _, u = range epochUnits {
		if n < u.below {
			break
		}
	}
	if n > uint64(math.MaxInt64/u.ns) {
		return 0, outOfRange(text)
	}
	ns := int64(n) * u.ns
	if len(frac) > u.digits {
		frac = frac[:u.digits]
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", u.digits-len(frac)), 10, 64)
		if ns > math.MaxInt64-f {
			return 0, outOfRange(text)
		}
		ns += f
	}
	if neg {
		ns = -ns
	}
	return ns, ""
}

func parseEpochFloat(s string, neg bool, text string) (int64, string) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, outOfRange(text)
	}
	u := epochUnits[0]
	for _, u = range epochUnits {
		if f < float64(u.below) {
			break
		}
	}
	ns := f * float64(u.ns)
	if ns >= math.MaxInt64 {
		return 0, outOfRange(text)
	}
	if neg {
		ns = -ns
	}
	return int64(ns), ""
}
