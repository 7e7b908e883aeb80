package testenv

import (
	"sync"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/natsembed"
)

// NATS is a per-test in-process NATS server with JetStream, storing in the
// test's temporary directory. Its methods are safe for concurrent use.
type NATS struct {
	mu   sync.Mutex
	dir  string
	port int
	url  string
	s    *natsembed.Server // nil while stopped
}

// StartNATS starts a NATS server with JetStream on a free port of 127.0.0.1
// and shuts it down when the test ends. It fails tb if the server cannot
// start.
func StartNATS(tb testing.TB) *NATS {
	tb.Helper()
	n := &NATS{dir: tb.TempDir()}
	n.start(tb)
	tb.Cleanup(n.Stop)
	return n
}

func (n *NATS) start(tb testing.TB) {
	tb.Helper()
	s, err := natsembed.Start(natsembed.Config{StoreDir: n.dir, Port: n.port})
	if err != nil {
		tb.Fatalf("testenv: start nats: %v", err)
	}
	n.s, n.port, n.url = s, s.Port(), s.ClientURL()
}

// URL returns the client URL. It stays the same across Restart.
func (n *NATS) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.url
}

// Restart shuts the server down and starts a new one on the same port and
// storage directory, as a crashed or redeployed NATS server comes back:
// clients see a disconnect, then streams, KV buckets and durable consumers
// are where they were. It fails tb if the server cannot come back.
func (n *NATS) Restart(tb testing.TB) {
	tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s != nil {
		n.s.Shutdown()
		n.s = nil
	}
	n.start(tb)
}

// Stop shuts the server down and waits for it. Calling it again, or after
// the test, does nothing; Restart starts it again.
func (n *NATS) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s != nil {
		n.s.Shutdown()
		n.s = nil
	}
}
