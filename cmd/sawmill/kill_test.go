package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// buildBinary compiles cmd/sawmill once per test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sawmill")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestKillProcessUnderLoad SIGKILLs a real sawmill process (every role,
// including edge and writer) at arbitrary moments while clients ship logs,
// restarting it each time. Clients retry failed requests with the same
// Idempotency-Key, as the API asks. Every event must end up stored exactly
// once: nothing acknowledged is lost, nothing retried is doubled, and rows
// inserted but not acked before a kill are not inserted again.
func TestKillProcessUnderLoad(t *testing.T) {
	bin := buildBinary(t)
	nats := testenv.StartNATS(t)
	chAddr, db := testenv.ClickHouse(t), testenv.Database(t)
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	dataDir := t.TempDir()
	var logs strings.Builder
	var logMu sync.Mutex

	var proc atomic.Pointer[exec.Cmd]
	start := func() {
		cmd := exec.Command(bin, "dev",
			"-nats.url", nats.URL(), "-clickhouse.addr", chAddr, "-clickhouse.database", db,
			"-data-dir", dataDir, "-http.addr", httpAddr, "-grpc.addr", "127.0.0.1:0", "-syslog.addr", "127.0.0.1:0",
			"-auth.jwt-key", strings.Repeat("k", 32), "-billing.signup-per-minute", "0",
			"-writer.batch-wait", "50ms", "-writer.ack-wait", "2s", "-log.level", "warn")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		w := &lockedWriter{mu: &logMu, b: &logs}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		proc.Store(cmd)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if resp, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("sawmill not ready\n%s", logs.String())
			}
		}
	}
	kill := func() {
		cmd := proc.Load()
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	start()
	defer kill()
	c := client{t: t, base: "http://" + httpAddr}
	key := c.signup("chaos@example.com").key

	const senders, batches, perBatch = 3, 300, 20
	var wg sync.WaitGroup
	var retries atomic.Int64
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var body strings.Builder
				for e := 0; e < perBatch; e++ {
					fmt.Fprintf(&body, `{"message":"s%d-b%d-e%d","level":"info"}`+"\n", s, b, e)
				}
				idem := fmt.Sprintf("s%d-b%d", s, b)
				time.Sleep(10 * time.Millisecond) // spread the load over several kills
				for attempt := 0; ; attempt++ {
					if postOnce(c.base, key, idem, body.String()) {
						break
					}
					retries.Add(1)
					if attempt > 600 {
						t.Errorf("batch %s never accepted", idem)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}(s)
	}
	// Kill and restart while the senders run.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	kills := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(time.Duration(150+kills*97%400) * time.Millisecond):
			kill()
			kills++
			start()
		}
	}
	if kills < 3 {
		t.Fatalf("only %d kills happened: make the load longer", kills)
	}

	// The last process drains the stream; then count.
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}, Auth: clickhouse.Auth{Database: db}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := uint64(senders * batches * perBatch)
	var rows, distinct uint64
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(message) FROM logs").Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		if distinct == want && rows >= want {
			time.Sleep(3 * time.Second) // past the ack wait: any redelivery has landed
			conn.QueryRow(context.Background(), "SELECT count(), uniqExact(message) FROM logs").Scan(&rows, &distinct)
			break
		}
	}
	t.Logf("%d kills, %d client retries, %d rows, %d distinct", kills, retries.Load(), rows, distinct)
	if rows != want || distinct != want {
		t.Fatalf("stored %d rows (%d distinct), want exactly %d", rows, distinct, want)
	}
	// Metered usage equals what was sent, to the event and the byte, across
	// the kills and redeliveries: every event is {"message":"sX-bY-eZ","level":"info"},
	// counted as 16 + len(message) + len("info") bytes.
	var wantBytes uint64
	for s := 0; s < senders; s++ {
		for b := 0; b < batches; b++ {
			for e := 0; e < perBatch; e++ {
				wantBytes += uint64(16 + len(fmt.Sprintf("s%d-b%d-e%d", s, b, e)) + len("info"))
			}
		}
	}
	var usedEvents, usedBytes uint64
	if err := conn.QueryRow(context.Background(), "SELECT sum(events), sum(bytes) FROM usage_hourly").Scan(&usedEvents, &usedBytes); err != nil {
		t.Fatal(err)
	}
	if usedEvents != want || usedBytes != wantBytes {
		t.Fatalf("usage %d events / %d bytes, want %d / %d", usedEvents, usedBytes, want, wantBytes)
	}
}

func postOnce(base, key, idem, body string) bool {
	req, _ := http.NewRequest("POST", base+"/v1/ingest", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Idempotency-Key", idem)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 1<<20 {
		w.b.Write(p)
	}
	return len(p), nil
}
