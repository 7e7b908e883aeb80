package syslog

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// FuzzParse checks that Parse never panics, that a key it finds is gone
// from the event, and that what it returns survives the edge's
// normalisation and validation without surprises.
func FuzzParse(f *testing.F) {
	for _, s := range realFrames {
		f.Add([]byte(s))
	}
	f.Add([]byte(`<14>1 - - - - - [a b="x\"y\\z\]w"][sawmill@32473 key="sm_k_s"] m`))
	f.Add([]byte("<13>Feb 29 23:59:60.123456789 host tag[1]: sm_a_b text"))
	f.Add([]byte("<191>sm_a_b"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Parse(frame, testNow)
		if err != nil {
			if m.Key != "" || m.Event.Message != "" {
				t.Fatalf("error %v with a non-empty message", err)
			}
			return
		}
		if m.Format != RFC3164 && m.Format != RFC5424 {
			t.Fatalf("format %d", m.Format)
		}
		if m.Facility < 0 || m.Facility > 23 || m.Severity < 0 || m.Severity > 7 {
			t.Fatalf("PRI %d.%d out of range", m.Facility, m.Severity)
		}
		if m.Event.SeverityNumber < 1 || m.Event.SeverityNumber > 24 || m.Event.Level == "" {
			t.Fatalf("severity %d %q", m.Event.SeverityNumber, m.Event.Level)
		}
		e := m.Event
		if len(e.Message) > len(frame) {
			t.Fatalf("message longer than the frame")
		}
		if m.Key != "" {
			if m.Format == RFC3164 && !strings.HasPrefix(m.Key, keyPrefix) {
				t.Fatalf("RFC 3164 key %q without prefix", m.Key)
			}
			if strings.HasPrefix(e.Message, m.Key+" ") || e.Message == m.Key {
				t.Fatalf("key %q left at the start of message %q", m.Key, e.Message)
			}
			for _, a := range e.Attrs {
				if strings.HasPrefix(a.Key, "sd."+KeySDID+".key") {
					t.Fatalf("key parameter kept as attribute %q", a.Key)
				}
			}
		}
		seen := map[string]bool{}
		for _, a := range e.Attrs {
			if seen[a.Key] {
				t.Fatalf("duplicate attribute %q", a.Key)
			}
			seen[a.Key] = true
		}
		event.Normalize(&e, testNow)
		if !utf8.ValidString(e.Message) {
			t.Fatal("message not valid UTF-8 after Normalize")
		}
		_ = event.DefaultLimits().Validate(&e, testNow) // must not panic
	})
}

// FuzzReader checks that the framing reader never panics, never returns
// a frame over its limit, and that every frame is part of the input.
func FuzzReader(f *testing.F) {
	var stream bytes.Buffer
	for _, s := range realFrames {
		stream.WriteString(s)
		stream.WriteByte('\n')
	}
	f.Add(stream.Bytes(), 0)
	f.Add([]byte("141 "+realFrames[0]+"4 <1>a\x00<11>sm_a_b x: y\nTraceback\n  z\x00"), 64)
	f.Add([]byte("10 apples\n99999999999 <1>\n"), 16)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		max = max%4096 + 1
		if max < 0 {
			max = -max
		}
		r := NewReader(bytes.NewReader(in), max+1)
		for i := 0; i <= len(in); i++ {
			fr, err := r.Next()
			var fe *FrameError
			switch {
			case errors.As(err, &fe):
				continue
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				return
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			if len(fr) == 0 || len(fr) > max+1 {
				t.Fatalf("frame of %d bytes (limit %d)", len(fr), max+1)
			}
			if !bytes.Contains(in, fr) {
				t.Fatalf("frame %q is not in the input", fr)
			}
		}
		if _, err := r.Next(); err == nil {
			t.Fatal("more frames than input bytes")
		}
	})
}
