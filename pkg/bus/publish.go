package bus

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Batch is one encoded event batch to publish.
type Batch struct {
	Data          []byte
	Events        int
	RetentionDays int
	// MsgID, when set, becomes the JetStream message id: a second publish
	// with the same id inside the duplicate window is acknowledged but not
	// stored again.
	MsgID string
}

// PublishBatch stores a batch on the tenant's subject and returns only after
// JetStream has acknowledged it (stored on disk). dup reports that the
// MsgID had been seen and nothing new was stored.
func (b *Bus) PublishBatch(ctx context.Context, tenant string, batch Batch) (seq uint64, dup bool, err error) {
	msg := &nats.Msg{Subject: LogsSubject(tenant), Data: batch.Data, Header: nats.Header{}}
	msg.Header.Set(HeaderEvents, strconv.Itoa(batch.Events))
	msg.Header.Set(HeaderRetention, strconv.Itoa(batch.RetentionDays))
	var opts []jetstream.PublishOpt
	if batch.MsgID != "" {
		opts = append(opts, jetstream.WithMsgID(batch.MsgID))
	}
	ack, err := b.JS.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return 0, false, fmt.Errorf("publish to %s: %w", msg.Subject, err)
	}
	return ack.Sequence, ack.Duplicate, nil
}
