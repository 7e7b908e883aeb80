package ingest

import (
	"context"
	"fmt"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// BenchmarkSyslogHandle measures one message's way from frame to batch:
// parse, authenticate, normalise, validate and queue (publishing is
// replaced by a no-op).
func BenchmarkSyslogHandle(b *testing.B) {
	keys := auth.NewKeyTable()
	key, _ := syslogAddKey(b, keys, "tbench", auth.ScopeIngest)
	edge := NewEdge(Config{}, quiet, nil, &auth.Authenticator{Keys: keys}, tenant.NewDirectory())
	s := NewSyslogServer(SyslogConfig{}, quiet, edge)
	s.batch.close(context.Background())
	s.batch = newSyslogBatcher(func(context.Context, string, string, []event.Event) error { return nil }, 1000, 1<<20, 1<<62)
	defer s.batch.close(context.Background())
	for _, bc := range []struct{ name, frame string }{
		{"rfc5424", fmt.Sprintf(`<131>1 2026-11-26T10:00:21.513775+00:00 vm myapp - M1 [timeQuality tzKnown="1" isSynced="0"][sawmill@32473 key="%s"] hello 5424 octet`, key)},
		{"rfc3164", fmt.Sprintf(`<13>Nov 26 10:00:21 vm myapp[23009]: %s hello 3164 tcp`, key)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			frame := []byte(bc.frame)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.handle(frame, edge.auth, true); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
		})
	}
}
