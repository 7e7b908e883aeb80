package event

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Default limits, used for every zero field of Limits.
const (
	DefaultMaxEventBytes = 256 << 10
	DefaultMaxAttributes = 200
	DefaultMaxKeyBytes   = 128
	DefaultMaxValueBytes = 32 << 10
	DefaultMaxFutureSkew = 24 * time.Hour
)

// Limits bounds what a single event may contain. A zero field means its
// default (the Default* constants); negative values are treated as zero.
type Limits struct {
	// MaxEventBytes bounds Event.Size. 0 means 256 KiB.
	MaxEventBytes int
	// MaxAttributes bounds len(Attrs) and, separately, len(NumAttrs) (a
	// numeric field appears in both, so it counts once). 0 means 200.
	MaxAttributes int
	// MaxKeyBytes bounds every attribute key. 0 means 128.
	MaxKeyBytes int
	// MaxValueBytes bounds every attribute value and each of the short
	// identity fields (Level, Service, Environment, Host, Logger, TraceID,
	// SpanID, RequestID). Message and Exception are bounded only by
	// MaxEventBytes. 0 means 32 KiB.
	MaxValueBytes int
	// MaxFutureSkew is how far past now an event's Time may lie. 0 means 24h.
	MaxFutureSkew time.Duration
	// MaxAge is how far before now an event's Time may lie; 0 means no
	// limit. Edges set it to the tenant's retention: an older event would
	// be deleted as soon as it was stored.
	MaxAge time.Duration
}

// DefaultLimits returns Limits with every field set to its default.
func DefaultLimits() Limits {
	return Limits{
		MaxEventBytes: DefaultMaxEventBytes,
		MaxAttributes: DefaultMaxAttributes,
		MaxKeyBytes:   DefaultMaxKeyBytes,
		MaxValueBytes: DefaultMaxValueBytes,
		MaxFutureSkew: DefaultMaxFutureSkew,
	}
}

// withDefaults returns l with every non-positive field replaced by its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = d.MaxEventBytes
	}
	if l.MaxAttributes <= 0 {
		l.MaxAttributes = d.MaxAttributes
	}
	if l.MaxKeyBytes <= 0 {
		l.MaxKeyBytes = d.MaxKeyBytes
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = d.MaxValueBytes
	}
	if l.MaxFutureSkew <= 0 {
		l.MaxFutureSkew = d.MaxFutureSkew
	}
	return l
}

// ValidationError reports why an event was refused. Reason is short, names
// the offending field and limit, and is safe to show to the client that sent
// the event.
type ValidationError struct {
	Reason string
}

// Error returns Reason.
func (e *ValidationError) Error() string { return e.Reason }

func invalid(format string, args ...any) error {
	return &ValidationError{Reason: fmt.Sprintf(format, args...)}
}

// Validate reports, as a *ValidationError, the first limit e breaks, or nil.
// It expects a normalised event (see Normalize) and checks, in order: size,
// timestamp (present, not before 1970, at most MaxFutureSkew after now),
// content (a Message or an Exception type or message that is not just
// white space), severity number (0..24), identity field lengths, and
// attributes (count, empty, long or duplicate keys, long values, non-finite
// numbers). It does not modify e and is safe for concurrent use.
func (l Limits) Validate(e *Event, now time.Time) error {
	l = l.withDefaults()
	if n := e.Size(); n > l.MaxEventBytes {
		return invalid("event is %d bytes, limit %d", n, l.MaxEventBytes)
	}
	if err := l.validateTime(e, now); err != nil {
		return err
	}
	if blank(e.Message) && blank(e.Exception.Type) && blank(e.Exception.Message) {
		return invalid("message is empty")
	}
	if e.SeverityNumber < 0 || e.SeverityNumber > 24 {
		return invalid("severity_number %d is out of range 0..24", e.SeverityNumber)
	}
	if err := l.validateFields(e); err != nil {
		return err
	}
	return l.validateAttrs(e)
}

func (l Limits) validateTime(e *Event, now time.Time) error {
	switch {
	case e.Time == 0:
		return invalid("timestamp is missing")
	case e.Time < 0:
		return invalid("timestamp %s is before 1970", formatNanos(e.Time))
	}
	limit := now.UnixNano() + int64(l.MaxFutureSkew)
	if limit < now.UnixNano() { // overflow: nothing can be too far ahead
		return nil
	}
	if e.Time > limit {
		return invalid("timestamp %s is more than %s in the future",
			formatNanos(e.Time), formatDuration(l.MaxFutureSkew))
	}
	if l.MaxAge > 0 && e.Time < now.UnixNano()-int64(l.MaxAge) {
		return invalid("timestamp %s is older than the retention of %s: it would be deleted at once",
			formatNanos(e.Time), formatDuration(l.MaxAge))
	}
	return nil
}

func (l Limits) validateFields(e *Event) error {
	fields := [...]struct{ name, v string }{
		{"level", e.Level}, {"service", e.Service}, {"environment", e.Environment},
		{"host", e.Host}, {"logger", e.Logger}, {"trace_id", e.TraceID},
		{"span_id", e.SpanID}, {"request_id", e.RequestID},
	}
	for _, f := range fields {
		if len(f.v) > l.MaxValueBytes {
			return invalid("%s is %d bytes, limit %d", f.name, len(f.v), l.MaxValueBytes)
		}
	}
	return nil
}

func (l Limits) validateAttrs(e *Event) error {
	n := max(len(e.Attrs), len(e.NumAttrs))
	if n > l.MaxAttributes {
		return invalid("too many attributes: %d, limit %d", n, l.MaxAttributes)
	}
	for _, a := range e.Attrs {
		if err := l.validateKey(a.Key); err != nil {
			return err
		}
		if len(a.Value) > l.MaxValueBytes {
			return invalid("attribute %q value is %d bytes, limit %d",
				shorten(a.Key), len(a.Value), l.MaxValueBytes)
		}
	}
	for _, a := range e.NumAttrs {
		if err := l.validateKey(a.Key); err != nil {
			return err
		}
		if math.IsInf(a.Value, 0) || math.IsNaN(a.Value) {
			return invalid("attribute %q is not a finite number", shorten(a.Key))
		}
	}
	if k, ok := duplicateKey(e.Attrs, func(a Attr) string { return a.Key }); ok {
		return invalid("duplicate attribute key %q", shorten(k))
	}
	if k, ok := duplicateKey(e.NumAttrs, func(a NumAttr) string { return a.Key }); ok {
		return invalid("duplicate numeric attribute key %q", shorten(k))
	}
	return nil
}

func (l Limits) validateKey(k string) error {
	switch {
	case k == MarkerInvalidUTF8 || k == MarkerTruncated || k == MarkerDroppedAttributes:
		return nil // Sawmill's own markers, whatever MaxKeyBytes is
	case k == "":
		return invalid("attribute key is empty")
	case len(k) > l.MaxKeyBytes:
		return invalid("attribute key %q longer than %d bytes", shorten(k), l.MaxKeyBytes)
	}
	return nil
}

// duplicateKey reports the first key that occurs twice in s. Small slices are
// compared pairwise, which is cheaper than building a set.
func duplicateKey[T any](s []T, key func(T) string) (string, bool) {
	if len(s) <= 16 {
		for i := 1; i < len(s); i++ {
			for j := 0; j < i; j++ {
				if key(s[i]) == key(s[j]) {
					return key(s[i]), true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(s))
	for _, a := range s {
		k := key(a)
		if _, ok := seen[k]; ok {
			return k, true
		}
		seen[k] = struct{}{}
	}
	return "", false
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// Shorten cuts s to at most n bytes on a character boundary, marking a cut
// with "...": reasons that quote client input stay short and valid UTF-8.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// shorten is Shorten at this package's length for quoted keys.
func shorten(s string) string { return Shorten(s, 32) }

func formatNanos(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// formatDuration writes d as time.Duration does, without trailing zero units:
// 24h rather than 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
