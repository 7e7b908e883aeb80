// Package native decodes Sawmill's native ingest body (POST /v1/ingest): a
// JSON object, a JSON array of objects, or NDJSON, whose objects are log
// lines as common loggers write them (Python's json-logger and structlog,
// Django, Celery, Go's slog, pino, bunyan, ECS/Logstash). It maps their
// fields onto event.Event, normalises and validates each event, and reports
// every rejected line with a reason a client can act on.
//
// It must not authenticate, meter, publish or log: it is a pure function of
// the body, used by the HTTP layer in services/ingest.
package native

import (
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// LineError reports one rejected input line.
type LineError struct {
	// Index locates the line: for NDJSON the 0-based physical line number
	// (line N in an editor is Index N-1; blank lines count as lines but are
	// never events or errors); for a JSON array the 0-based element index;
	// 0 for a single object or a body that is not JSON at all.
	//
	// Byte offsets in Reason ("invalid JSON at byte 17") are 0-based and
	// count from the start of the NDJSON line, or of the body for arrays
	// and single objects.
	Index int
	// Reason is short, names the problem and is safe to show to the client.
	Reason string
}

// Error returns the reason prefixed with the index.
func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Index, e.Reason) }

// Decode decodes an ingest body into events. Every acceptable line becomes
// an event, normalised (event.Normalize with now) and valid under lim;
// idx[i] is the Index (see LineError) of evs[i]. Every other line yields a
// LineError; a bad line never affects its neighbours, except that a JSON
// syntax error inside an array ends the array (its reason says so). Events
// and errors are in input order, and no index appears twice.
//
// The body is NDJSON when contentType is application/x-ndjson (or
// application/ndjson, application/jsonl, application/x-jsonlines), a JSON
// array when it starts with '[', a single object when it starts with '{' and
// holds exactly one JSON value (possibly pretty-printed), NDJSON when it
// starts with '{' otherwise, and is refused with one error at index 0 when it
// starts with anything else. A leading UTF-8 byte order mark is ignored. An
// empty or blank body yields nothing at all.
//
// Decode copies body once; the events' strings share that copy. It is safe
// for concurrent use.
func Decode(body []byte, contentType string, now time.Time, lim event.Limits) (evs []event.Event, idx []int, errs []LineError) {
	s := string(body)
	base := 0
	if strings.HasPrefix(s, "\uFEFF") {
		s, base = s[3:], 3
	}
	d := decoder{now: now, lim: lim, base: base}
	trimmed := strings.TrimLeft(s, " \t\r\n")
	switch {
	case trimmed == "":
	case isNDJSON(contentType):
		d.ndjson(s)
	case trimmed[0] == '[':
		d.array(s)
	case trimmed[0] == '{' && d.singleValue(s):
		d.line(0, s)
	case trimmed[0] == '{':
		d.ndjson(s)
	default:
		d.line(0, s)
	}
	if len(d.evs) == 0 {
		return nil, nil, d.errs
	}
	return d.evs, d.idx, d.errs
}

func isNDJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case "application/x-ndjson", "application/ndjson", "application/jsonl",
		"application/x-jsonlines", "application/jsonlines":
		return true
	}
	return false
}

// decoder holds one Decode call's state and scratch space.
type decoder struct {
	now  time.Time
	lim  event.Limits
	base int // bytes cut from the body's start (a BOM), for error offsets
	sc   scanner
	b    builder
	evs  []event.Event
	idx  []int
	errs []LineError
}

func (d *decoder) reject(i int, reason string) {
	d.errs = append(d.errs, LineError{Index: i, Reason: reason})
}

func (d *decoder) syntaxReason(off int) string {
	e := *d.sc.err
	e.off += off
	return e.Error()
}

// singleValue reports whether s holds exactly one valid JSON value.
func (d *decoder) singleValue(s string) bool {
	d.sc.reset(s)
	d.sc.skipWS()
	d.sc.skip()
	return d.sc.err == nil && d.sc.atEnd()
}

// ndjson decodes every non-blank line of s.
func (d *decoder) ndjson(s string) {
	n := strings.Count(s, "\n") + 1
	d.evs, d.idx = make([]event.Event, 0, n), make([]int, 0, n)
	for i, start := 0, 0; start < len(s); i++ {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		line := strings.TrimSuffix(s[start:end], "\r")
		if strings.TrimLeft(line, " \t\r") != "" {
			if start == 0 {
				d.line(i, line)
			} else {
				d.lineAt(i, line, 0)
			}
		}
		start = end + 1
	}
}

// line decodes the object that must be the only value in s. Offsets in its
// reasons count from the start of the (untrimmed) body.
func (d *decoder) line(i int, s string) { d.lineAt(i, s, d.base) }

func (d *decoder) lineAt(i int, s string, base int) {
	p := &d.sc
	p.reset(s)
	p.skipWS()
	isObject := p.pos < len(s) && s[p.pos] == '{'
	var k kind
	if isObject {
		p.object("")
	} else {
		_, k = p.scalar()
	}
	if p.err == nil && !p.atEnd() {
		p.failChar("after top-level value")
	}
	switch {
	case p.err != nil:
		d.reject(i, d.syntaxReason(base))
	case !isObject:
		d.reject(i, "expected a JSON object, got "+k.String())
	default:
		d.accept(i, p.fields)
	}
}

// array decodes the elements of the JSON array that s holds.
func (d *decoder) array(s string) {
	p := &d.sc
	p.reset(s)
	p.skipWS()
	p.pos++ // '['
	p.depth = 1
	p.skipWS()
	i := 0
	if p.pos < len(s) && s[p.pos] == ']' {
		p.pos++
	} else {
		i = d.elements(s)
		if p.err != nil {
			return
		}
	}
	if !p.atEnd() {
		p.failChar("after top-level value")
		d.reject(i, d.syntaxReason(d.base)+"; the rest of the body was not read")
	}
}

// elements decodes array elements up to the closing ']', returning the
// number read. After a syntax error it reports it and leaves p.err set.
func (d *decoder) elements(s string) int {
	p := &d.sc
	for i := 0; ; i++ {
		p.fields = p.fields[:0]
		p.skipWS()
		isObject := p.pos < len(s) && s[p.pos] == '{'
		var k kind
		if isObject {
			p.object("")
		} else {
			_, k = p.scalar()
		}
		switch {
		case p.err != nil:
			d.reject(i, d.arraySyntaxReason())
			return i
		case !isObject:
			d.reject(i, "expected a JSON object, got "+k.String())
		default:
			d.accept(i, p.fields)
		}
		p.skipWS()
		if p.pos < len(s) && s[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(s) && s[p.pos] == ']' {
			p.pos++
			return i + 1
		}
		p.failChar("after array element")
		d.reject(i+1, d.arraySyntaxReason())
		return i + 1
	}
}

func (d *decoder) arraySyntaxReason() string {
	r := d.syntaxReason(d.base)
	if d.sc.err.off < len(d.sc.s) {
		r += "; the rest of the array was not read"
	}
	return r
}

// accept builds, normalises and validates the event for line i.
func (d *decoder) accept(i int, fields []field) {
	var e event.Event
	if reason := d.b.build(&e, fields); reason != "" {
		d.reject(i, reason)
		return
	}
	if err := d.lim.Prepare(&e, d.now); err != nil {
		d.reject(i, err.Error())
		return
	}
	d.evs = append(d.evs, e)
	d.idx = append(d.idx, i)
}

// shorten quotes client input in reasons at most 64 bytes long.
func shorten(s string) string { return event.Shorten(s, 64) }
