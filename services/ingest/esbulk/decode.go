package esbulk

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/services/ingest/native"
)

// Error types of rejected items, as Elasticsearch names them; clients log
// them and some decide on retries by them.
const (
	// ErrMapperParsing: the source document is not a valid log event.
	ErrMapperParsing = "mapper_parsing_exception"
	// ErrIllegalArgument: the action is malformed, unknown or unsupported.
	ErrIllegalArgument = "illegal_argument_exception"
)

// Item is the outcome of one action of the request, in request order.
type Item struct {
	// Op is the action: "index", "create", "update" or "delete"; "index"
	// for an action line that could not be read.
	Op string
	// Index is the action's _index, or the request's default index.
	Index string
	// ID is the action's _id ("" when the client gave none).
	ID string
	// Line is the 0-based line of the action in the body.
	Line int
	// Event is the position of this item's event in Result.Events, or -1
	// when the item was rejected.
	Event int
	// ErrType and Reason say why the item was rejected (ErrType is one of
	// the Err* constants); both empty when it was accepted.
	ErrType, Reason string
}

// Result is a decoded bulk body.
type Result struct {
	Items []Item
	// Events are the accepted documents, normalised and valid, in order.
	Events []event.Event
}

// action is the metadata object of an action line.
type action struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// actionLine is an action line: exactly one of its fields is set.
type actionLine struct {
	Index  *action `json:"index"`
	Create *action `json:"create"`
	Update *action `json:"update"`
	Delete *action `json:"delete"`
}

// op returns the single action of l, or ok false when there is none or
// more than one.
func (l *actionLine) op() (name string, a *action, ok bool) {
	n := 0
	for _, c := range []struct {
		name string
		a    *action
	}{{"index", l.Index}, {"create", l.Create}, {"update", l.Update}, {"delete", l.Delete}} {
		if c.a != nil {
			name, a = c.name, c.a
			n++
		}
	}
	return name, a, n == 1
}

// Decode decodes a bulk body. defaultIndex is the {index} of the request
// path ("" for /_bulk); now and lim are passed to the native mapping of each
// document. Every action line yields exactly one Item; the source line
// after an index, create or update action belongs to it (delete has none).
// After an action line that cannot be read, the next line is taken as its
// source unless it reads as an action itself. Blank lines between pairs are
// ignored. Decode is safe for concurrent use.
func Decode(body []byte, defaultIndex string, now time.Time, lim event.Limits) Result {
	lines := splitLines(string(body))
	var res Result
	var sources []string // joined into one NDJSON body for native.Decode
	var owners []int     // owners[k]: the item of sources[k]
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if isBlank(line) {
			continue
		}
		it := Item{Op: "index", Index: defaultIndex, Line: i, Event: -1}
		name, a, err := parseAction(line)
		if err != nil {
			it.ErrType, it.Reason = ErrIllegalArgument, fmt.Sprintf("line %d: %v", i, err)
			if i+1 < len(lines) && !isAction(lines[i+1]) {
				i++ // its source
			}
			res.Items = append(res.Items, it)
			continue
		}
		it.Op, it.ID = name, a.ID
		if a.Index != "" {
			it.Index = a.Index
		}
		switch name {
		case "delete":
			it.ErrType, it.Reason = ErrIllegalArgument, "delete is not supported: stored logs are immutable (retention removes them)"
		case "update":
			it.ErrType, it.Reason = ErrIllegalArgument, "update is not supported: stored logs are immutable; use index or create"
			i++ // its source
		default:
			if i+1 >= len(lines) || isBlank(lines[i+1]) {
				it.ErrType, it.Reason = ErrMapperParsing, fmt.Sprintf("line %d: the %s action has no source document on the next line", i, name)
				break
			}
			i++
			sources = append(sources, lines[i])
			owners = append(owners, len(res.Items))
		}
		res.Items = append(res.Items, it)
	}
	res.decodeSources(sources, owners, now, lim)
	return res
}

// decodeSources maps every source with one native.Decode call: one source
// per NDJSON line, so a line number is a source number.
func (res *Result) decodeSources(sources []string, owners []int, now time.Time, lim event.Limits) {
	if len(sources) == 0 {
		return
	}
	evs, idx, errs := native.Decode([]byte(strings.Join(sources, "\n")), "application/x-ndjson", now, lim)
	for _, le := range errs {
		it := &res.Items[owners[le.Index]]
		it.ErrType, it.Reason = ErrMapperParsing, fmt.Sprintf("line %d: %s", it.Line+1, le.Reason)
	}
	res.Events = evs
	for k, src := range idx {
		res.Items[owners[src]].Event = k
	}
}

// parseAction reads an action line.
func parseAction(line string) (string, *action, error) {
	if name, a, ok := parseSimpleAction(line); ok {
		return name, a, nil
	}
	var l actionLine
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		return "", nil, fmt.Errorf("malformed action line: %s", jsonReason(err))
	}
	name, a, ok := l.op()
	if !ok {
		return "", nil, fmt.Errorf("malformed action line: expected one of index, create, update, delete with an object value, got %s", shorten(line))
	}
	return name, a, nil
}

// isAction reports whether line reads as an action line; used only to
// resynchronise after an unreadable one.
func isAction(line string) bool {
	_, _, err := parseAction(line)
	return err == nil
}

func jsonReason(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Error())
	case *json.UnmarshalTypeError:
		if e.Field != "" {
			return fmt.Sprintf("%s must be a %s, got %s", e.Field, e.Type, e.Value)
		}
		return "expected a JSON object, got " + e.Value
	}
	return err.Error()
}

// splitLines splits s at '\n', dropping one '\r' before each.
func splitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	return lines
}

func isBlank(s string) bool { return strings.TrimLeft(s, " \t\r") == "" }

// shorten cuts s to at most 64 bytes for quoting in reasons.
func shorten(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "..."
}

// parseSimpleAction reads the action lines shippers actually send,
// {"op":{"k":"v",...}} with plain strings, without encoding/json (a third
// of the decode time otherwise). ok is false for anything else, which then
// takes the general path.
func parseSimpleAction(line string) (name string, a *action, ok bool) {
	p := simpleScanner{s: line}
	if !p.byte('{') {
		return "", nil, false
	}
	name, ok = p.str()
	if !ok || !p.byte(':') || !p.byte('{') {
		return "", nil, false
	}
	// encoding/json matches names case-insensitively; so does this.
	switch {
	case strings.EqualFold(name, "index"):
		name = "index"
	case strings.EqualFold(name, "create"):
		name = "create"
	case strings.EqualFold(name, "update"):
		name = "update"
	case strings.EqualFold(name, "delete"):
		name = "delete"
	default:
		return "", nil, false
	}
	a = &action{}
	for first := true; ; first = false {
		if p.byte('}') {
			break
		}
		if !first && !p.byte(',') {
			return "", nil, false
		}
		k, ok1 := p.str()
		if !ok1 || !p.byte(':') {
			return "", nil, false
		}
		v, ok2 := p.str()
		if !ok2 {
			return "", nil, false
		}
		switch {
		case strings.EqualFold(k, "_index"):
			a.Index = v
		case strings.EqualFold(k, "_id"):
			a.ID = v
		}
	}
	if !p.byte('}') {
		return "", nil, false
	}
	p.ws()
	return name, a, p.i == len(p.s)
}

type simpleScanner struct {
	s string
	i int
}

func (p *simpleScanner) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

// byte consumes c after optional white space.
func (p *simpleScanner) byte(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str consumes a string without escapes or control characters.
func (p *simpleScanner) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return p.s[start : p.i-1], true
		case c == '\\' || c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}
