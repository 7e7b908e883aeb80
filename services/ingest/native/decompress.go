package native

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// ErrTooLarge is returned (wrapped) by Decompress when the decoded body is
// larger than allowed; the HTTP layer answers 413.
var ErrTooLarge = errors.New("body too large")

// ErrUnsupportedEncoding is returned (wrapped) by Decompress for a
// Content-Encoding it does not know; the HTTP layer answers 415.
var ErrUnsupportedEncoding = errors.New("unsupported content encoding")

// Decompress reads the whole body from r, decoding it per contentEncoding:
// "gzip" (or "x-gzip"), or "" / "identity" for none; case and surrounding
// space are ignored. It fails with ErrTooLarge as soon as the decoded body
// exceeds maxBytes (a non-positive maxBytes allows only an empty body), so
// a small gzip bomb costs at most maxBytes of memory; with
// ErrUnsupportedEncoding for other encodings; and with the read or gzip
// error otherwise. sizeHint is the encoded body's length when known (the
// request's Content-Length), else -1: the buffer starts at about the
// decoded size instead of doubling its way there, copying as it goes.
func Decompress(r io.Reader, contentEncoding string, maxBytes, sizeHint int64) ([]byte, error) {
	maxBytes = max(maxBytes, 0)
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
		return readLimited(r, maxBytes, sizeHint)
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decompress gzip: %w", err)
		}
		defer zr.Close()
		// Log lines compress about 5 to 10 times; start at 4.
		b, err := readLimited(zr, maxBytes, sizeHint*4)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("decompress gzip: %w", err)
		}
		return b, err
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedEncoding, shorten(enc))
	}
}

// readLimited reads r to the end, failing once more than maxBytes arrive;
// its buffer starts at sizeHint (+1, to see the end without growing),
// bounded by maxBytes.
func readLimited(r io.Reader, maxBytes, sizeHint int64) ([]byte, error) {
	limit := maxBytes
	if limit < math.MaxInt64 {
		limit++ // one byte more than allowed tells "too large" from "exactly full"
	}
	b := make([]byte, 0, min(max(sizeHint+1, 512), limit, 1<<30))
	lr := io.LimitReader(r, limit)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("decoded body exceeds %d bytes: %w", maxBytes, ErrTooLarge)
	}
	return b, nil
}
