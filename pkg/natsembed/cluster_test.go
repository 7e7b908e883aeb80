package natsembed_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/natsembed"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestClusterConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  natsembed.Config
		want string
	}{
		{"port without cluster", natsembed.Config{StoreDir: dir, ClusterPort: 6222}, "need a ClusterName"},
		{"routes without cluster", natsembed.Config{StoreDir: dir, Routes: []string{"nats://127.0.0.1:6222"}}, "need a ClusterName"},
		{"route not a URL", natsembed.Config{StoreDir: dir, ClusterName: "c", Routes: []string{"127.0.0.1:6222"}}, `route "127.0.0.1:6222"`},
		{"route without port", natsembed.Config{StoreDir: dir, ClusterName: "c", Routes: []string{"nats://127.0.0.1"}}, "want nats://host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := natsembed.Start(tc.cfg)
			if err == nil {
				s.Shutdown()
				t.Fatalf("Start succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A standalone server has no meta leader and WaitCluster returns at once.
func TestStandaloneWaitCluster(t *testing.T) {
	s, err := natsembed.Start(natsembed.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.WaitCluster(ctx, 3); err != nil {
		t.Fatalf("WaitCluster on a standalone server: %v", err)
	}
	if l := s.MetaLeader(); l != "" || s.ClusterPort() != 0 {
		t.Fatalf("standalone: MetaLeader %q, ClusterPort %d; want none", l, s.ClusterPort())
	}
}

// bus.Connect with Replicas 3 against a 3-node cluster creates every stream
// and bucket with three replicas placed on three distinct nodes.
func TestClusterR3StreamsAndBuckets(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := connectBus(t, ctx, c.URLs())
	streams := []string{bus.LogsStream, bus.NotifyStream, bus.NotifyLogStream, bus.AlertHistoryStream, bus.WarningsStream}
	for _, kv := range []jetstream.KeyValue{b.Tenants, b.Users, b.Keys, b.Scrubbing, b.Quotas, b.Searches, b.Dashboards,
		b.Invoices, b.AlertRules, b.AlertChannels, b.AlertSilences, b.AlertStates, b.AlertLeases} {
		streams = append(streams, "KV_"+kv.Bucket())
	}
	for _, name := range streams {
		info := streamInfo(t, ctx, b, name)
		nodes := map[string]bool{info.Cluster.Leader: true}
		for _, p := range info.Cluster.Replicas {
			nodes[p.Name] = true
		}
		if info.Config.Replicas != 3 || len(nodes) != 3 || c.Index(info.Cluster.Leader) < 0 {
			t.Errorf("stream %s: %d replicas configured, placed on %v (leader %q); want 3 distinct nodes",
				name, info.Config.Replicas, nodes, info.Cluster.Leader)
		}
	}
}

// Publishers keep going while the LOGS stream's leader node (the one their
// client is connected to) is killed and restarted: each publish that fails
// is retried with the same message id, as the edge's clients retry a 503.
// Every acknowledged publish is stored exactly once, the client reconnects
// to another node, a KV follower keeps applying changes, and the restarted
// node catches up.
func TestClusterLeaderKilledUnderPublish(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, leader := busOnStreamLeader(t, ctx, c)

	var seen sync.Map
	if err := b.Follow(ctx, b.Keys, func(key string, _ []byte, _ bool) error {
		seen.Store(key, true)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	const publishers, perPublisher = 3, 150
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed int
	var longest time.Duration
	killAt := make(chan struct{})
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < perPublisher; i++ {
				if p == 0 && i == perPublisher/3 {
					close(killAt)
				}
				id := fmt.Sprintf("p%d-%d", p, i)
				t0 := time.Now()
				for attempt := 0; ; attempt++ {
					pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
					_, _, err := b.PublishBatch(pctx, "acme", bus.Batch{Data: []byte(id), Events: 1, RetentionDays: 7, MsgID: id})
					pcancel()
					if err == nil {
						break
					}
					if ctx.Err() != nil {
						t.Errorf("publish %s never acknowledged: %v", id, err)
						return
					}
					mu.Lock()
					failed++
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
				}
				mu.Lock()
				longest = max(longest, time.Since(t0))
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}(p)
	}
	<-killAt
	c.Kill(leader)
	// A key written while the old leader is down reaches the follower.
	putRetrying(t, ctx, b.Keys, "during-outage")
	c.Restart(t, leader)
	wg.Wait()
	putRetrying(t, ctx, b.Keys, "after-restart")
	waitFor(t, ctx, "follower saw both keys", func() bool {
		_, a := seen.Load("during-outage")
		_, z := seen.Load("after-restart")
		return a && z
	})

	info := streamInfo(t, ctx, b, bus.LogsStream)
	t.Logf("old leader %s, new leader %s; %d publish attempts failed and were retried; longest publish %s; client now on %s",
		c.Name(leader), info.Cluster.Leader, failed, longest.Round(time.Millisecond), b.NC.ConnectedServerName())
	if want := uint64(publishers * perPublisher); info.State.Msgs != want {
		t.Fatalf("stream holds %d messages, want exactly %d (one per acknowledged id)", info.State.Msgs, want)
	}
	stream, err := b.JS.Stream(ctx, bus.LogsStream)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		if ids[string(m.Data)] {
			t.Fatalf("%s stored twice", m.Data)
		}
		ids[string(m.Data)] = true
	}
	if b.NC.ConnectedServerName() == c.Name(leader) && failed == 0 {
		t.Fatalf("the client never noticed the kill of %s", c.Name(leader))
	}
	// The restarted node rejoins the stream's replicas and catches up.
	waitFor(t, ctx, "restarted node current", func() bool {
		info := streamInfo(t, ctx, b, bus.LogsStream)
		if info.Cluster.Leader == c.Name(leader) {
			return true
		}
		for _, p := range info.Cluster.Replicas {
			if p.Name == c.Name(leader) && p.Current && !p.Offline {
				return true
			}
		}
		return false
	})
}

func connectBus(tb testing.TB, ctx context.Context, urls string) *bus.Bus {
	tb.Helper()
	b, err := bus.Connect(ctx, bus.Config{URL: urls, Name: tb.Name(), Replicas: 3, Logger: quiet})
	if err != nil {
		tb.Fatalf("bus connect: %v", err)
	}
	tb.Cleanup(func() { b.NC.Close() })
	return b
}

// busOnStreamLeader connects until the client lands on the node leading
// the LOGS stream (the client picks one of the URLs at random), so that
// killing that node cuts both the stream's leader and the client's
// connection. It returns the bus and the node's index.
func busOnStreamLeader(tb testing.TB, ctx context.Context, c *testenv.NATSCluster) (*bus.Bus, int) {
	tb.Helper()
	for try := 0; try < 30; try++ {
		b, err := bus.Connect(ctx, bus.Config{URL: c.URLs(), Name: tb.Name(), Replicas: 3, Logger: quiet})
		if err != nil {
			tb.Fatalf("bus connect: %v", err)
		}
		info := streamInfo(tb, ctx, b, bus.LogsStream)
		if b.NC.ConnectedServerName() == info.Cluster.Leader {
			tb.Cleanup(func() { b.NC.Close() })
			return b, c.Index(info.Cluster.Leader)
		}
		b.NC.Close()
	}
	tb.Fatal("no connection landed on the LOGS stream leader in 30 tries")
	return nil, 0
}

func streamInfo(tb testing.TB, ctx context.Context, b *bus.Bus, name string) *jetstream.StreamInfo {
	tb.Helper()
	for {
		s, err := b.JS.Stream(ctx, name)
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = s.Info(ctx); err == nil && info.Cluster != nil {
				return info
			}
		}
		if ctx.Err() != nil {
			tb.Fatalf("stream %s info: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func putRetrying(tb testing.TB, ctx context.Context, kv jetstream.KeyValue, key string) {
	tb.Helper()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := kv.Put(pctx, key, []byte("v"))
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("put %s: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitFor(tb testing.TB, ctx context.Context, what string, ok func() bool) {
	tb.Helper()
	for !ok() {
		if ctx.Err() != nil {
			tb.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
