package ingest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
	"github.com/sawmillhq/sawmill/services/ingest/native"
)

// BenchmarkWriterInsertPath measures what the writer does per flush of
// 20,000 rows (40 messages of 500 Django/Celery events): decode the batches,
// check which (seq, idx) are already stored, insert the rest in one batch.
// Reported per event.
func BenchmarkWriterInsertPath(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(b), Database: testenv.Database(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	w := NewWriter(WriterConfig{}, quiet, nil, s)

	const msgs, perMsg = 40, 500
	var body []byte
	for i := 0; i < perMsg; i++ {
		body = append(body, sampleLine(i)...)
	}
	evs, _, errs := native.Decode(body, "application/x-ndjson", time.Now(), event.Limits{})
	if len(errs) > 0 || len(evs) != perMsg {
		b.Fatalf("sample decode: %d events, errors %v", len(evs), errs)
	}
	payload := event.AppendBatch(nil, evs)
	seq := uint64(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload) * msgs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var all []store.Row
		for m := 0; m < msgs; m++ {
			seq++
			rows, err := decodeRows("tbench"+strconv.Itoa(m%4), "30", seq, payload)
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, rows...)
		}
		if err := w.storeMissing(ctx, all); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*msgs*perMsg), "ns/event")
	b.ReportMetric(float64(b.N*msgs*perMsg)/b.Elapsed().Seconds(), "events/s")
}

func sampleLine(i int) string {
	switch i % 10 {
	case 9:
		return `{"asctime":"2026-11-26 09:30:01,123","levelname":"ERROR","name":"orders.views","message":"Unhandled exception in checkout","request_id":"req-` + strconv.Itoa(i) + `","exc_info":"Traceback (most recent call last):\n  File \"/app/orders/views.py\", line 88, in checkout\n    raise ValueError(\"card declined\")\nValueError: card declined","service":"web"}` + "\n"
	case 7, 8:
		return `{"asctime":"2026-11-26 09:30:01,123","levelname":"INFO","name":"celery.app.trace","message":"Task orders.tasks.send_receipt[` + strconv.Itoa(i) + `] succeeded in 0.21s: None","task_id":"` + strconv.Itoa(i) + `","task_name":"orders.tasks.send_receipt","runtime":0.21,"service":"worker"}` + "\n"
	}
	return `{"asctime":"2026-11-26 09:30:01,123","levelname":"INFO","name":"django.request","message":"GET /api/orders/ 200","request_id":"req-` + strconv.Itoa(i) + `","method":"GET","path":"/api/orders/","status_code":200,"duration_ms":41.7,"user_id":1842,"service":"web","environment":"production","hostname":"web-1"}` + "\n"
}
