package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Follow watches every key of kv and calls apply for each current value and
// then for every change (deleted is true for deletes and purges). It returns
// once the current values have been applied, and keeps following in the
// background until ctx ends. apply is called from one goroutine at a time.
//
// A KV watch does not survive a NATS server restart by itself, so Follow
// re-watches after every reconnect (and whenever the watch ends), resuming
// from the revision after the last one it applied: no change in between is
// missed. An apply error is logged and the entry skipped.
func (b *Bus) Follow(ctx context.Context, kv jetstream.KeyValue, apply func(key string, value []byte, deleted bool) error) error {
	f := &follower{b: b, kv: kv, apply: apply}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	for initial := true; initial; {
		select {
		case <-ctx.Done():
			_ = w.Stop()
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watch %s: closed before initial values", kv.Bucket())
			}
			if e == nil {
				initial = false
				continue
			}
			f.handle(e)
		}
	}
	reconnected := b.NC.StatusChanged(nats.CONNECTED)
	go f.run(ctx, w, reconnected)
	return nil
}

type follower struct {
	b     *Bus
	kv    jetstream.KeyValue
	apply func(key string, value []byte, deleted bool) error
	last  uint64 // revision of the last entry applied
}

func (f *follower) handle(e jetstream.KeyValueEntry) {
	deleted := e.Operation() != jetstream.KeyValuePut
	if err := f.apply(e.Key(), e.Value(), deleted); err != nil {
		f.b.cfg.Logger.Error("apply kv entry", "bucket", f.kv.Bucket(), "key", e.Key(), "err", err)
	}
	f.last = max(f.last, e.Revision())
}

func (f *follower) run(ctx context.Context, w jetstream.KeyWatcher, reconnected chan nats.Status) {
	defer f.b.NC.RemoveStatusListener(reconnected)
	defer func() {
		if w != nil { // nil when resume gave up because ctx ended
			_ = w.Stop()
		}
	}()
	for {
		var rewatch bool
		select {
		case <-ctx.Done():
			return
		case <-reconnected:
			rewatch = true
		case e, ok := <-w.Updates():
			if !ok {
				rewatch = true
			} else if e != nil {
				f.handle(e)
			}
		}
		if rewatch {
			_ = w.Stop()
			if w = f.resume(ctx); w == nil {
				return
			}
		}
	}
}

// resume starts a watch at the revision after the last applied, retrying
// until it succeeds or ctx ends (nil).
func (f *follower) resume(ctx context.Context) jetstream.KeyWatcher {
	for backoff := 50 * time.Millisecond; ; backoff = min(backoff*2, 2*time.Second) {
		opts := []jetstream.WatchOpt{}
		if f.last > 0 {
			opts = append(opts, jetstream.ResumeFromRevision(f.last+1))
		}
		w, err := f.kv.WatchAll(ctx, opts...)
		if err == nil {
			return w
		}
		f.b.cfg.Logger.Warn("re-watch kv bucket", "bucket", f.kv.Bucket(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}
