package sawmill

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkInfo is the cost one slog.Info call adds to the caller: encode
// and enqueue (the sender drains to a discarding server meanwhile).
func BenchmarkInfo(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	h := newTestHandler(b, srv.URL, Options{QueueSize: 1 << 20})
	l := slog.New(h)
	ctx := WithRequestID(context.Background(), "req-1")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.InfoContext(ctx, "request served", "method", "GET", "path", "/checkout", "status", 200, "duration_ms", 12.5)
	}
}

// BenchmarkInfoServiceDown: logging while nothing listens must cost the
// same, and never wait for the network.
func BenchmarkInfoServiceDown(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := newTestHandler(b, "http://"+addr, Options{QueueSize: 1 << 20})
	l := slog.New(h)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.Info("request served", "method", "GET", "path", "/checkout", "status", 200, "duration_ms", 12.5)
	}
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h.Close(ctx)
}

// BenchmarkShip measures end to end: records one process logs and ships
// to an httptest receiver that decodes every batch, reported as events/s.
func BenchmarkShip(b *testing.B) {
	rc := newReceiver(b, nil)
	h := newTestHandler(b, rc.srv.URL, Options{QueueSize: 1 << 20, QueueBytes: 1 << 30})
	l := slog.New(h)
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		l.Info("request served", "method", "GET", "path", "/checkout", "status", 200, "i", i)
	}
	if err := h.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(h.Stats().Sent)/time.Since(start).Seconds(), "events/s")
}
