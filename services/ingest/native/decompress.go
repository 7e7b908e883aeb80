package native

import (
	"bytes"
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
// error otherwise.
func Decompress(r io.Reader, contentEncoding string, maxBytes int64) ([]byte, error) {
	maxBytes = max(maxBytes, 0)
	switch enc := strings.ToLower(strings.TrimSpace(contentEncoding)); enc {
	case "", "identity":
		return readLimited(r, maxBytes)
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("decompress gzip: %w", err)
		}
		defer zr.Close()
		b, err := readLimited(zr, maxBytes)
		if err != nil && !errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("decompress gzip: %w", err)
		}
		return b, err
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedEncoding, shorten(enc))
	}
}

// readLimited reads r to the end, failing once more than maxBytes arrive.
func readLimited(r io.Reader, maxBytes int64) ([]byte, error) {
	limit := maxBytes
	if limit < math.MaxInt64 {
		limit++ // one byte more than allowed tells "too large" from "exactly full"
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if n > maxBytes {
		return nil, fmt.Errorf("decoded body exceeds %d bytes: %w", maxBytes, ErrTooLarge)
	}
	return buf.Bytes(), nil
}
