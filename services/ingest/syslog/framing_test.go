package syslog

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll returns every frame of stream, with "ERR:<reason>" for skipped
// ones, and the error that ended it.
func readAll(tb testing.TB, stream io.Reader, max int) ([]string, error) {
	tb.Helper()
	r := NewReader(stream, max)
	var out []string
	for {
		fr, err := r.Next()
		var fe *FrameError
		switch {
		case errors.As(err, &fe):
			out = append(out, "ERR:"+fe.Reason)
			continue
		case err != nil:
			return out, err
		}
		out = append(out, string(fr))
	}
}

func TestReader(t *testing.T) {
	f := func(stream string, max int, want []string, wantErr error) {
		t.Helper()
		for _, r := range []io.Reader{strings.NewReader(stream), iotest.OneByteReader(strings.NewReader(stream))} {
			got, err := readAll(t, r, max)
			if !errors.Is(err, wantErr) {
				t.Errorf("%q: error %v, want %v", stream, err, wantErr)
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("%q: frames\n got  %q\n want %q", stream, got, want)
			}
		}
	}
	f("<13>a\n<14>b\r\n\n<15>c", 0, []string{"<13>a", "<14>b", "<15>c"}, io.EOF)
	f("4 <1>a5 <2>bc", 0, []string{"<1>a", "<2>bc"}, io.EOF)
	// Framing detected per frame: counted, newline, NUL (Python), counted.
	f("4 <1>x<2>y\n<3>z\x00"+"3 <4>", 0, []string{"<1>x", "<2>y", "<3>z", "<4>"}, io.EOF)
	// A counted frame may hold newlines.
	f("8 <1>a\nb\nc", 0, []string{"<1>a\nb\nc"}, io.EOF)
	// Digits without a space are a line, not a count.
	f("2026 is a year\n", 0, []string{"2026 is a year"}, io.EOF)
	// Oversized frames are skipped and reading goes on.
	f("123456\n<1>ok\n", 5, []string{"ERR:line longer than the 5-byte limit; skipped", "<1>ok"}, io.EOF)
	f("6 <1>abc<1>ok\n", 5, []string{"ERR:octet count 6 exceeds the 5-byte limit; frame skipped", "<1>ok"}, io.EOF)
	f("12345", 4, []string{"ERR:line longer than the 4-byte limit; skipped"}, io.EOF)
	// A number and a space not followed by "<" start a line.
	f("10 apples\n", 0, []string{"10 apples"}, io.EOF)
	// A counted frame cut short.
	f("10 <1>a", 0, nil, io.ErrUnexpectedEOF)
}

// A short counted frame is returned without waiting for more input.
func TestReaderDoesNotOverread(t *testing.T) {
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write([]byte("3 <1>")) }()
	r := NewReader(pr, 0)
	fr, err := r.Next()
	if err != nil || string(fr) != "<1>" {
		t.Fatalf("Next = %q, %v", fr, err)
	}
	pw.Close()
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next at end = %v, want io.EOF", err)
	}
}

// Python's SysLogHandler over TCP: NUL-terminated frames whose text (a
// traceback) holds newlines stay whole.
func TestReaderNULFramesWithNewlines(t *testing.T) {
	stream := "<11>sm_a_b mysite[1]: boom\nTraceback (most recent call last):\n  File \"x.py\"\x00<14>sm_a_b mysite[1]: next\n\x00"
	got, err := readAll(t, strings.NewReader(stream), 0)
	want := []string{"<11>sm_a_b mysite[1]: boom\nTraceback (most recent call last):\n  File \"x.py\"", "<14>sm_a_b mysite[1]: next\n"}
	if err != io.EOF || strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("frames %q, %v; want %q", got, err, want)
	}
}
