package bus

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func connect(t *testing.T, url string) *Bus {
	t.Helper()
	b, err := Connect(context.Background(), Config{URL: url, Name: t.Name(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Every role ensures the stream and buckets; doing it twice, from two
// clients, must work.
func TestMain(m *testing.M) { testenv.Main(m) }

func TestConnectIdempotent(t *testing.T) {
	n := testenv.StartNATS(t)
	connect(t, n.URL())
	b := connect(t, n.URL())
	info, err := b.JS.Stream(context.Background(), LogsStream)
	if err != nil {
		t.Fatal(err)
	}
	if d := info.CachedInfo().Config.Duplicates; d != 10*time.Minute {
		t.Fatalf("duplicate window %v", d)
	}
}

func TestPublishDuplicate(t *testing.T) {
	n := testenv.StartNATS(t)
	b := connect(t, n.URL())
	ctx := context.Background()
	seq1, dup1, err := b.PublishBatch(ctx, "t1", Batch{Data: []byte("x"), Events: 1, RetentionDays: 7, MsgID: "k"})
	if err != nil || dup1 {
		t.Fatalf("first publish: %v dup=%v", err, dup1)
	}
	seq2, dup2, err := b.PublishBatch(ctx, "t1", Batch{Data: []byte("x"), Events: 1, RetentionDays: 7, MsgID: "k"})
	if err != nil || !dup2 || seq2 != seq1 {
		t.Fatalf("second publish: seq %d (first %d) dup=%v err=%v", seq2, seq1, dup2, err)
	}
}

// Follow applies current values, then changes, and survives a NATS restart.
func TestFollow(t *testing.T) {
	n := testenv.StartNATS(t)
	b := connect(t, n.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := b.Keys.Put(ctx, "t1.a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	state := map[string]string{}
	err := b.Follow(ctx, b.Keys, func(k string, v []byte, deleted bool) error {
		mu.Lock()
		defer mu.Unlock()
		if deleted {
			delete(state, k)
		} else {
			state[k] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) (string, bool) { mu.Lock(); defer mu.Unlock(); v, ok := state[k]; return v, ok }
	if v, _ := get("t1.a"); v != "1" {
		t.Fatalf("initial value not applied before Follow returned: %q", v)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	b.Keys.Put(ctx, "t1.b", []byte("2"))
	b.Keys.Purge(ctx, "t1.a")
	waitFor("put and purge", func() bool { _, a := get("t1.a"); v, _ := get("t1.b"); return !a && v == "2" })

	n.Restart(t)
	waitFor("reconnect", func() bool { return b.NC.IsConnected() })
	for i := 0; ; i++ {
		if _, err := b.Keys.Put(ctx, "t1.c", []byte("3")); err == nil {
			break
		} else if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor("a change after the restart", func() bool { v, _ := get("t1.c"); return v == "3" })
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("nats://app:s3cret@n1:4222, nats://n2:4222,nats://tok@n3:4222")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "n2:4222") || !strings.Contains(got, "app:xxxxx@n1") {
		t.Fatalf("redacted: %s", got)
	}
}

// Nothing unwritten is ever dropped: batches wait for the writer's
// consumer (which Connect creates, so none is published before it exists),
// a full stream refuses new batches instead of discarding old ones, and a
// batch the writer has acknowledged frees its room.
func TestLogsStreamKeepsUnwrittenBatches(t *testing.T) {
	n := testenv.StartNATS(t)
	ctx := context.Background()
	b, err := Connect(ctx, Config{URL: n.URL(), Name: t.Name(), Logger: quiet, MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	body := []byte(strings.Repeat("x", 4<<10))
	stored := 0
	var refused error
	for range 100 {
		if _, err := b.JS.Publish(ctx, LogsSubject("t1"), body); err != nil {
			refused = err
			break
		}
		stored++
	}
	if refused == nil || stored == 0 {
		t.Fatalf("%d publishes of 4 KiB into a 64 KiB stream all succeeded (%v)", stored, refused)
	}
	st, err := b.JS.Stream(ctx, LogsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.State.Msgs) != stored || info.State.FirstSeq != 1 {
		t.Fatalf("stream holds %d messages from seq %d; %d were acknowledged: a batch was dropped", info.State.Msgs, info.State.FirstSeq, stored)
	}
	// The writer stores and acknowledges them: room again.
	cons, err := b.JS.Consumer(ctx, LogsStream, WriterConsumer)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(stored, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
		acked++
	}
	if acked != stored {
		t.Fatalf("writer consumer got %d of %d batches", acked, stored)
	}
	if _, err := b.JS.Publish(ctx, LogsSubject("t1"), body); err != nil {
		t.Fatalf("publish after the writer caught up: %v", err)
	}
}

// A watch whose server-side consumer disappears while the connection stays
// up (a cluster node lost) stalls without closing; Follow notices the
// bucket running ahead of it and re-watches from its last revision.
func TestFollowRecoversStalledWatch(t *testing.T) {
	defer func(d time.Duration) { followCheck = d }(followCheck)
	followCheck = 200 * time.Millisecond
	n := testenv.StartNATS(t)
	b := connect(t, n.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	seen := map[string]bool{}
	if err := b.Follow(ctx, b.Keys, func(key string, _ []byte, _ bool) error {
		mu.Lock()
		seen[key] = true
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, err := b.JS.Stream(ctx, "KV_"+BucketKeys)
	if err != nil {
		t.Fatal(err)
	}
	names := st.ConsumerNames(ctx)
	deleted := 0
	for name := range names.Name() {
		if err := st.DeleteConsumer(ctx, name); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	if deleted == 0 {
		t.Fatal("no watch consumer to delete")
	}
	if _, err := b.Keys.Put(ctx, "after-stall", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		ok := seen["after-stall"]
		mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower never saw a put made after its watch stalled")
		}
	}
}
