package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// natsClusterPlans has no quota or rate limit worth the name: these tests
// measure delivery, not admission.
const natsClusterPlans = `{"default":"bulk","plans":[{"name":"bulk","monthly_events":1000000000000,
	"monthly_bytes":1000000000000000,"retention_days":7,"max_query_days":7}]}`

// natsClusterStack starts a process of the given role on the NATS cluster
// (replicas 3) and the test's ClickHouse database, on free ports.
func natsClusterStack(t *testing.T, role string, c *testenv.NATSCluster, chAddr, db, plans string) *Stack {
	t.Helper()
	cfg, err := parseConfig(role, []string{
		"-data-dir", t.TempDir(), "-http.addr", "127.0.0.1:0", "-grpc.addr", "127.0.0.1:0", "-syslog.addr", "127.0.0.1:0",
		"-nats.url", c.URLs(), "-nats.replicas", "3",
		"-clickhouse.addr", chAddr, "-clickhouse.database", db,
		"-auth.jwt-key", strings.Repeat("c", 32), "-plans", plans,
		"-writer.batch-wait", "100ms", "-writer.ack-wait", "2s",
		"-billing.signup-per-minute", "0", "-billing.bcrypt-cost", "4",
	}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", role)
	}
	st, err := Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start %s: %v", role, err)
	}
	t.Cleanup(st.Close)
	return st
}

// natsClusterPost posts one NDJSON batch and returns the status, 0 when no
// answer came (network error or timeout), and the Retry-After header.
func natsClusterPost(base, key, idem, body string) (int, string) {
	req, _ := http.NewRequest("POST", base+"/v1/ingest", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Idempotency-Key", idem)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// natsClusterJS is the test's own view of the cluster, to find leaders.
func natsClusterJS(t *testing.T, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// natsLeaderOf returns the server name leading the LOGS stream (consumer "")
// or one of its consumers, asking until the cluster answers.
func natsLeaderOf(t *testing.T, js jetstream.JetStream, consumer string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var ci *jetstream.ClusterInfo
		if consumer == "" {
			if s, err := js.Stream(ctx, bus.LogsStream); err == nil {
				ci = s.CachedInfo().Cluster
			}
		} else if c, err := js.Consumer(ctx, bus.LogsStream, consumer); err == nil {
			ci = c.CachedInfo().Cluster
		}
		cancel()
		if ci != nil && ci.Leader != "" {
			return ci.Leader
		}
	}
	t.Fatalf("no leader for %s/%s", bus.LogsStream, consumer)
	return ""
}

// TestNATSClusterNodeKilledUnderLoad runs two ingest processes (two edges
// and two writers sharing the durable consumer) and a billing process on a
// 3-node JetStream cluster with R3 streams and buckets. While retrying
// clients load both edges, the node leading the LOGS stream is killed and
// restarted, then the node leading the writer consumer. Every acknowledged
// event must be stored exactly once, and metered usage must equal it.
func TestNATSClusterNodeKilledUnderLoad(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	plans := filepath.Join(t.TempDir(), "plans.json")
	if err := os.WriteFile(plans, []byte(natsClusterPlans), 0o644); err != nil {
		t.Fatal(err)
	}
	billing := natsClusterStack(t, "billing", c, chAddr, db, plans)
	edges := []*Stack{natsClusterStack(t, "ingest", c, chAddr, db, plans), natsClusterStack(t, "ingest", c, chAddr, db, plans)}
	key := client{t: t, base: "http://" + billing.Server.HTTPAddr()}.signup("cluster@example.com").key
	js := natsClusterJS(t, c.URLs())

	// Senders post until told to stop, finishing the batch in hand; sent[s]
	// counts sender s's acknowledged batches (s<s>-b0 ... b<sent-1>).
	const senders, perBatch = 4, 20
	body := func(s, b int) string {
		var sb strings.Builder
		for e := 0; e < perBatch; e++ {
			fmt.Fprintf(&sb, `{"message":"s%d-b%d-e%d","level":"info"}`+"\n", s, b, e)
		}
		return sb.String()
	}
	var acked, retries atomic.Int64
	var stop, abort atomic.Bool // stop: finish the batch in hand; abort: give it up
	sent := make([]int, senders)
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			base := "http://" + edges[s%len(edges)].Server.HTTPAddr()
			for b := 0; !stop.Load(); b++ {
				idem := fmt.Sprintf("s%d-b%d", s, b)
				for attempt := 0; ; attempt++ {
					code, retryAfter := natsClusterPost(base, key, idem, body(s, b))
					if code == 200 {
						break
					}
					if abort.Load() {
						return
					}
					// A key created a moment ago may not have reached this
					// edge yet (401 before the first ack); otherwise a node
					// loss may only show as 503 with Retry-After (the bus
					// could not take the batch) or as no answer at all.
					if !(code == 503 && retryAfter != "" || code == 0 || code == 401 && acked.Load() == 0) {
						t.Errorf("batch %s: status %d (Retry-After %q), want 200, or 503 with Retry-After", idem, code, retryAfter)
						return
					}
					retries.Add(1)
					if attempt > 100 {
						t.Errorf("batch %s never accepted (last status %d)", idem, code)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				sent[s]++
				acked.Add(1)
				time.Sleep(10 * time.Millisecond)
			}
		}(s)
	}
	t.Cleanup(func() { // when the test ends early (t.Fatal)
		stop.Store(true)
		abort.Store(true)
		wg.Wait()
	})
	// progress waits until 100 more batches are acknowledged; if that takes
	// a minute, the cluster has not recovered and the test fails (the
	// cleanup above stops the senders).
	progress := func() {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for until := acked.Load() + 100; acked.Load() < until; time.Sleep(20 * time.Millisecond) {
			if t.Failed() || time.Now().After(deadline) {
				t.Fatalf("load stalled at %d acknowledged batches", acked.Load())
			}
		}
	}

	// Kill the stream leader under load, restart it 1.5 s later; once the
	// load has made progress again, the same for the writer consumer's
	// leader; then some more load.
	var killed []string
	for _, consumer := range []string{"", bus.WriterConsumer} {
		progress()
		name := natsLeaderOf(t, js, consumer)
		i := c.Index(name)
		var cut []string // processes whose connection the kill cuts
		for j, st := range append([]*Stack{billing}, edges...) {
			if st.bus.NC.ConnectedServerName() == name {
				cut = append(cut, fmt.Sprintf("p%d", j))
			}
		}
		at := acked.Load()
		c.Kill(i)
		time.Sleep(1500 * time.Millisecond)
		c.Restart(t, i)
		// Leadership is not the point (the restarted node may win it
		// back); it is logged to show what the kill hit.
		killed = append(killed, fmt.Sprintf("%s (leader of %s/%s at %d acks, connected to %v; %s leads after restart)",
			name, bus.LogsStream, consumer, at, cut, natsLeaderOf(t, js, consumer)))
	}
	progress()
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every batch is acknowledged; wait until the writers have acked every
	// message too (then no redelivery can follow), and count.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		cons, err := js.Consumer(ctx, bus.LogsStream, bus.WriterConsumer)
		if err == nil {
			if info := cons.CachedInfo(); info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("writers never drained the stream: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := uint64(acked.Load() * perBatch)
	var rows, distinct uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(message) FROM logs").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	t.Logf("processes p0 billing, p1 and p2 ingest; killed %s; %d batches, %d client retries; %d rows, %d distinct", strings.Join(killed, ", then "), acked.Load(), retries.Load(), rows, distinct)
	if rows != want || distinct != want {
		t.Fatalf("stored %d rows (%d distinct), want exactly %d", rows, distinct, want)
	}
	var wantBytes uint64 // each event counts 16 + len(message) + len("info") bytes
	for s := 0; s < senders; s++ {
		for b := 0; b < sent[s]; b++ {
			for e := 0; e < perBatch; e++ {
				wantBytes += uint64(16 + len(fmt.Sprintf("s%d-b%d-e%d", s, b, e)) + len("info"))
			}
		}
	}
	var usedEvents, usedBytes uint64
	if err := conn.QueryRow(ctx, "SELECT sum(events), sum(bytes) FROM usage_hourly").Scan(&usedEvents, &usedBytes); err != nil {
		t.Fatal(err)
	}
	if usedEvents != want || usedBytes != wantBytes {
		t.Fatalf("usage %d events / %d bytes, want %d / %d", usedEvents, usedBytes, want, wantBytes)
	}
}
