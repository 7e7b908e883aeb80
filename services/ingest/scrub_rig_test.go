package ingest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/scrub"
	"github.com/sawmillhq/sawmill/pkg/server"
	"github.com/sawmillhq/sawmill/pkg/tenant"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// edgeRig is an edge with the native, ES and scrubbing routes on a real
// HTTP listener, over an in-process NATS, with a scrub table followed from
// KV as cmd/sawmill wires it.
type edgeRig struct {
	bus  *bus.Bus
	keys *auth.KeyTable
	url  string // http://127.0.0.1:port
}

func newEdgeRig(t *testing.T) *edgeRig {
	t.Helper()
	n := testenv.StartNATS(t)
	b, err := bus.Connect(context.Background(), bus.Config{URL: n.URL(), Name: t.Name(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// Cleanups run last-in first-out: the follow stops before the bus closes.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	scrubs := scrub.NewTable()
	if err := b.Follow(ctx, b.Scrubbing, scrubs.Apply); err != nil {
		t.Fatal(err)
	}
	keys := auth.NewKeyTable()
	authn := &auth.Authenticator{Keys: keys, MissWait: -1}
	srv := server.New(server.Config{HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"}, quiet)
	e := NewEdge(Config{}, quiet, b, authn, tenant.NewDirectory())
	e.SetScrubber(scrubs)
	e.Register(ctx, srv)
	e.RegisterESBulk(srv)
	e.RegisterScrubbing(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return &edgeRig{bus: b, keys: keys, url: "http://" + srv.HTTPAddr()}
}

// key creates an API key of tenantID with the given scopes.
func (r *edgeRig) key(t testing.TB, tenantID string, scopes ...auth.Scope) string {
	t.Helper()
	id, secret, full := auth.NewKeySecret()
	k := auth.Key{ID: id, TenantID: tenantID, Scopes: scopes, Hash: auth.HashSecret(secret), CreatedAt: time.Now()}
	v, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.keys.Apply(auth.KVKey(tenantID, id), v, false); err != nil {
		t.Fatal(err)
	}
	return full
}

// do sends a request and returns the status, headers and body.
func (r *edgeRig) do(t testing.TB, method, path string, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// subscribe returns a function that collects the events published for
// tenantID (a core NATS subscription on its subject sees every batch the
// stream stores), until it has want of them.
func (r *edgeRig) subscribe(t testing.TB, tenantID string) func(want int) []event.Event {
	t.Helper()
	sub, err := r.bus.NC.SubscribeSync(bus.LogsSubject(tenantID))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.bus.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func(want int) []event.Event {
		t.Helper()
		var evs []event.Event
		for len(evs) < want {
			m, err := sub.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("waiting for %d events on the bus, have %d: %v", want, len(evs), err)
			}
			evs = append(evs, decodeScrubbedMsg(t, m)...)
		}
		return evs
	}
}

func decodeScrubbedMsg(t testing.TB, m *nats.Msg) []event.Event {
	t.Helper()
	evs, err := event.DecodeBatch(m.Data)
	if err != nil {
		t.Fatalf("decode batch: %v", err)
	}
	return evs
}
