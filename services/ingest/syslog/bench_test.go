package syslog

import (
	"bytes"
	"testing"
	"time"
)

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, frame string }{
		{"rfc5424", realFrames[0]},
		{"rfc3164", realFrames[2]},
		{"python", realFrames[5]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			frame := []byte(bc.frame)
			now := time.Now()
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := Parse(frame, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		})
	}
}

func BenchmarkReader(b *testing.B) {
	var stream bytes.Buffer
	const n = 1000
	for i := 0; i < n; i++ {
		f := realFrames[i%5]
		if i%2 == 0 {
			stream.WriteString(f + "\n")
		} else {
			stream.WriteString(itoa(len(f)) + " " + f)
		}
	}
	data := stream.Bytes()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
