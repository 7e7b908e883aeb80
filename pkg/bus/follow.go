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
	w := f.resume(ctx) // retried: a cluster may be electing a leader
	if w == nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), ctx.Err())
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
	// cancel ends the context of the current watch.
	cancel context.CancelFunc
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
	check := time.NewTicker(followCheck)
	defer check.Stop()
	var behind uint64 // the bucket's last sequence at the previous check, when the watch had not reached it
	for {
		var rewatch bool
		select {
		case <-ctx.Done():
			return
		case <-reconnected:
			rewatch = true
		case <-check.C:
			// A watch can stall without closing (its server-side consumer
			// lost with a cluster node while this connection stayed up):
			// a bucket that stays ahead of the watch for a whole check
			// period is re-watched from the last applied revision.
			last, ok := f.lastSeq(ctx)
			switch {
			case !ok:
			case behind != 0 && f.last < behind:
				f.b.cfg.Logger.Warn("kv watch stalled; re-watching", "bucket", f.kv.Bucket(), "applied", f.last, "bucket_last", last)
				rewatch, behind = true, 0
			case f.last < last:
				behind = last
			default:
				behind = 0
			}
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

// watch starts a watch, giving up on an attempt after ensureAttempt: the
// consumer-create request of a watch waits as long as its context lives,
// and one lost while a cluster elects a leader would otherwise hang the
// follower for good. The watch's context lives until the next watch
// replaces it or ctx ends.
func (f *follower) watch(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	wctx, cancel := context.WithCancel(ctx)
	type result struct {
		w   jetstream.KeyWatcher
		err error
	}
	done := make(chan result, 1)
	go func() {
		w, err := f.kv.WatchAll(wctx, opts...)
		done <- result{w, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(ensureAttempt):
		cancel()
		if r = <-done; r.err == nil {
			_ = r.w.Stop()
		}
		return nil, fmt.Errorf("watch %s: no answer in %s", f.kv.Bucket(), ensureAttempt)
	}
	if r.err != nil {
		cancel()
		return nil, r.err
	}
	if f.cancel != nil {
		f.cancel()
	}
	f.cancel = cancel
	return r.w, nil
}

// followCheck is how often a follower compares its progress with the
// bucket's last sequence.
var followCheck = 5 * time.Second

// lastSeq returns the sequence of the bucket's newest entry.
func (f *follower) lastSeq(ctx context.Context) (uint64, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := f.kv.Status(ctx)
	if err != nil {
		return 0, false
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return 0, false
	}
	return bs.StreamInfo().State.LastSeq, true
}

// resume starts a watch at the revision after the last applied, retrying
// until it succeeds or ctx ends (nil).
func (f *follower) resume(ctx context.Context) jetstream.KeyWatcher {
	for backoff := 50 * time.Millisecond; ; backoff = min(backoff*2, 2*time.Second) {
		opts := []jetstream.WatchOpt{}
		if f.last > 0 {
			opts = append(opts, jetstream.ResumeFromRevision(f.last+1))
		}
		w, err := f.watch(ctx, opts...)
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
