package bus

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// Follow watches every key of kv and calls apply for each current value and
// then for every change (deleted is true for deletes and purges). It returns
// once the current values have been applied, and keeps following in the
// background until ctx ends. The watcher rides on an ordered consumer, which
// nats.go recreates after a reconnect, so a NATS restart does not end it.
// An apply error is logged and the entry skipped.
func Follow(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger, apply func(key string, value []byte, deleted bool) error) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	handle := func(e jetstream.KeyValueEntry) {
		deleted := e.Operation() != jetstream.KeyValuePut
		if err := apply(e.Key(), e.Value(), deleted); err != nil {
			log.Error("apply kv entry", "bucket", kv.Bucket(), "key", e.Key(), "err", err)
		}
	}
	// Initial values end with a nil entry.
	for {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch %s: closed before initial values", kv.Bucket())
			}
			if e == nil {
				go func() {
					defer w.Stop()
					for {
						select {
						case <-ctx.Done():
							return
						case e, ok := <-w.Updates():
							if !ok {
								return
							}
							if e != nil {
								handle(e)
							}
						}
					}
				}()
				return nil
			}
			handle(e)
		}
	}
}
