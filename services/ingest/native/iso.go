package native

import "time"

// parseISO reads the ISO 8601 shapes loggers write, without allocating:
//
//	2006-01-02
//	2006-01-02T15:04:05[.fraction][zone]
//
// where 'T' may also be 't' or a space, the fraction (any length, digits
// past nanoseconds ignored) may start with '.' or ',' (Python's asctime),
// and zone is 'Z', 'z', ±hh:mm, ±hhmm or ±hh, optionally after one space;
// without a zone the time is UTC. Out-of-range fields (February 30th, hour
// 24) are refused, not normalised.
func parseISO(s string) (time.Time, bool) {
	year, ok1 := num(s, 0, 4)
	month, ok2 := num(s, 5, 2)
	day, ok3 := num(s, 8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	if len(s) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), true
	}
	hour, ok1 := num(s, 11, 2)
	minute, ok2 := num(s, 14, 2)
	sec, ok3 := num(s, 17, 2)
	if c := s[10]; c != 'T' && c != 't' && c != ' ' || !ok1 || !ok2 || !ok3 ||
		s[13] != ':' || s[16] != ':' || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') && isDigit(rest[1]) {
		i := 1
		for scale := 100000000; i < len(rest) && isDigit(rest[i]); i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
		}
		rest = rest[i:]
	}
	offset, ok := parseZone(rest)
	if !ok {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

// parseZone reads a zone suffix, returning its offset east of UTC in seconds.
func parseZone(z string) (int, bool) {
	if len(z) > 1 && z[0] == ' ' {
		z = z[1:]
	}
	switch {
	case z == "" || z == "Z" || z == "z":
		return 0, true
	case z[0] != '+' && z[0] != '-':
		return 0, false
	}
	var h, m int
	var ok1, ok2 bool
	switch len(z) {
	case 3: // ±hh
		h, ok1 = num(z, 1, 2)
		ok2 = true
	case 5: // ±hhmm
		h, ok1 = num(z, 1, 2)
		m, ok2 = num(z, 3, 2)
	case 6: // ±hh:mm
		h, ok1 = num(z, 1, 2)
		m, ok2 = num(z, 4, 2)
		ok2 = ok2 && z[3] == ':'
	}
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, false
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return off, true
}

// num reads n decimal digits of s at i.
func num(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
