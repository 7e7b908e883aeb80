package alerts

import (
	"context"
	"fmt"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
)

// Watermark tells up to when the writer has stored everything: every batch
// published to the LOGS stream before the returned time is in ClickHouse.
type Watermark interface {
	Watermark(ctx context.Context) (time.Time, error)
}

// writerWatermark reads the writer's durable consumer.
type writerWatermark struct{ b *bus.Bus }

// NewWriterWatermark returns the Watermark of the writers' durable consumer
// on the LOGS stream: the time of the check when nothing is pending or
// awaiting an ack, else the publish time of the first unacknowledged batch.
func NewWriterWatermark(b *bus.Bus) Watermark { return writerWatermark{b} }

func (w writerWatermark) Watermark(ctx context.Context) (time.Time, error) {
	now := time.Now() // before the info call: anything published later may be pending
	cons, err := w.b.JS.Consumer(ctx, bus.LogsStream, bus.WriterConsumer)
	if err != nil {
		return time.Time{}, fmt.Errorf("writer consumer: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("writer consumer info: %w", err)
	}
	if info.NumPending == 0 && info.NumAckPending == 0 {
		return now, nil
	}
	stream, err := w.b.JS.Stream(ctx, bus.LogsStream)
	if err != nil {
		return time.Time{}, fmt.Errorf("logs stream: %w", err)
	}
	m, err := stream.GetMsg(ctx, info.AckFloor.Stream+1)
	if err != nil {
		return time.Time{}, fmt.Errorf("first unacknowledged batch %d: %w", info.AckFloor.Stream+1, err)
	}
	return m.Time, nil
}
