package native

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
)

func gzipped(tb testing.TB, s string) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestDecompress(t *testing.T) {
	body := strings.Repeat(djangoRequestLine+"\n", 100)
	zipped := gzipped(t, body)
	f := func(name string, in []byte, enc string, max int64, want string, wantErr error) {
		t.Helper()
		// Without a size hint, with the right one, and with wrong ones.
		for _, hint := range []int64{-1, int64(len(in)), 1, int64(len(in)) * 100} {
			got, err := Decompress(bytes.NewReader(in), enc, max, hint)
			switch {
			case wantErr != nil && !errors.Is(err, wantErr):
				t.Errorf("%s, hint %d: Decompress error = %v, want %v", name, hint, err, wantErr)
			case wantErr == nil && err != nil:
				t.Errorf("%s, hint %d: Decompress error = %v", name, hint, err)
			case string(got) != want:
				t.Errorf("%s, hint %d: Decompress = %d bytes, want %d", name, hint, len(got), len(want))
			}
		}
	}
	n := int64(len(body))
	f("identity", []byte(body), "", n, body, nil)
	f("identity named", []byte(body), " Identity ", n, body, nil)
	f("gzip", zipped, "gzip", n, body, nil)
	f("x-gzip, upper case", zipped, "X-GZIP", n, body, nil)
	f("two gzip members", append(gzipped(t, "a"), gzipped(t, "b")...), "gzip", 2, "ab", nil)
	f("empty", nil, "", 0, "", nil)
	f("too large", []byte(body), "", n-1, "", ErrTooLarge)
	f("gzip too large", zipped, "gzip", n-1, "", ErrTooLarge)
	f("negative max", []byte("x"), "", -5, "", ErrTooLarge)
	f("unknown encoding", zipped, "br", n, "", ErrUnsupportedEncoding)
	f("not gzip", []byte(body), "gzip", n, "", gzip.ErrHeader)
	f("truncated gzip", zipped[:len(zipped)/2], "gzip", n, "", io.ErrUnexpectedEOF)
}
