// Command loadgen measures Sawmill end to end: it starts a fresh `sawmill
// dev` stack (or uses a running one), signs up, and posts realistic
// Django/Celery NDJSON batches to /v1/ingest from several workers for a fixed
// time. It reports sustained accepted events/s, ack latency percentiles, and
// how far the writer lags (accepted minus stored, sampled from ClickHouse).
//
//	go run ./bench/loadgen -sawmill ./bin/sawmill -duration 30s -workers 8 -batch 500
//	go run ./bench/loadgen -sawmill ./bin/sawmill -rate 150000 -pregen 16   # a fixed offered rate
//
// Traffic goes only to 127.0.0.1; the run is bounded by -duration.
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
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/sawmillhq/sawmill/bench/djangolog"
)

type options struct {
	sawmill  string
	duration time.Duration
	workers  int
	batch    int
	profile  string
	protocol string
	rate     int // events/s offered in all; 0: as fast as acknowledged
	pregen   int // NDJSON batches generated per worker before sending, then cycled; 0: each generated when sent
}

func main() {
	var o options
	flag.StringVar(&o.sawmill, "sawmill", "./bin/sawmill", "sawmill binary to start as a fresh dev stack")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send")
	flag.IntVar(&o.workers, "workers", 8, "concurrent clients")
	flag.IntVar(&o.batch, "batch", 500, "events per request")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of sawmill during the send phase to this file")
	flag.IntVar(&o.rate, "rate", 0, "events/s to offer in all, spread over the workers; 0: as fast as they are acknowledged")
	flag.IntVar(&o.pregen, "pregen", 0, "NDJSON: batches each worker generates before sending and then cycles (keeps the generator's CPU out of the way); 0: generate each as it is sent")
	flag.StringVar(&o.protocol, "protocol", "ndjson", "ndjson (POST /v1/ingest), otlp (OTLP/HTTP protobuf) or syslog (RFC 5424 over TCP)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type stack struct {
	cmd        *exec.Cmd
	httpAddr   string
	syslogAddr string
	chAddr     string
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startStack(bin string) (*stack, func(), error) {
	dir, err := os.MkdirTemp("", "sawmill-loadgen-")
	if err != nil {
		return nil, nil, err
	}
	s := &stack{httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort()), syslogAddr: fmt.Sprintf("127.0.0.1:%d", freePort())}
	chPort := freePort()
	s.chAddr = fmt.Sprintf("127.0.0.1:%d", chPort)
	// A plan without quota or rate limit: this measures the pipeline.
	plans := filepath.Join(dir, "plans.json")
	if err := os.WriteFile(plans, []byte(`{"default":"bench","plans":[{"name":"bench","monthly_events":1000000000000,
		"monthly_bytes":1000000000000000,"retention_days":7,"max_query_days":7}]}`), 0o644); err != nil {
		return nil, nil, err
	}
	s.cmd = exec.Command(bin, "dev")
	s.cmd.Env = append(os.Environ(),
		"SAWMILL_DATA_DIR="+dir,
		"SAWMILL_HTTP_ADDR="+s.httpAddr,
		"SAWMILL_GRPC_ADDR=127.0.0.1:"+strconv.Itoa(freePort()),
		"SAWMILL_SYSLOG_ADDR="+s.syslogAddr,
		"SAWMILL_NATS_PORT="+strconv.Itoa(freePort()),
		"SAWMILL_CLICKHOUSE_PORT="+strconv.Itoa(chPort),
		"SAWMILL_BILLING_SIGNUP_PER_MINUTE=0",
		"SAWMILL_LOG_LEVEL=warn",
		"SAWMILL_DEBUG_PPROF=true",
		"SAWMILL_PLANS="+plans,
	)
	logf, _ := os.Create(filepath.Join(dir, "sawmill.log"))
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, logf
	if err := s.cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + s.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("stack not ready after 60s (log: %s)", logf.Name())
		}
	}
}

func run(o options) error {
	st, stop, err := startStack(o.sawmill)
	if err != nil {
		return err
	}
	defer stop()
	base := "http://" + st.httpAddr
	key, tenant, err := signup(base)
	if err != nil {
		return err
	}
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{st.chAddr}, Auth: clickhouse.Auth{Database: "sawmill"}})
	if err != nil {
		return err
	}
	stored := func() uint64 {
		var n uint64
		_ = ch.QueryRow(context.Background(), "SELECT count() FROM logs WHERE tenant_id = ?", tenant).Scan(&n)
		return n
	}

	var accepted, bytesSent atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.workers}, Timeout: 30 * time.Second}
	var snd sender
	switch o.protocol {
	case "ndjson":
	case "otlp":
		snd = otlpSender{client: client, base: base, key: key}
	case "syslog":
		ss, err := newSyslogSender(st.syslogAddr, key, o.workers)
		if err != nil {
			return err
		}
		snd = ss
	default:
		return fmt.Errorf("unknown protocol %q", o.protocol)
	}
	var wg sync.WaitGroup
	if o.profile != "" {
		go saveProfile(base, o.profile, o.duration)
	}
	sm0, ch0 := cpuSeconds(st.cmd.Process.Pid)
	lg0, _ := cpuSeconds(os.Getpid())
	start := time.Now()
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g := &generator{djangolog.NewGenerator(int64(w))}
			var buf bytes.Buffer
			generate := func() []byte { // one NDJSON batch, in buf
				buf.Reset()
				for range o.batch {
					g.Line(&buf)
				}
				return buf.Bytes()
			}
			var pre [][]byte
			for range o.pregen {
				pre = append(pre, bytes.Clone(generate()))
			}
			var every time.Duration // between this worker's batches
			if o.rate > 0 {
				every = time.Duration(float64(time.Second) * float64(o.batch*o.workers) / float64(o.rate))
			}
			for i := 0; ctx.Err() == nil; i++ {
				if every > 0 {
					if wait := time.Until(start.Add(time.Duration(i) * every)); wait > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(wait):
						}
					}
				}
				t0 := time.Now()
				var n int64
				var size int
				if snd != nil {
					var err error
					if n, size, err = snd.send(w, i, g, o.batch); err != nil {
						fmt.Fprintln(os.Stderr, "send:", err)
						return
					}
				} else {
					var body []byte
					if len(pre) > 0 {
						body = pre[i%len(pre)]
					} else {
						body = generate()
					}
					n, size = postNDJSON(client, base, key, w, i, body)
				}
				d := time.Since(t0)
				accepted.Add(n)
				bytesSent.Add(int64(size))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}(w)
	}
	// Sample the writer's lag while sending: in events (accepted minus
	// stored) and in time (how long ago the events now stored had all been
	// accepted).
	var maxLag int64
	var maxBehind time.Duration
	type sample struct {
		at       time.Time
		accepted int64
	}
	history := []sample{{start, 0}}
	tick := time.NewTicker(250 * time.Millisecond)
sampling:
	for {
		select {
		case <-ctx.Done():
			break sampling
		case now := <-tick.C:
			acc, st := accepted.Load(), int64(stored())
			history = append(history, sample{now, acc})
			if lag := acc - st; lag > maxLag {
				maxLag = lag
			}
			i, _ := slices.BinarySearchFunc(history, st, func(s sample, n int64) int {
				if s.accepted < n {
					return -1
				}
				return 1
			})
			if i < len(history) && now.Sub(history[i].at) > maxBehind {
				maxBehind = now.Sub(history[i].at)
			}
		}
	}
	tick.Stop()
	wg.Wait()
	elapsed := time.Since(start)
	sendEnd := time.Now()
	total := accepted.Load()
	for stored() < uint64(total) {
		if time.Since(sendEnd) > 2*time.Minute {
			return fmt.Errorf("writer did not catch up: %d of %d stored", stored(), total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	drain := time.Since(sendEnd)
	final := stored()
	sm1, ch1 := cpuSeconds(st.cmd.Process.Pid)
	lg1, _ := cpuSeconds(os.Getpid())
	sm, chs, lg := sm1-sm0, ch1-ch0, lg1-lg0

	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("protocol=%s workers=%d batch=%d duration=%s\n", o.protocol, o.workers, o.batch, elapsed.Round(time.Millisecond))
	fmt.Printf("accepted      %d events in %d requests (%d attempts failed and were retried)\n", total, len(lat), failures.Load())
	fmt.Printf("throughput    %.0f events/s, %.1f MB/s of NDJSON\n", float64(total)/elapsed.Seconds(), float64(bytesSent.Load())/elapsed.Seconds()/1e6)
	fmt.Printf("ack latency   p50 %s  p99 %s  max %s\n", pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	fmt.Printf("writer lag    max %d events, %s behind, while sending; caught up %s after the last ack\n", maxLag, maxBehind.Round(10*time.Millisecond), drain.Round(time.Millisecond))
	perM := func(s float64) float64 { return s / float64(total) * 1e6 }
	fmt.Printf("cpu s/Mevents sawmill+nats %.2f, clickhouse %.2f, total %.2f (load generator %.2f more)\n",
		perM(sm), perM(chs), perM(sm+chs), perM(lg))
	if final != uint64(total) {
		return fmt.Errorf("stored %d events, accepted %d: exactly-once violated", final, total)
	}
	fmt.Printf("stored        %d events: exactly the accepted count\n", final)
	return nil
}

func signup(base string) (key, tenant string, err error) {
	body := fmt.Sprintf(`{"email":"load-%d@example.com","password":"correct horse battery","organization":"Load"}`, time.Now().UnixNano())
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
		return "", "", errors.Join(errors.New("signup failed"), err)
	}
	return m.APIKey, m.TenantID, nil
}

// saveProfile fetches a CPU profile of sawmill covering most of the send phase.
func saveProfile(base, path string, d time.Duration) {
	secs := max(int(d.Seconds())-2, 1)
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs))
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// failures counts attempts that failed and were retried.
var failures atomic.Int64

// postNDJSON posts one NDJSON batch to /v1/ingest, retrying with the same
// Idempotency-Key until it is acknowledged: an unanswered request may have
// been stored.
func postNDJSON(client *http.Client, base, key string, w, i int, body []byte) (int64, int) {
	var res struct{ Accepted int64 }
	for {
		req, _ := http.NewRequest("POST", base+"/v1/ingest", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("w%d-%d", w, i))
		resp, err := client.Do(req)
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return res.Accepted, len(body)
			}
		}
		failures.Add(1)
		time.Sleep(200 * time.Millisecond)
	}
}
