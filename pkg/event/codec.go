package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// BatchVersion is the first byte of every batch AppendBatch writes.
const BatchVersion = 1

// The batch format, version 1, is:
//
//	batch     = version:byte count:uvarint event*
//	event     = time:varint observed_time:varint severity_number:varint
//	            level message service environment host logger trace_id
//	            span_id request_id
//	            nattrs:uvarint (key value)* nnum:uvarint (key float64)*
//	            exception_type exception_message exception_stack
//	string    = length:uvarint byte*
//	float64   = 8 bytes, IEEE 754 bits, little endian
//
// varint is encoding/binary's zig-zag signed varint. The tenant is not part
// of a batch: it travels in the bus subject.

// minEventBytes is the smallest encoded event: 3 varints, 12 string lengths
// and 2 counts, one byte each.
const minEventBytes = 17

// ErrTruncated is returned (wrapped) by DecodeBatch when b ends inside the
// batch it announces.
var ErrTruncated = errors.New("truncated")

// AppendBatch appends the encoding of evs to dst and returns the extended
// buffer. Every field round-trips exactly through DecodeBatch, except that
// empty Attrs and NumAttrs decode as nil. It never fails.
func AppendBatch(dst []byte, evs []Event) []byte {
	n := 1 + binary.MaxVarintLen64
	for i := range evs {
		n += evs[i].Size() + 3*binary.MaxVarintLen64 + 16 +
			2*len(evs[i].Attrs) + len(evs[i].NumAttrs)
	}
	if cap(dst)-len(dst) < n {
		dst = append(make([]byte, 0, len(dst)+n), dst...)
	}
	dst = append(dst, BatchVersion)
	dst = binary.AppendUvarint(dst, uint64(len(evs)))
	for i := range evs {
		dst = appendEvent(dst, &evs[i])
	}
	return dst
}

func appendEvent(dst []byte, e *Event) []byte {
	dst = binary.AppendVarint(dst, e.Time)
	dst = binary.AppendVarint(dst, e.ObservedTime)
	dst = binary.AppendVarint(dst, int64(e.SeverityNumber))
	for _, s := range [...]string{
		e.Level, e.Message, e.Service, e.Environment, e.Host, e.Logger,
		e.TraceID, e.SpanID, e.RequestID,
	} {
		dst = appendString(dst, s)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Attrs)))
	for _, a := range e.Attrs {
		dst = appendString(dst, a.Key)
		dst = appendString(dst, a.Value)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.NumAttrs)))
	for _, a := range e.NumAttrs {
		dst = appendString(dst, a.Key)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(a.Value))
	}
	dst = appendString(dst, e.Exception.Type)
	dst = appendString(dst, e.Exception.Message)
	return appendString(dst, e.Exception.Stack)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeBatch decodes a batch written by AppendBatch. It copies b once, so
// the caller may reuse b; the decoded strings share that copy, so keeping
// any one event alive keeps the batch's text alive. It fails on an unknown
// version, a truncated batch (ErrTruncated) or trailing bytes, and never
// panics, whatever b holds.
func DecodeBatch(b []byte) ([]Event, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode batch: empty input")
	}
	if b[0] != BatchVersion {
		return nil, fmt.Errorf("decode batch: unsupported version %d", b[0])
	}
	r := batchReader{s: string(b[1:])}
	n := r.uvarint()
	if r.err == nil && n > uint64(r.left()/minEventBytes) {
		r.err = ErrTruncated
	}
	if r.err != nil {
		return nil, fmt.Errorf("decode batch: count: %w", r.err)
	}
	evs := make([]Event, n)
	for i := range evs {
		if r.event(&evs[i]); r.err != nil {
			return nil, fmt.Errorf("decode batch: event %d: %w", i, r.err)
		}
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("decode batch: %d trailing bytes", r.left())
	}
	return evs, nil
}

// batchReader reads a batch. After the first failure err is set and every
// read returns a zero value.
type batchReader struct {
	s   string
	pos int
	err error
	// attrs and nums are slabs the events' attribute slices are cut from,
	// so that a batch costs a few allocations rather than two per event.
	attrs []Attr
	nums  []NumAttr
}

func (r *batchReader) left() int { return len(r.s) - r.pos }

func (r *batchReader) event(e *Event) {
	e.Time = r.varint()
	e.ObservedTime = r.varint()
	sev := r.varint()
	if sev < math.MinInt32 || sev > math.MaxInt32 {
		r.fail(fmt.Errorf("severity number %d out of range", sev))
	}
	e.SeverityNumber = int32(sev)
	for _, p := range [...]*string{
		&e.Level, &e.Message, &e.Service, &e.Environment, &e.Host, &e.Logger,
		&e.TraceID, &e.SpanID, &e.RequestID,
	} {
		*p = r.str()
	}
	e.Attrs = r.attrList()
	e.NumAttrs = r.numList()
	e.Exception.Type = r.str()
	e.Exception.Message = r.str()
	e.Exception.Stack = r.str()
}

func (r *batchReader) attrList() []Attr {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	if cap(r.attrs)-len(r.attrs) < n {
		r.attrs = make([]Attr, 0, max(n, 256))
	}
	i := len(r.attrs)
	r.attrs = r.attrs[:i+n]
	s := r.attrs[i : i+n : i+n]
	for j := range s {
		s[j].Key = r.str()
		s[j].Value = r.str()
	}
	return s
}

func (r *batchReader) numList() []NumAttr {
	n := r.count(9)
	if n == 0 {
		return nil
	}
	if cap(r.nums)-len(r.nums) < n {
		r.nums = make([]NumAttr, 0, max(n, 64))
	}
	i := len(r.nums)
	r.nums = r.nums[:i+n]
	s := r.nums[i : i+n : i+n]
	for j := range s {
		s[j].Key = r.str()
		s[j].Value = math.Float64frombits(r.uint64())
	}
	return s
}

// count reads an element count and checks that the rest of the input can
// hold that many elements of at least size bytes each.
func (r *batchReader) count(size int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(r.left()/size) {
		r.fail(ErrTruncated)
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *batchReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *batchReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if r.pos >= len(r.s) {
			r.fail(ErrTruncated)
			return 0
		}
		c := r.s[r.pos]
		r.pos++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.fail(errors.New("varint overflows 64 bits"))
	return 0
}

func (r *batchReader) varint() int64 {
	ux := r.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *batchReader) uint64() uint64 {
	if r.err != nil {
		return 0
	}
	if r.left() < 8 {
		r.fail(ErrTruncated)
		return 0
	}
	s := r.s[r.pos : r.pos+8]
	r.pos += 8
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func (r *batchReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(r.left()) {
		r.fail(ErrTruncated)
		return ""
	}
	s := r.s[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s
}
