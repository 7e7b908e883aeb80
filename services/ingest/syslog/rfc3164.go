package syslog

import (
	"strings"
	"time"
)

// maxTagLen bounds an RFC 3164 TAG. RFC 3164 allows 32 characters; real
// senders (Python's logger names, systemd units) use more.
const maxTagLen = 128

// parse3164 decodes what follows the PRI of a BSD syslog message:
// [TIMESTAMP SP [HOSTNAME SP]] [KEY SP] [TAG[\[PID\]]: SP] [KEY SP] MSG.
// The timestamp is "Mmm dd hh:mm:ss" or RFC 3339; when there is none (as
// from Python's SysLogHandler) there is no hostname either. Anything that
// does not fit is message text: RFC 3164 cannot be malformed.
func parse3164(m *Message, s string, now time.Time) {
	e := &m.Event
	header := false
	if t, rest, ok := bsdTime(s, now); ok {
		e.Time, s, header = t.UnixNano(), rest, true
	} else if tok, rest, _ := strings.Cut(s, " "); len(tok) >= 20 && tok[4] == '-' {
		if t, err := time.Parse(time.RFC3339Nano, tok); err == nil {
			e.Time, s, header = t.UnixNano(), rest, true
		}
	}
	if header {
		s = strings.TrimLeft(s, " ")
		tok, rest, _ := strings.Cut(s, " ")
		if tok != "" && !strings.HasPrefix(tok, keyPrefix) && !isTagWord(tok) {
			e.Host, s = tok, rest
		}
	}
	m.Key, s, _ = cutKey(s)
	if tag, pid, rest, ok := cutTag(s); ok {
		e.Service, s = tag, rest
		if pid != "" {
			addAttr(e, AttrProcID, pid)
		}
	}
	if m.Key == "" {
		m.Key, s, _ = cutKey(s)
	}
	e.Message = s
}

// isTagWord reports whether a whole space-delimited word is a TAG with its
// colon ("app:", "app[12]:"), i.e. the message has no HOSTNAME.
func isTagWord(w string) bool {
	_, _, rest, ok := cutTag(w)
	return ok && rest == ""
}

// cutTag reads "tag: " or "tag[pid]: " from the start of s. The colon must
// be followed by a space or the end, so that "http://..." is not a tag.
func cutTag(s string) (tag, pid, rest string, ok bool) {
	i := 0
	for i < len(s) && i <= maxTagLen {
		c := s[i]
		if c == ' ' || c == '\t' || c == '[' || c == ':' || c == ']' {
			break
		}
		i++
	}
	if i == 0 || i > maxTagLen || i == len(s) {
		return "", "", s, false
	}
	tag, r := s[:i], s[i:]
	if r[0] == '[' {
		end := strings.IndexByte(r, ']')
		if end < 0 || end > maxTagLen || strings.ContainsAny(r[1:end], " [") {
			return "", "", s, false
		}
		pid, r = r[1:end], r[end+1:]
	}
	if r == "" || r[0] != ':' {
		return "", "", s, false
	}
	r = r[1:]
	if r != "" && r[0] != ' ' {
		return "", "", s, false
	}
	return tag, pid, strings.TrimPrefix(r, " "), true
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// bsdTime reads an RFC 3164 timestamp "Mmm dd hh:mm:ss" (day padded with a
// space or a zero, optional fractional seconds) at the start of s, followed
// by a space or the end. The year is now's (UTC), or the previous one when
// that would put the time more than 24 hours after now: a message from
// Dec 31 arriving on Jan 1.
func bsdTime(s string, now time.Time) (time.Time, string, bool) {
	if len(s) < 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':' {
		return time.Time{}, s, false
	}
	month := 0
	for i, name := range months {
		if s[:3] == name {
			month = i + 1
			break
		}
	}
	day, ok1 := num2(s[4], s[5], true)
	hour, ok2 := num2(s[7], s[8], false)
	minute, ok3 := num2(s[10], s[11], false)
	sec, ok4 := num2(s[13], s[14], false)
	if month == 0 || !ok1 || !ok2 || !ok3 || !ok4 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, s, false
	}
	rest, nsec := s[15:], 0
	if rest != "" && rest[0] == '.' {
		i, scale := 1, 100_000_000
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
			nsec += int(rest[i]-'0') * scale
			scale /= 10
		}
		rest = rest[i:]
	}
	if rest != "" && rest[0] != ' ' {
		return time.Time{}, s, false
	}
	now = now.UTC()
	t := time.Date(now.Year(), time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Sub(now) > 24*time.Hour {
		t = time.Date(now.Year()-1, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	}
	return t, strings.TrimPrefix(rest, " "), true
}

// num2 parses two decimal digits; with space, the first may be a space.
func num2(a, b byte, space bool) (int, bool) {
	if space && a == ' ' {
		a = '0'
	}
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}
