package event

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Marker attributes say what Prepare repaired, so that a user who finds a
// truncated value knows it was Sawmill, not their logger.
const (
	// MarkerInvalidUTF8 is "replaced" when invalid UTF-8 became U+FFFD.
	MarkerInvalidUTF8 = "sawmill.invalid_utf8"
	// MarkerTruncated lists, comma-separated, the fields and attribute
	// keys whose values were cut to MaxValueBytes.
	MarkerTruncated = "sawmill.truncated"
	// MarkerDroppedAttributes counts attributes dropped beyond MaxAttributes.
	MarkerDroppedAttributes = "sawmill.dropped_attributes"
)

// Prepare makes an event from any input format ready to store, the one way
// every decoder does it. The policy, limit by limit:
//
//   - invalid UTF-8: repaired (U+FFFD), marked with MarkerInvalidUTF8;
//   - a field (service, host, ...) or attribute value over MaxValueBytes:
//     cut to that length on a character boundary, marked with
//     MarkerTruncated;
//   - more than MaxAttributes attributes: the first ones are kept, the
//     rest dropped, and MarkerDroppedAttributes says how many;
//   - everything else Validate checks (an event over MaxEventBytes after
//     the repairs, a missing message, a timestamp before 1970, more than
//     MaxFutureSkew ahead or older than MaxAge, empty, long or duplicate
//     keys, non-finite numbers) rejects the event with the reason.
//
// It normalises e (see Normalize), repairs it in place and returns Validate's
// verdict.
func (l Limits) Prepare(e *Event, now time.Time) error {
	l = l.withDefaults()
	var markers []Attr
	if normalize(e, now) {
		markers = append(markers, Attr{Key: MarkerInvalidUTF8, Value: "replaced"})
	}
	if cut := l.truncate(e); len(cut) > 0 {
		markers = append(markers, Attr{Key: MarkerTruncated, Value: strings.Join(cut, ",")})
	}
	if room := l.MaxAttributes - len(markers); len(e.Attrs) > room || len(e.NumAttrs) > room {
		room-- // the dropped-attributes marker takes a place too
		dropped := dropAttrs(e, room)
		markers = append(markers, Attr{Key: MarkerDroppedAttributes, Value: strconv.Itoa(dropped)})
	}
	e.Attrs = append(e.Attrs, markers...)
	return l.Validate(e, now)
}

// truncate cuts over-long fields and attribute values and returns their
// names.
func (l Limits) truncate(e *Event) []string {
	var cut []string
	for _, f := range [...]struct {
		name string
		p    *string
	}{
		{"level", &e.Level}, {"service", &e.Service}, {"environment", &e.Environment},
		{"host", &e.Host}, {"logger", &e.Logger}, {"trace_id", &e.TraceID},
		{"span_id", &e.SpanID}, {"request_id", &e.RequestID},
	} {
		if cutTo(f.p, l.MaxValueBytes) {
			cut = append(cut, f.name)
		}
	}
	for i := range e.Attrs {
		if cutTo(&e.Attrs[i].Value, l.MaxValueBytes) {
			cut = append(cut, e.Attrs[i].Key)
		}
	}
	return cut
}

// cutTo shortens *p to at most n bytes on a character boundary.
func cutTo(p *string, n int) bool {
	if len(*p) <= n {
		return false
	}
	i := n
	for i > 0 && !utf8.RuneStart((*p)[i]) {
		i--
	}
	*p = (*p)[:i]
	return true
}

// dropAttrs keeps the first room string attributes, and the numeric ones
// whose key is kept (at most room), and returns how many distinct
// attribute keys were dropped.
func dropAttrs(e *Event, room int) int {
	room = max(room, 0)
	gone := map[string]bool{}
	if len(e.Attrs) > room {
		for _, a := range e.Attrs[room:] {
			gone[a.Key] = true
		}
		e.Attrs = e.Attrs[:room:room]
	}
	kept := make(map[string]bool, len(e.Attrs))
	for _, a := range e.Attrs {
		kept[a.Key] = true
	}
	var nums []NumAttr
	for _, a := range e.NumAttrs {
		if kept[a.Key] && len(nums) < room {
			nums = append(nums, a)
		} else {
			gone[a.Key] = true
		}
	}
	e.NumAttrs = nums
	return len(gone)
}
