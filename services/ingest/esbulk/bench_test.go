package esbulk

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// fluentBitBody returns n Fluent Bit style action/source pairs carrying
// Django JSON log lines from Kubernetes.
func fluentBitBody(n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(`{"create":{"_index":"fluent-bit"}}` + "\n")
		fmt.Fprintf(&b, `{"@timestamp":"2026-11-26T10:15:%02d.%03dZ","log":"GET /api/orders/%d/ HTTP/1.1 200","stream":"stdout","levelname":"INFO","name":"django.request","duration_ms":%d.5,"kubernetes":{"pod_name":"web-7d9f","namespace_name":"shop","container_name":"web","host":"node-3"}}`+"\n",
			i%60, i%1000, 1000+i, i%300)
	}
	return []byte(b.String())
}

func BenchmarkDecodeFluentBit(b *testing.B) {
	body := fluentBitBody(1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		res := Decode(body, "", now, event.Limits{})
		if len(res.Events) != 1000 {
			b.Fatalf("%d events: %+v", len(res.Events), res.Items[0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/event")
}
