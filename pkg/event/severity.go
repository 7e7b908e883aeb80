package event

import (
	"strings"
	"unicode/utf8"
)

// Canonical level names, one per OpenTelemetry severity range.
const (
	LevelTrace = "trace" // 1-4
	LevelDebug = "debug" // 5-8
	LevelInfo  = "info"  // 9-12
	LevelWarn  = "warn"  // 13-16
	LevelError = "error" // 17-20
	LevelFatal = "fatal" // 21-24
)

// LevelName returns the canonical level name for an OpenTelemetry severity
// number, or "" for 0 and out-of-range numbers.
func LevelName(n int32) string {
	switch {
	case n >= 1 && n <= 4:
		return LevelTrace
	case n >= 5 && n <= 8:
		return LevelDebug
	case n >= 9 && n <= 12:
		return LevelInfo
	case n >= 13 && n <= 16:
		return LevelWarn
	case n >= 17 && n <= 20:
		return LevelError
	case n >= 21 && n <= 24:
		return LevelFatal
	}
	return ""
}

// ParseLevel maps a severity name as loggers write it (Python's WARNING and
// CRITICAL, syslog's err and emerg, OTel's WARN4 ...) to its OpenTelemetry
// severity number. It is case-insensitive and reports false for unknown names.
func ParseLevel(s string) (int32, bool) {
	s = strings.TrimSpace(s)
	var buf [16]byte
	if lower, ok := asciiLower(buf[:0], s); ok {
		return levelNumber(string(lower)) // converted for the switch only: no allocation
	}
	return levelNumber(strings.ToLower(s))
}

// asciiLower appends s in lower case to dst, reporting false (and doing
// nothing useful) when s is longer than dst's capacity or not ASCII.
func asciiLower(dst []byte, s string) ([]byte, bool) {
	if len(s) > cap(dst) {
		return dst, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return dst, false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// levelNumber maps a trimmed lower-case severity name to its number.
func levelNumber(s string) (int32, bool) {
	switch s {
	case "trace", "finest", "finer":
		return 1, true
	case "debug", "fine", "dbg":
		return 5, true
	case "info", "information", "informational", "notice", "inf":
		return 9, true
	case "warn", "warning", "wrn":
		return 13, true
	case "error", "err", "erro", "eror":
		return 17, true
	case "critical", "crit", "fatal", "alert", "emerg", "emergency", "panic":
		return 21, true
	}
	return 0, false
}
