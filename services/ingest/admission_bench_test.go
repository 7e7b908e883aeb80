package ingest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/quota"
	"github.com/sawmillhq/sawmill/pkg/tenant"
)

// BenchmarkAdmission measures what every ingest request pays before its
// events are decoded and published: authenticating the API key against the
// in-memory table, the suspension check, the quota decision and the shared
// rate limiter (for a 100-event batch), and the quota headers.
func BenchmarkAdmission(b *testing.B) {
	keys := auth.NewKeyTable()
	id, secret, full := auth.NewKeySecret()
	kb, _ := json.Marshal(auth.Key{ID: id, TenantID: "tb", Scopes: []auth.Scope{auth.ScopeIngest}, Hash: auth.HashSecret(secret)})
	keys.Apply(auth.KVKey("tb", id), kb, false)
	tenants := tenant.NewDirectory()
	tb, _ := json.Marshal(tenant.Tenant{ID: "tb", Plan: "team", RetentionDays: 30})
	tenants.Apply("tb", tb, false)
	now := time.Now()
	table := quota.NewTable()
	qs, _ := json.Marshal(quota.State{TenantID: "tb", Plan: "team", PeriodStart: now.Add(-time.Hour), PeriodEnd: now.Add(24 * time.Hour),
		EventsUsed: 1000, EventsLimit: 1 << 40, BytesLimit: 1 << 50, HardCap: true, EventsPerSecond: 1 << 30, BytesPerSecond: 1 << 40})
	table.Apply("tb", qs, false)
	a := &auth.Authenticator{Keys: keys}
	e := NewEdge(Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, a, tenants)
	e.EnableQuotas(table, "bench-edge")
	evs := make([]event.Event, 100)
	for i := range evs {
		evs[i] = event.Event{Message: "GET /api/orders/ 200", Level: "info", Service: "web"}
	}
	req := httptest.NewRequest("POST", "/v1/ingest", nil)
	req.Header.Set("Authorization", "Bearer "+full)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := e.auth.HTTP(req, auth.ScopeIngest)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.suspended(p.TenantID); err != nil {
			b.Fatal(err)
		}
		if err := e.admit(p.TenantID); err != nil {
			b.Fatal(err)
		}
		var bytes int64
		for i := range evs {
			bytes += int64(evs[i].Size())
		}
		if err := e.rateLimit(p.TenantID, int64(len(evs)), bytes); err != nil {
			b.Fatal(err)
		}
		e.quotaHeaders(w.Header(), p.TenantID)
	}
}
