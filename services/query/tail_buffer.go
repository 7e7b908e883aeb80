package query

import (
	"strconv"
	"strings"
	"sync"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/lql"
)

// tailBuffer holds the matching events of one tail between the bus and the
// client. push never blocks: what does not fit is dropped and counted, and
// the count goes to the client with the next take. It is safe for one
// pushing and one taking goroutine.
type tailBuffer struct {
	maxEvents, maxBytes int
	// ready has room for one signal: it is sent when events or a missed
	// count wait to be taken.
	ready chan struct{}

	mu     sync.Mutex
	evs    []tailEvent
	bytes  int
	missed int64
}

func newTailBuffer(maxEvents, maxBytes int) *tailBuffer {
	return &tailBuffer{maxEvents: maxEvents, maxBytes: maxBytes, ready: make(chan struct{}, 1)}
}

// tailEvent is a matching event and where it is in the LOGS stream.
type tailEvent struct {
	event.Event
	pos tailPos
}

// tailPos is an event's position in the LOGS stream: the stream sequence of
// its batch and its index in the batch. It is the SSE event id, "seq-idx",
// so that a reconnecting EventSource resumes right after it.
type tailPos struct {
	seq uint64
	idx uint32
}

func (p tailPos) String() string { return string(p.appendTo(nil)) }

func (p tailPos) appendTo(dst []byte) []byte {
	dst = strconv.AppendUint(dst, p.seq, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, uint64(p.idx), 10)
}

// parseTailPos parses String's form; ok is false for anything else.
func parseTailPos(s string) (p tailPos, ok bool) {
	a, b, found := strings.Cut(s, "-")
	seq, err1 := strconv.ParseUint(a, 10, 64)
	idx, err2 := strconv.ParseUint(b, 10, 32)
	if !found || err1 != nil || err2 != nil || seq == 0 {
		return tailPos{}, false
	}
	return tailPos{seq: seq, idx: uint32(idx)}, true
}

// push appends the events of evs that q matches until the buffer is full,
// and returns how many matching events it dropped. evs[i] is at position
// {first.seq, first.idx+i}. batchBytes is the size of the batch evs was
// decoded from: when the kept events are less than half of it, they are
// detached from the batch so that a few kept events do not keep all its
// text alive.
func (b *tailBuffer) push(evs []event.Event, first tailPos, q *lql.Query, batchBytes int) (dropped int64) {
	b.mu.Lock()
	start, kept := len(b.evs), 0
	for i := range evs {
		e := &evs[i]
		if !q.Match(e) {
			continue
		}
		n := e.Size()
		if len(b.evs) >= b.maxEvents || b.bytes+n > b.maxBytes {
			dropped++
			continue
		}
		b.evs = append(b.evs, tailEvent{Event: *e, pos: tailPos{seq: first.seq, idx: first.idx + uint32(i)}})
		b.bytes += n
		kept += n
	}
	if kept < batchBytes/2 {
		for i := start; i < len(b.evs); i++ {
			b.evs[i].Event = detach(&b.evs[i].Event)
		}
	}
	b.missed += dropped
	wake := len(b.evs) > 0 || b.missed > 0
	b.mu.Unlock()
	if wake {
		select {
		case b.ready <- struct{}{}:
		default:
		}
	}
	return dropped
}

// take returns the buffered events, oldest first, and the number dropped
// since the previous take, and empties the buffer. The buffer continues in
// spare (its contents are overwritten), so a caller done with the previous
// result can hand it back.
func (b *tailBuffer) take(spare []tailEvent) ([]tailEvent, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	evs, missed := b.evs, b.missed
	b.evs, b.bytes, b.missed = spare[:0], 0, 0
	return evs, missed
}

// detach returns a copy of e that shares no memory with the batch it was
// decoded from: DecodeBatch's strings and attribute slices point into one
// copy of the whole batch, and a tail that keeps one matching event of a
// 512 KiB batch must not keep the other 511 KiB alive. All text of the copy
// lives in one allocation.
func detach(e *event.Event) event.Event {
	var sb strings.Builder
	sb.Grow(e.Size())
	fields := [...]*string{&e.Level, &e.Message, &e.Service, &e.Environment, &e.Host, &e.Logger,
		&e.TraceID, &e.SpanID, &e.RequestID, &e.Exception.Type, &e.Exception.Message, &e.Exception.Stack}
	for _, f := range fields {
		sb.WriteString(*f)
	}
	for _, a := range e.Attrs {
		sb.WriteString(a.Key)
		sb.WriteString(a.Value)
	}
	for _, a := range e.NumAttrs {
		sb.WriteString(a.Key)
	}
	text := sb.String()
	pos := 0
	cut := func(s string) string {
		r := text[pos : pos+len(s)]
		pos += len(s)
		return r
	}
	out := event.Event{Time: e.Time, ObservedTime: e.ObservedTime, SeverityNumber: e.SeverityNumber}
	outFields := [...]*string{&out.Level, &out.Message, &out.Service, &out.Environment, &out.Host, &out.Logger,
		&out.TraceID, &out.SpanID, &out.RequestID, &out.Exception.Type, &out.Exception.Message, &out.Exception.Stack}
	for i, f := range fields {
		*outFields[i] = cut(*f)
	}
	if len(e.Attrs) > 0 {
		out.Attrs = make([]event.Attr, len(e.Attrs))
		for i, a := range e.Attrs {
			out.Attrs[i] = event.Attr{Key: cut(a.Key), Value: cut(a.Value)}
		}
	}
	if len(e.NumAttrs) > 0 {
		out.NumAttrs = make([]event.NumAttr, len(e.NumAttrs))
		for i, a := range e.NumAttrs {
			out.NumAttrs[i] = event.NumAttr{Key: cut(a.Key), Value: a.Value}
		}
	}
	return out
}
