// Command clusterbench measures Sawmill's ingest path on a 3-node JetStream
// cluster (R3 streams and buckets): it starts the cluster, a
// private ClickHouse, one billing process and -edges ingest processes (each
// an edge and a writer sharing the durable consumer), and posts
// Django/Celery NDJSON batches from -workers clients spread over the edges
// for -duration. It reports accepted events/s and checks that ClickHouse ends
// up with exactly the accepted events.
//
// The NATS nodes are child processes (this program re-executed). With -kill
// D it SIGKILLs the node leading the LOGS stream D into the run, restarts
// it -down later, and reports how long throughput took to come back to 90%
// of its rate before the kill; with -hang it SIGSTOPs the node instead (a
// hung node or a partition: its sockets stay open) and continues it -down
// later.
//
//	go build -o /tmp/sawmill ./cmd/sawmill
//	go run ./bench/clusterbench -sawmill /tmp/sawmill -edges 2 -duration 15s -kill 5s
//
// Everything listens on 127.0.0.1; the run is bounded by -duration.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sawmillhq/sawmill/bench/djangolog"
	"github.com/sawmillhq/sawmill/pkg/chserver"
	"github.com/sawmillhq/sawmill/pkg/natsembed"
)

type options struct {
	sawmill  string
	edges    int
	workers  int
	batch    int
	duration time.Duration
	kill     time.Duration
	down     time.Duration
	hang     bool
}

func main() {
	natsembed.RunNodeIfAsked() // the cluster's nodes are this program re-executed
	var o options
	flag.StringVar(&o.sawmill, "sawmill", "./bin/sawmill", "sawmill binary")
	flag.IntVar(&o.edges, "edges", 1, "ingest processes (edge + writer each)")
	flag.IntVar(&o.workers, "workers", 8, "concurrent clients, spread over the edges")
	flag.IntVar(&o.batch, "batch", 500, "events per request")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "how long to send")
	flag.DurationVar(&o.kill, "kill", 0, "kill the LOGS stream leader's NATS node this long into the run; 0: no kill")
	flag.DurationVar(&o.down, "down", 2*time.Second, "how long the killed node stays down")
	flag.BoolVar(&o.hang, "hang", false, "with -kill: SIGSTOP the node (it hangs, sockets open) instead of SIGKILL")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "sawmill-clusterbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	cl, err := startCluster(ctx, dir)
	if err != nil {
		return err
	}
	defer cl.stop()
	ch, err := chserver.Start(ctx, chserver.Config{Dir: filepath.Join(dir, "clickhouse")})
	if err != nil {
		return err
	}
	defer ch.Stop()
	plans := filepath.Join(dir, "plans.json")
	if err := os.WriteFile(plans, []byte(`{"default":"bench","plans":[{"name":"bench","monthly_events":1000000000000,
		"monthly_bytes":1000000000000000,"retention_days":7,"max_query_days":7}]}`), 0o644); err != nil {
		return err
	}
	common := []string{"-nats.url", cl.urls(), "-nats.replicas", "3", "-clickhouse.addr", ch.Addr(),
		"-auth.jwt-key", strings.Repeat("b", 32), "-plans", plans, "-log.level", "warn",
		"-grpc.addr", "127.0.0.1:0", "-syslog.addr", "127.0.0.1:0", "-billing.signup-per-minute", "0"}
	billing, err := startProcess(o.sawmill, "billing", dir, common)
	if err != nil {
		return err
	}
	defer billing.stop()
	var edges []string
	for i := 0; i < o.edges; i++ {
		p, err := startProcess(o.sawmill, "ingest", dir, common)
		if err != nil {
			return err
		}
		defer p.stop()
		edges = append(edges, "http://"+p.httpAddr)
	}
	key, tenant, err := signup("http://" + billing.httpAddr)
	if err != nil {
		return err
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr()}, Auth: clickhouse.Auth{Database: "sawmill"}})
	if err != nil {
		return err
	}
	defer conn.Close()
	stored := func() uint64 {
		var n uint64
		_ = conn.QueryRow(ctx, "SELECT count() FROM logs WHERE tenant_id = ?", tenant).Scan(&n)
		return n
	}

	res := load(o, edges, key, cl)
	total := res.accepted
	sendEnd := time.Now()
	for stored() < uint64(total) {
		if time.Since(sendEnd) > 2*time.Minute {
			return fmt.Errorf("writers did not catch up: %d of %d stored", stored(), total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	drain := time.Since(sendEnd)
	fmt.Printf("edges=%d workers=%d batch=%d duration=%s replicas=3\n", o.edges, o.workers, o.batch, o.duration)
	fmt.Printf("accepted      %d events, %.0f events/s (%d attempts failed and were retried)\n",
		total, float64(total)/o.duration.Seconds(), res.failures)
	fmt.Printf("writers       caught up %s after the last ack: %.0f events/s stored end to end\n",
		drain.Round(time.Millisecond), float64(total)/(o.duration+drain).Seconds())
	if res.killed != "" {
		fmt.Printf("kill          %s at %s; rate before %.0f events/s; longest stall %s; back to 90%% after %s\n",
			res.killed, o.kill, res.before, res.stall.Round(10*time.Millisecond), res.recovery)
	}
	if n := stored(); n != uint64(total) {
		return fmt.Errorf("stored %d events, accepted %d: exactly-once violated", n, total)
	}
	fmt.Printf("stored        %d events: exactly the accepted count\n", total)
	return nil
}

type result struct {
	accepted, failures int64
	killed             string
	before             float64       // events/s before the kill
	stall              time.Duration // longest time without an ack after the kill
	recovery           string        // kill → 1 s rate back to 90% of before
}

// load sends for o.duration, sampling acks every 100 ms, and kills a node
// when asked.
func load(o options, edges []string, key string, cl *cluster) result {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.workers}, Timeout: 10 * time.Second}
	var accepted, failures atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g, base := djangolog.NewGenerator(int64(w)), edges[w%len(edges)]
			var buf bytes.Buffer
			for i := 0; ctx.Err() == nil; i++ {
				buf.Reset()
				for j := 0; j < o.batch; j++ {
					g.Line(&buf)
				}
				n, fails := post(client, base, key, fmt.Sprintf("w%d-%d", w, i), buf.Bytes())
				accepted.Add(n)
				failures.Add(fails)
			}
		}(w)
	}
	const tick = 100 * time.Millisecond
	var samples []int64 // accepted at each tick
	var res result
	start := time.Now()
	t := time.NewTicker(tick)
	killedAt := -1
	for ctx.Err() == nil {
		<-t.C
		samples = append(samples, accepted.Load())
		if o.kill > 0 && killedAt < 0 && time.Since(start) >= o.kill {
			killedAt = len(samples) - 1
			sig := syscall.SIGKILL
			if o.hang {
				sig = syscall.SIGSTOP
			}
			res.killed = cl.killStreamLeader(sig)
			go func() { time.Sleep(o.down); cl.revive(sig) }()
		}
	}
	t.Stop()
	wg.Wait()
	res.accepted, res.failures = accepted.Load(), failures.Load()
	if killedAt > 10 {
		// Rate before: from 1 s in (warm) to the kill.
		res.before = float64(samples[killedAt]-samples[10]) / (float64(killedAt-10) * tick.Seconds())
		res.recovery = "never (within the run)"
		run := 0 // ticks in a row without an ack
		for i := killedAt + 1; i < len(samples); i++ {
			if samples[i] == samples[i-1] {
				run++
				res.stall = max(res.stall, time.Duration(run)*tick)
			} else {
				run = 0
			}
			if i >= killedAt+10 && res.recovery == "never (within the run)" {
				if rate := float64(samples[i]-samples[i-10]) / (10 * tick.Seconds()); rate >= 0.9*res.before {
					res.recovery = (time.Duration(i-killedAt) * tick).String()
				}
			}
		}
	}
	return res
}

// post sends one batch with an Idempotency-Key, retrying until it is
// acknowledged (an unanswered request may have been stored).
func post(client *http.Client, base, key, idem string, body []byte) (accepted, failures int64) {
	for {
		req, _ := http.NewRequest("POST", base+"/v1/ingest", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Idempotency-Key", idem)
		resp, err := client.Do(req)
		if err == nil {
			var res struct{ Accepted int64 }
			_ = json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return res.Accepted, failures
			}
		}
		failures++
		time.Sleep(100 * time.Millisecond)
	}
}

type process struct {
	cmd      *exec.Cmd
	httpAddr string
}

func startProcess(bin, role, dir string, common []string) (*process, error) {
	p := &process{httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort())}
	data, err := os.MkdirTemp(dir, role+"-")
	if err != nil {
		return nil, err
	}
	args := append([]string{role, "-http.addr", p.httpAddr, "-data-dir", data}, common...)
	p.cmd = exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(data, "sawmill.log"))
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get("http://" + p.httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("%s not ready after 60s:\n%s", role, log)
		}
	}
}

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
}

func signup(base string) (key, tenant string, err error) {
	body := fmt.Sprintf(`{"email":"bench-%d@example.com","password":"correct horse battery","organization":"Bench"}`, time.Now().UnixNano())
	resp, err := http.Post(base+"/v1/signup", "application/json", bytes.NewBufferString(body))
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var m struct {
		APIKey   string `json:"api_key"`
		TenantID string `json:"tenant_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m.APIKey == "" {
		return "", "", errors.Join(fmt.Errorf("signup: status %d", resp.StatusCode), err)
	}
	return m.APIKey, m.TenantID, nil
}
