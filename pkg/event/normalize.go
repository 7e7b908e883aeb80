package event

import (
	"strings"
	"time"
	"unicode/utf8"
)

// LevelAttr is the attribute key under which Normalize keeps a severity text
// it does not recognise.
const LevelAttr = "level"

// Normalize brings a decoded event into canonical form, in place:
//
//   - ObservedTime is set to now when zero, and Time to ObservedTime when zero.
//   - A SeverityNumber outside 1..24 becomes 0. When SeverityNumber is set it
//     wins and Level becomes LevelName(SeverityNumber); otherwise a Level that
//     ParseLevel knows sets SeverityNumber and is replaced by its canonical
//     name. A Level it does not know is moved to the attribute LevelAttr
//     (unless that key is already taken) and cleared, so Level is always ""
//     or a canonical name.
//   - Every string field, attribute key and value is made valid UTF-8: each
//     run of invalid bytes becomes U+FFFD.
//
// Normalize never removes attributes or fails; Validate decides what is
// acceptable. It is idempotent.
func Normalize(e *Event, now time.Time) { normalize(e, now) }

// normalize is Normalize, reporting whether invalid UTF-8 was replaced.
func normalize(e *Event, now time.Time) (fixedUTF8 bool) {
	if e.ObservedTime == 0 {
		e.ObservedTime = now.UnixNano()
	}
	if e.Time == 0 {
		e.Time = e.ObservedTime
	}
	fixedUTF8 = validUTF8(e)
	normalizeLevel(e)
	return fixedUTF8
}

func normalizeLevel(e *Event) {
	if e.SeverityNumber < 1 || e.SeverityNumber > 24 {
		e.SeverityNumber = 0
	}
	if e.SeverityNumber != 0 {
		e.Level = LevelName(e.SeverityNumber)
		return
	}
	if e.Level == "" {
		return
	}
	if n, ok := ParseLevel(e.Level); ok {
		e.SeverityNumber = n
		e.Level = LevelName(n)
		return
	}
	if !hasAttr(e.Attrs, LevelAttr) {
		e.Attrs = append(e.Attrs, Attr{Key: LevelAttr, Value: e.Level})
	}
	e.Level = ""
}

func hasAttr(attrs []Attr, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return true
		}
	}
	return false
}

func validUTF8(e *Event) (fixed bool) {
	for _, p := range [...]*string{
		&e.Level, &e.Message, &e.Service, &e.Environment, &e.Host, &e.Logger,
		&e.TraceID, &e.SpanID, &e.RequestID,
		&e.Exception.Type, &e.Exception.Message, &e.Exception.Stack,
	} {
		fixed = fixUTF8(p) || fixed
	}
	for i := range e.Attrs {
		fixed = fixUTF8(&e.Attrs[i].Key) || fixed
		fixed = fixUTF8(&e.Attrs[i].Value) || fixed
	}
	for i := range e.NumAttrs {
		fixed = fixUTF8(&e.NumAttrs[i].Key) || fixed
	}
	return fixed
}

func fixUTF8(p *string) bool {
	if !utf8.ValidString(*p) {
		*p = strings.ToValidUTF8(*p, "\uFFFD")
		return true
	}
	return false
}
