package notify

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testConfig retries fast: tests wait for outcomes, never for wall time.
var testConfig = Config{Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MaxAttempts: 8}

// startBus starts a NATS server for the test and connects to it.
func startBus(tb testing.TB) (*testenv.NATS, *bus.Bus) {
	tb.Helper()
	n := testenv.StartNATS(tb)
	return n, connect(tb, n)
}

// connect opens another connection (another process) to n.
func connect(tb testing.TB, n *testenv.NATS) *bus.Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: tb.Name(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("connect bus: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// putChannel stores ch in the alert_channels bucket, as the alerts API does.
func putChannel(tb testing.TB, b *bus.Bus, ch Channel) {
	tb.Helper()
	data, err := json.Marshal(ch)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := b.AlertChannels.Put(context.Background(), ch.TenantID+"."+ch.ID, data); err != nil {
		tb.Fatalf("put channel: %v", err)
	}
}

// run starts q.Run (and RunUsage when usage is set) until the test ends.
func run(tb testing.TB, q *Queue, usage bool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = q.Run(ctx) })
	if usage {
		wg.Go(func() { _ = q.RunUsage(ctx) })
	}
	tb.Cleanup(func() { cancel(); wg.Wait() })
}

// waitFor polls cond until it holds; the bound only turns a hang into a
// failure (it is not what the test measures).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queueDrained reports whether NOTIFY holds nothing and the delivery
// consumer has nothing in flight: no delivery can happen any more.
func queueDrained(tb testing.TB, b *bus.Bus) bool {
	tb.Helper()
	ctx := context.Background()
	st, err := b.JS.Stream(ctx, bus.NotifyStream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs == 0
}

// request is one call a receiver got.
type request struct {
	Header http.Header
	Body   []byte
	At     time.Time
	Status int
}

// receiver is an HTTP endpoint on 127.0.0.1 that answers by a script:
// answer(i) gives the status and headers of the i-th call (from 0).
type receiver struct {
	URL    string
	mu     sync.Mutex
	reqs   []request
	answer func(i int) (int, http.Header)
}

func newReceiver(tb testing.TB, answer func(i int) (int, http.Header)) *receiver {
	tb.Helper()
	if answer == nil {
		answer = func(int) (int, http.Header) { return http.StatusOK, nil }
	}
	rc := &receiver{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		i := len(rc.reqs)
		status, h := rc.answer(i)
		rc.reqs = append(rc.reqs, request{Header: r.Header.Clone(), Body: body, At: time.Now(), Status: status})
		rc.mu.Unlock()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		if status >= 400 {
			io.WriteString(w, "nope")
		}
	}))
	tb.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// succeeded counts 2xx answers.
func (rc *receiver) succeeded() int {
	n := 0
	for _, r := range rc.requests() {
		if r.Status/100 == 2 {
			n++
		}
	}
	return n
}

// mailbox is a minimal SMTP server on 127.0.0.1: EHLO/HELO, MAIL, RCPT,
// DATA, RSET, NOOP, QUIT. rcptReply, when set, answers RCPT TO instead of
// 250 (to test rejections).
type mailbox struct {
	Addr      string
	rcptReply string
	mu        sync.Mutex
	mails     []mailed
}

// mailed is one message the server accepted.
type mailed struct {
	From string
	To   []string
	Msg  *mail.Message
	Body string
}

func newMailbox(tb testing.TB, rcptReply string) *mailbox {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen smtp: %v", err)
	}
	mb := &mailbox{Addr: l.Addr().String(), rcptReply: rcptReply}
	var wg sync.WaitGroup
	tb.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { mb.serve(c) })
		}
	})
	return mb
}

func (mb *mailbox) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { io.WriteString(c, s+"\r\n") }
	say("220 127.0.0.1 test ESMTP")
	var from string
	var to []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-127.0.0.1 hello")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			from = address(line[10:])
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			if mb.rcptReply != "" {
				say(mb.rcptReply)
				continue
			}
			to = append(to, address(line[8:]))
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			msg, err := mail.ReadMessage(strings.NewReader(data.String()))
			if err != nil {
				say("554 unparseable")
				continue
			}
			body, _ := io.ReadAll(msg.Body)
			mb.mu.Lock()
			mb.mails = append(mb.mails, mailed{From: from, To: to, Msg: msg, Body: string(body)})
			mb.mu.Unlock()
			say("250 queued")
		case cmd == "RSET", cmd == "NOOP":
			say("250 ok")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown command")
		}
	}
}

func (mb *mailbox) received() []mailed {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]mailed(nil), mb.mails...)
}

// address takes the path out of "<a@b> PARAMS".
func address(arg string) string {
	arg = strings.TrimSpace(arg)
	if i := strings.IndexByte(arg, '>'); i >= 0 {
		arg = arg[:i]
	}
	return strings.TrimPrefix(arg, "<")
}
