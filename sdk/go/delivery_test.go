package sawmill

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is one POST the receiver saw.
type request struct {
	at   time.Time
	key  string // Idempotency-Key
	auth string
	recs []map[string]any
}

// receiver is an ingest endpoint that records requests and answers with
// reply (200 with the ingest answer when reply is nil or returns 0).
type receiver struct {
	t     testing.TB
	mu    sync.Mutex
	reqs  []request
	reply func(n int, r request) (status int, retryAfter string)
	srv   *httptest.Server
}

func newReceiver(tb testing.TB, reply func(n int, r request) (int, string)) *receiver {
	tb.Helper()
	rc := &receiver{t: tb, reply: reply}
	rc.srv = httptest.NewServer(rc)
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/ingest" || r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "bad request shape", 400)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, "not gzip", 400)
		return
	}
	req := request{at: time.Now(), key: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization")}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			http.Error(w, "bad line", 400)
			return
		}
		req.recs = append(req.recs, m)
	}
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()
	status, ra := 0, ""
	if rc.reply != nil {
		status, ra = rc.reply(n, req)
	}
	if ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if status == 0 || status == 200 {
		fmt.Fprintf(w, `{"accepted":%d,"rejected":0,"errors":[]}`, len(req.recs))
		return
	}
	w.WriteHeader(status)
	fmt.Fprint(w, `{"code":"x","message":"refused"}`)
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// newTestHandler points a handler at url with fast retries; it is closed
// at cleanup.
func newTestHandler(tb testing.TB, url string, opts Options) *Handler {
	tb.Helper()
	opts.URL = url
	if opts.APIKey == "" {
		opts.APIKey = "sm_test_key"
	}
	opts.retryBase = 5 * time.Millisecond
	if opts.ErrorLog == nil {
		opts.ErrorLog = log.New(io.Discard, "", 0)
	}
	h := NewHandler(opts)
	tb.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func flush(tb testing.TB, h *Handler) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.Flush(ctx)
}

func TestBatchesByCountAndBytes(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newTestHandler(t, rc.srv.URL, Options{BatchEvents: 10, FlushInterval: time.Hour})
	l := slog.New(h)
	for i := range 25 {
		l.Info("by count", "i", i)
	}
	if err := flush(t, h); err != nil {
		t.Fatal(err)
	}
	reqs := rc.requests()
	if len(reqs) != 3 || len(reqs[0].recs) != 10 || len(reqs[1].recs) != 10 || len(reqs[2].recs) != 5 {
		t.Fatalf("batches: %d requests", len(reqs))
	}
	if reqs[0].auth != "Bearer sm_test_key" || reqs[0].key == "" || reqs[0].key == reqs[1].key {
		t.Fatalf("headers: auth %q keys %q %q", reqs[0].auth, reqs[0].key, reqs[1].key)
	}
	for i, r := range reqs[0].recs { // order kept
		if r["i"] != float64(i) {
			t.Fatalf("record %d: %v", i, r)
		}
	}

	rc2 := newReceiver(t, nil)
	h2 := newTestHandler(t, rc2.srv.URL, Options{BatchBytes: 1000, FlushInterval: time.Hour})
	pad := strings.Repeat("x", 200)
	for range 20 {
		slog.New(h2).Info(pad)
	}
	if err := flush(t, h2); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range rc2.requests() {
		if len(r.recs) > 4 { // 4 records of ~290 bytes fit in 1000
			t.Fatalf("batch of %d records exceeds BatchBytes", len(r.recs))
		}
		total += len(r.recs)
	}
	if st := h2.Stats(); total != 20 || st.Sent != 20 || st.Queued != 0 {
		t.Fatalf("got %d records, stats %+v", total, st)
	}
}

// Without Flush, a lone record leaves after FlushInterval (50ms here; the
// 10s bound only guards against a hang on a loaded machine).
func TestBatchesByTime(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newTestHandler(t, rc.srv.URL, Options{FlushInterval: 50 * time.Millisecond})
	slog.New(h).Info("alone")
	for deadline := time.Now().Add(10 * time.Second); len(rc.requests()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("record not sent after FlushInterval")
		}
	}
}

func TestRetries(t *testing.T) {
	f := func(status int, retried bool) {
		t.Helper()
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			rc := newReceiver(t, func(n int, _ request) (int, string) {
				if n < 2 {
					return status, ""
				}
				return 200, ""
			})
			h := newTestHandler(t, rc.srv.URL, Options{})
			for range 3 {
				slog.New(h).Info("r")
			}
			err := flush(t, h)
			reqs := rc.requests()
			st := h.Stats()
			if !retried {
				if len(reqs) != 1 || st.Failed != 3 || st.Sent != 0 || err == nil {
					t.Fatalf("status %d: %d requests, stats %+v, flush %v; want one request, 3 failed", status, len(reqs), st, err)
				}
				return
			}
			if len(reqs) != 3 || st.Sent != 3 || st.Failed != 0 || err != nil {
				t.Fatalf("status %d: %d requests, stats %+v, flush %v; want 3 requests, 3 sent", status, len(reqs), st, err)
			}
			for _, r := range reqs { // a retry is recognisable as the same batch
				if r.key != reqs[0].key {
					t.Fatalf("retry changed the Idempotency-Key: %q vs %q", r.key, reqs[0].key)
				}
			}
		})
	}
	f(408, true)
	f(429, true)
	f(500, true)
	f(503, true)
	f(400, false)
	f(401, false)
	f(403, false)
	f(422, false)
}

func TestRetryGivesUp(t *testing.T) {
	rc := newReceiver(t, func(int, request) (int, string) { return 503, "" })
	h := newTestHandler(t, rc.srv.URL, Options{MaxRetryTime: 200 * time.Millisecond})
	slog.New(h).Info("doomed")
	if err := flush(t, h); err == nil || !strings.Contains(err.Error(), "1 records failed") {
		t.Fatalf("flush: %v", err)
	}
	if st := h.Stats(); st.Failed != 1 || len(rc.requests()) < 2 {
		t.Fatalf("stats %+v after %d requests", st, len(rc.requests()))
	}
}

func TestNetworkErrorRetriedUntilServerReturns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the service is down

	h := newTestHandler(t, "http://"+addr, Options{BatchEvents: 5})
	start := time.Now()
	for i := range 20 {
		slog.New(h).Info("while down", "i", i)
	}
	if d := time.Since(start); d > time.Second { // generous: Handle never waits for the network
		t.Fatalf("20 records took %v to log while the service was down", d)
	}
	time.Sleep(100 * time.Millisecond) // a few failed attempts

	rc := &receiver{t: t}
	// The service comes back on the same port (retried: the port is
	// briefly in TIME_WAIT or, rarely, taken by another process).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cannot listen on %s again: %v", addr, err)
		}
	}
	rc.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: rc}}
	rc.srv.Start()
	defer rc.srv.Close()
	if err := flush(t, h); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rc.requests() {
		n += len(r.recs)
	}
	if st := h.Stats(); n != 20 || st.Sent != 20 || st.Failed != 0 || st.Dropped != 0 {
		t.Fatalf("delivered %d, stats %+v", n, st)
	}
}

func Test413Splits(t *testing.T) {
	tooLarge := func(r request) bool {
		for _, rec := range r.recs {
			if rec["msg"] == "huge" {
				return true
			}
		}
		return len(r.recs) > 2
	}
	rc := newReceiver(t, func(_ int, r request) (int, string) {
		if tooLarge(r) {
			return 413, ""
		}
		return 200, ""
	})
	h := newTestHandler(t, rc.srv.URL, Options{BatchEvents: 9, FlushInterval: time.Hour})
	for i := range 8 {
		slog.New(h).Info("split", "i", i)
	}
	slog.New(h).Info("huge")
	flush(t, h)
	got := map[float64]int{}
	for _, r := range rc.requests() {
		if !tooLarge(r) {
			for _, rec := range r.recs {
				got[rec["i"].(float64)]++
			}
		}
	}
	if st := h.Stats(); len(got) != 8 || st.Sent != 8 || st.Failed != 1 {
		t.Fatalf("accepted %v, stats %+v", got, st)
	}
}

// Retry-After pauses the pipeline for its duration (1s here: the bound is
// the requirement), and is capped by MaxRetryAfter.
func TestRetryAfter(t *testing.T) {
	f := func(name, header string, maxRA, minGap, maxGap time.Duration) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, _ request) (int, string) {
				if n == 0 {
					return 429, header
				}
				return 200, ""
			})
			h := newTestHandler(t, rc.srv.URL, Options{MaxRetryAfter: maxRA, BatchEvents: 1})
			slog.New(h).Info("first")
			slog.New(h).Info("second") // waits behind the paused first
			if err := flush(t, h); err != nil {
				t.Fatal(err)
			}
			reqs := rc.requests()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			gap := reqs[1].at.Sub(reqs[0].at)
			if gap < minGap || gap > maxGap {
				t.Fatalf("retry after %v, want between %v and %v", gap, minGap, maxGap)
			}
			if reqs[1].recs[0]["msg"] != "first" || reqs[2].recs[0]["msg"] != "second" {
				t.Fatal("the pause must hold the whole pipeline, in order")
			}
		})
	}
	f("seconds", "1", time.Minute, 900*time.Millisecond, 8*time.Second)
	f("date", time.Now().Add(2*time.Second).UTC().Format(http.TimeFormat), time.Minute, 500*time.Millisecond, 8*time.Second)
	f("capped", "3600", 100*time.Millisecond, 50*time.Millisecond, 8*time.Second)
}

// A full queue drops the newest records, counts them, warns once and tells
// the server with the next batch.
func TestDropAccounting(t *testing.T) {
	gate := make(chan struct{})
	inFlight := make(chan struct{}, 1)
	rc := newReceiver(t, func(n int, _ request) (int, string) {
		if n == 0 {
			inFlight <- struct{}{}
			<-gate
		}
		return 200, ""
	})
	var warnings bytes.Buffer
	var wmu sync.Mutex
	h := newTestHandler(t, rc.srv.URL, Options{QueueSize: 5, BatchEvents: 1, ErrorLog: log.New(lockedWriter{&wmu, &warnings}, "", 0)})
	l := slog.New(h)
	l.Info("in flight")
	<-inFlight
	for i := range 8 {
		l.Info("queued", "i", i)
	}
	if st := h.Stats(); st.Dropped != 3 || st.Queued != 6 {
		t.Fatalf("stats %+v, want 3 dropped, 6 queued", st)
	}
	close(gate)
	if err := flush(t, h); err != nil {
		t.Fatal(err)
	}
	reqs := rc.requests()
	if len(reqs) != 6 || reqs[1].recs[0]["sawmill.dropped"] != 3.0 || reqs[2].recs[0]["sawmill.dropped"] != nil {
		t.Fatalf("%d requests; second starts %v, third %v", len(reqs), reqs[1].recs[0], reqs[2].recs[0])
	}
	for i, r := range reqs[1:] { // the newest were dropped
		if r.recs[0]["i"] != float64(i) {
			t.Fatalf("kept %v, want i=%d", r.recs[0], i)
		}
	}
	wmu.Lock()
	defer wmu.Unlock()
	if n := strings.Count(warnings.String(), "dropping records"); n != 1 {
		t.Fatalf("%d drop warnings, want 1 (rate-limited): %q", n, warnings.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCloseIsCappedAndIdempotent(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(int, request) (int, string) { <-release; return 200, "" })
	h := newTestHandler(t, rc.srv.URL, Options{})
	slog.New(h).Info("stuck")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := h.Close(ctx); err == nil {
		t.Fatal("Close of a stuck handler returned nil")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v past its 200ms deadline", d)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	slog.New(h).Info("after close")
	if st := h.Stats(); st.Dropped != 1 || st.Failed != 1 {
		t.Fatalf("stats %+v, want the stuck record failed and the late one dropped", st)
	}
}

func TestCloseDelivers(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newTestHandler(t, rc.srv.URL, Options{FlushInterval: time.Hour})
	slog.New(h).Info("last words")
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if reqs := rc.requests(); len(reqs) != 1 || reqs[0].recs[0]["msg"] != "last words" {
		t.Fatalf("requests %v", reqs)
	}
}

// Derived handlers share one queue and sender; concurrent logging is safe
// (run with -race) and loses nothing.
func TestDerivedHandlersShareOnePipeline(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newTestHandler(t, rc.srv.URL, Options{BatchEvents: 50})
	a := h.WithAttrs([]slog.Attr{slog.String("component", "a")})
	b := h.WithGroup("g").WithAttrs([]slog.Attr{slog.Int("x", 1)})
	if a.(*Handler).p != h.p || b.(*Handler).p != h.p {
		t.Fatal("derived handlers must share the pipeline")
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			l := slog.New(a)
			if w%2 == 1 {
				l = slog.New(b)
			}
			for i := range 100 {
				l.Info("concurrent", "w", w, "i", i)
			}
		})
	}
	wg.Wait()
	if err := flush(t, h); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rc.requests() {
		for _, rec := range r.recs {
			switch {
			case rec["component"] == "a" && rec["w"] != nil:
				seen[fmt.Sprint(rec["w"], "/", rec["i"])] = true
			case rec["g.x"] == 1.0 && rec["g.w"] != nil: // b's attributes sit in its group
				seen[fmt.Sprint(rec["g.w"], "/", rec["g.i"])] = true
			default:
				t.Fatalf("attributes lost: %v", rec)
			}
		}
	}
	if len(seen) != 800 || h.Stats().Sent != 800 {
		t.Fatalf("%d distinct records, stats %+v", len(seen), h.Stats())
	}
}
