package syslog

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Format names the syslog dialect a message was written in.
type Format uint8

// The formats Parse recognises.
const (
	RFC3164 Format = iota + 1 // BSD syslog, also header-less messages
	RFC5424                   // "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG"
)

// String returns "rfc3164" or "rfc5424".
func (f Format) String() string {
	switch f {
	case RFC3164:
		return "rfc3164"
	case RFC5424:
		return "rfc5424"
	}
	return "unknown"
}

// KeySDID is the structured-data id whose "key" parameter carries the API
// key in RFC 5424 messages (32473 is the example enterprise number of
// RFC 5612, reserved for documentation and private use).
const KeySDID = "sawmill@32473"

// keyPrefix starts every Sawmill API key; a message's first word with this
// prefix is taken as its key.
const keyPrefix = "sm_"

// Attribute keys Parse fills in. Structured-data parameters become
// "sd.<id>.<param>".
const (
	AttrFacility = "syslog.facility"
	AttrProcID   = "syslog.procid"
	AttrMsgID    = "syslog.msgid"
)

// Message is one parsed syslog message.
type Message struct {
	// Event holds the decoded fields: Time (0 when the message had no
	// timestamp), Level and SeverityNumber from the syslog severity, Host
	// from HOSTNAME, Service from APP-NAME (the RFC 3164 tag), Message, and
	// the attributes syslog.facility, syslog.procid, syslog.msgid and
	// sd.<id>.<param>. ObservedTime is left for the caller; the API key is
	// never part of it.
	Event event.Event
	// Key is the API key the message carried, "" when none was found.
	Key string
	// Format is the dialect the message was parsed as.
	Format Format
	// Facility and Severity are the decoded PRI (facility 0..23, severity
	// 0..7).
	Facility, Severity int
}

// ErrEmpty is returned by Parse for a frame with nothing in it but
// whitespace and NUL bytes.
var ErrEmpty = errors.New("empty message")

// maxPRI is the largest valid PRI value: facility 23, severity 7.
const maxPRI = 23*8 + 7

// defaultPRI is what RFC 3164 §4.3.3 has a relay assume for a message
// without a PRI part: user.notice.
const defaultPRI = 13

// Parse decodes one syslog message (one frame, without its framing). It
// detects the format: "<PRI>1 " starts RFC 5424, anything else is RFC 3164.
// now is used to complete RFC 3164 timestamps, which carry no year: the
// current year in UTC, or the previous one if that would put the message
// more than a day in the future. Parse never retains frame.
//
// Errors describe what is wrong in a few words; only a malformed PRI, an
// RFC 5424 header that does not parse, or an empty frame are errors:
// RFC 3164 is lenient by nature and any text is a message.
func Parse(frame []byte, now time.Time) (Message, error) {
	s := strings.TrimRight(string(frame), "\x00\r\n")
	if strings.Trim(s, " \t\x00") == "" {
		return Message{}, ErrEmpty
	}
	pri, rest, err := parsePRI(s)
	if err != nil {
		return Message{}, err
	}
	var m Message
	m.Facility, m.Severity = pri/8, pri%8
	if len(rest) >= 2 && rest[0] == '1' && rest[1] == ' ' {
		m.Format = RFC5424
		err = parse5424(&m, rest[2:])
	} else {
		m.Format = RFC3164
		parse3164(&m, rest, now)
	}
	if err != nil {
		return Message{}, err
	}
	m.Event.SeverityNumber = SeverityNumber(m.Severity)
	m.Event.Level = event.LevelName(m.Event.SeverityNumber)
	m.Event.Attrs = append(m.Event.Attrs, event.Attr{Key: AttrFacility, Value: FacilityName(m.Facility)})
	return m, nil
}

// parsePRI reads "<PRI>" from the start of s. A message without one gets
// defaultPRI, as RFC 3164 prescribes for relays.
func parsePRI(s string) (int, string, error) {
	if s[0] != '<' {
		return defaultPRI, s, nil
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return 0, "", errors.New("malformed PRI: want <0> to <191> at the start")
	}
	digits := s[1:end]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, "", errors.New("malformed PRI: leading zero")
	}
	pri := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, "", errors.New("malformed PRI: not a number")
		}
		pri = pri*10 + int(c-'0')
	}
	if pri > maxPRI {
		return 0, "", errors.New("malformed PRI: above 191")
	}
	return pri, s[end+1:], nil
}

// SeverityNumber maps a syslog severity (0 emergency .. 7 debug) to the
// OpenTelemetry scale, following the OpenTelemetry log data model's syslog
// mapping: emergency, alert and critical are FATAL3, FATAL2 and FATAL,
// error ERROR, warning WARN, notice INFO2, informational INFO, debug DEBUG.
// Python's SysLogHandler sends CRITICAL as critical, so it lands on 21 as
// it does from every other input.
func SeverityNumber(severity int) int32 {
	switch severity {
	case 0:
		return 23
	case 1:
		return 22
	case 2:
		return 21
	case 3:
		return 17
	case 4:
		return 13
	case 5:
		return 10
	case 6:
		return 9
	case 7:
		return 5
	}
	return 0
}

var facilityNames = [...]string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// FacilityName returns the conventional name of a facility code (0 "kern"
// .. 23 "local7"), or the number in decimal when it has none.
func FacilityName(f int) string {
	if f >= 0 && f < len(facilityNames) {
		return facilityNames[f]
	}
	return strconv.Itoa(f)
}

// addAttr appends key=value unless key is already present: attribute keys
// of an event are unique, and the first occurrence wins.
func addAttr(e *event.Event, key, value string) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return
		}
	}
	e.Attrs = append(e.Attrs, event.Attr{Key: key, Value: value})
}

// cutKey removes a leading API key word ("sm_..." followed by a space or
// the end) from s and returns it with the rest of s, stripped of the
// spaces that separated them. ok is false, and s returned as is, when s
// does not start with one.
func cutKey(s string) (key, rest string, ok bool) {
	if !strings.HasPrefix(s, keyPrefix) {
		return "", s, false
	}
	end := strings.IndexAny(s, " \t")
	if end < 0 {
		return s, "", true
	}
	return s[:end], strings.TrimLeft(s[end:], " \t"), true
}
