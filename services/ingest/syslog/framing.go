package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxFrame is the frame size limit a Reader uses when given 0.
const DefaultMaxFrame = 64 << 10

// FrameError reports a frame that was skipped: too large, or with a bad
// octet count. The stream stays usable: the next call to Next returns the
// frame after it.
type FrameError struct {
	Reason string
}

// Error returns the reason.
func (e *FrameError) Error() string { return "syslog frame: " + e.Reason }

// Reader splits a syslog byte stream (TCP or TLS) into frames, as RFC 6587
// describes, detecting the framing of each frame: a frame that starts with
// a decimal length and a space is octet-counted ("57 <34>1 ..."), any other
// is terminated by a newline or a NUL byte (Python's SysLogHandler ends
// frames with NUL; once a stream shows a NUL-terminated frame holding
// newlines, newlines are content and only NUL ends its frames). A Reader is not safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte
	nul bool // the stream's frames end with NUL: a newline is content
}

// NewReader returns a Reader of frames up to maxFrame bytes (0 means
// DefaultMaxFrame).
func NewReader(r io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Reader{r: bufio.NewReaderSize(r, 16<<10), max: maxFrame}
}

// maxCountDigits bounds the octet count's length; longer is not a count.
const maxCountDigits = 9

// Next returns the next non-empty frame without its framing (no length
// prefix, no trailing newline, carriage return or NUL). The slice is valid
// until the following call. At the end of the stream it returns io.EOF (a
// final frame without terminator is returned first); a frame that cannot
// be used gives a *FrameError and the stream can be read on; any other
// error comes from the underlying reader and ends the stream.
func (r *Reader) Next() ([]byte, error) {
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			return nil, err
		}
		switch {
		case c == '\n' || c == '\r' || c == 0 || c == ' ' || c == '\t':
			continue // separators between frames
		case c >= '1' && c <= '9':
			_ = r.r.UnreadByte()
			if n, ok := r.octetCount(); ok {
				return r.counted(n)
			}
		default:
			_ = r.r.UnreadByte()
		}
		frame, err := r.line()
		if len(frame) == 0 && err == nil {
			continue
		}
		return frame, err
	}
}

// octetCount consumes "LEN " when the input starts with it. It peeks one
// byte at a time so that it never waits for bytes beyond the space.
func (r *Reader) octetCount() (int, bool) {
	n := 0
	for i := 0; i <= maxCountDigits; i++ {
		peek, err := r.r.Peek(i + 1)
		if err != nil {
			return 0, false
		}
		c := peek[i]
		if c == ' ' && i > 0 {
			// Every syslog message starts with "<PRI>": a number and a space
			// before anything else is text that begins with a number.
			if peek, err = r.r.Peek(i + 2); err != nil || peek[i+1] != '<' {
				return 0, false
			}
			_, _ = r.r.Discard(i + 1)
			return n, true
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return 0, false
}

// counted reads an octet-counted frame of n bytes.
func (r *Reader) counted(n int) ([]byte, error) {
	if n > r.max {
		if _, err := r.r.Discard(n); err != nil {
			return nil, unexpectedEOF(err)
		}
		return nil, &FrameError{Reason: fmt.Sprintf("octet count %d exceeds the %d-byte limit; frame skipped", n, r.max)}
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return nil, unexpectedEOF(err)
	}
	return r.buf, nil
}

// line reads up to a newline or NUL; an over-long frame is skipped up to
// its terminator.
func (r *Reader) line() ([]byte, error) {
	r.buf = r.buf[:0]
	tooLong := false
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(r.buf) > 0 && !tooLong {
				return trimCR(r.buf), nil // the next call returns io.EOF
			}
			if tooLong && errors.Is(err, io.EOF) {
				return nil, r.tooLong()
			}
			return nil, err
		}
		if c == '\n' && (r.nul || r.continuesToNUL()) {
			r.nul = true
		} else if c == '\n' || c == 0 {
			if tooLong {
				return nil, r.tooLong()
			}
			return trimCR(r.buf), nil
		}
		if len(r.buf) >= r.max {
			tooLong = true
			continue
		}
		r.buf = append(r.buf, c)
	}
}

// continuesToNUL reports whether the frame whose newline was just read
// goes on to a NUL terminator, judging by what is already buffered (it
// never waits for input): Python's SysLogHandler ends frames with NUL and
// a logged traceback holds newlines. Seen once, the stream is taken to be
// NUL-terminated from then on.
func (r *Reader) continuesToNUL() bool {
	b, _ := r.r.Peek(r.r.Buffered())
	end := bytes.IndexByte(b, 0)
	if end < 0 {
		return false
	}
	// Every line up to the NUL must be a continuation, not a new message.
	for line := b[:end]; ; {
		if len(line) > 0 && line[0] == '<' {
			return false
		}
		i := bytes.IndexByte(line, '\n')
		if i < 0 {
			return true
		}
		line = line[i+1:]
	}
}

func (r *Reader) tooLong() error {
	return &FrameError{Reason: fmt.Sprintf("line longer than the %d-byte limit; skipped", r.max)}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// unexpectedEOF turns an EOF inside a counted frame into
// io.ErrUnexpectedEOF: the sender promised more bytes.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
