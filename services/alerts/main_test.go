package alerts

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/bus"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
	"github.com/sawmillhq/sawmill/services/alerts/notify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is an alerts Service over real NATS and ClickHouse, with API keys
// per tenant and scope, and a watermark the test moves.
type env struct {
	svc   *Service
	h     *handler
	bus   *bus.Bus
	nats  *testenv.NATS
	store *store.Store
	keys  map[string]string // "<tenant>/<scope>" → full key
	wm    *fakeWatermark
	authn *auth.Authenticator
}

// fakeWatermark is a Watermark the test sets.
type fakeWatermark struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeWatermark) Watermark(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t, nil
}

func (f *fakeWatermark) set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}

func testConfig() Config {
	return Config{MinInterval: time.Second, ScanInterval: 50 * time.Millisecond, Skew: time.Nanosecond, LeaseTTL: time.Second}
}

func newEnv(tb testing.TB, cfg Config) *env {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(tb), Database: testenv.Database(tb)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	n := testenv.StartNATS(tb)
	b, err := bus.Connect(ctx, bus.Config{URL: n.URL(), Name: "alerts-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	e := &env{bus: b, nats: n, store: st, keys: map[string]string{}, wm: &fakeWatermark{}}
	table := auth.NewKeyTable()
	for _, tenant := range []string{"acme", "globex"} {
		for _, sc := range []auth.Scope{auth.ScopeAdmin, auth.ScopeQuery, auth.ScopeIngest} {
			id, secret, full := auth.NewKeySecret()
			k, _ := json.Marshal(auth.Key{ID: id, TenantID: tenant, Scopes: []auth.Scope{sc}, Hash: auth.HashSecret(secret)})
			if err := table.Apply(auth.KVKey(tenant, id), k, false); err != nil {
				tb.Fatal(err)
			}
			e.keys[tenant+"/"+string(sc)] = full
		}
	}
	e.authn = &auth.Authenticator{Keys: table, MissWait: -1}
	e.svc = e.service(cfg)
	e.h = &handler{s: e.svc}
	return e
}

// service returns another Service on the same bus and store (a second
// alerts process).
func (e *env) service(cfg Config) *Service {
	q := notify.NewQueue(e.bus, notify.Config{}, slog.New(slog.DiscardHandler))
	s := New(cfg, slog.New(slog.DiscardHandler), e.bus, e.authn, e.store, plan.Builtin(), nil, q)
	s.SetWatermark(e.wm)
	return s
}

// as returns a context carrying the key of tenant with scope.
func (e *env) as(tenant string, scope auth.Scope) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+e.keys[tenant+"/"+string(scope)]))
}

// code returns the apierr code of err ("" for nil).
func code(err error) apierr.Code {
	if err == nil {
		return ""
	}
	return apierr.From(err).Code
}
