package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/scrub"
	"github.com/sawmillhq/sawmill/pkg/server"
)

var scrubbedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "sawmill_scrubbed_values_total",
	Help: "Values (or spans of values) redacted at the edge before publishing, by rule.",
}, []string{"rule"})

// scrubbedByRule holds the counter of each rule, bound once.
var scrubbedByRule = func() (cs []prometheus.Counter) {
	for _, r := range scrub.AllRules() {
		cs = append(cs, scrubbedTotal.WithLabelValues(r.String()))
	}
	return cs
}()

// SetScrubber makes the edge scrub every tenant's events with its rules in
// t (keep t current with bus.Follow on the scrubbing bucket and t.Apply).
// Without it every tenant gets scrub.Default. Call before serving.
func (e *Edge) SetScrubber(t *scrub.Table) { e.scrubs = t }

// scrubber returns the rules that apply to tenantID's events.
func (e *Edge) scrubber(tenantID string) *scrub.Scrubber {
	if e.scrubs != nil {
		return e.scrubs.For(tenantID)
	}
	return scrub.Default()
}

// scrubEvents redacts evs in place with tenantID's rules and counts what
// was redacted. Every edge calls it (through accept) before encoding, so
// nothing unscrubbed reaches the bus.
func (e *Edge) scrubEvents(tenantID string, evs []event.Event) {
	s := e.scrubber(tenantID)
	var total scrub.Counts
	for i := range evs {
		total.Add(s.Event(&evs[i]))
	}
	for r, n := range total {
		if n > 0 {
			scrubbedByRule[r].Add(float64(n))
		}
	}
}

// maxRulesBytes bounds a PUT /v1/scrubbing body.
const maxRulesBytes = 64 << 10

// RegisterScrubbing installs the tenant's scrubbing rules API (admin scope):
//
//	GET    /v1/scrubbing   the rules in force (the defaults when none are set)
//	PUT    /v1/scrubbing   replace them: a JSON scrub.Rules; omitted fields keep
//	                       their defaults; bad input (e.g. a regexp that does not
//	                       compile) is 400 and changes nothing
//	DELETE /v1/scrubbing   back to the defaults
//
// Rules are stored in the scrubbing KV bucket; every edge follows it, so a
// change applies everywhere within about a second (immediately on the edge
// that took the PUT, when it has a table).
func (e *Edge) RegisterScrubbing(srv *server.Server) {
	srv.Handle("GET /v1/scrubbing", http.HandlerFunc(e.getScrubbing))
	srv.Handle("PUT /v1/scrubbing", http.HandlerFunc(e.putScrubbing))
	srv.Handle("DELETE /v1/scrubbing", http.HandlerFunc(e.deleteScrubbing))
}

func (e *Edge) getScrubbing(w http.ResponseWriter, r *http.Request) {
	p, err := e.auth.HTTP(r, auth.ScopeAdmin)
	if err != nil {
		apierr.WriteHTTP(w, e.log, err)
		return
	}
	rules := scrub.Defaults()
	entry, err := e.bus.Scrubbing.Get(r.Context(), p.TenantID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		apierr.WriteHTTP(w, e.log, apierr.Wrap(err, "get scrubbing rules"))
		return
	default:
		if rules, err = scrub.DecodeRules(entry.Value()); err != nil {
			apierr.WriteHTTP(w, e.log, apierr.Wrap(err, "stored scrubbing rules"))
			return
		}
	}
	writeRules(w, rules)
}

func (e *Edge) putScrubbing(w http.ResponseWriter, r *http.Request) {
	p, err := e.auth.HTTP(r, auth.ScopeAdmin)
	if err != nil {
		apierr.WriteHTTP(w, e.log, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRulesBytes))
	if err != nil {
		apierr.WriteHTTP(w, e.log, apierr.New(apierr.TooLarge, "scrubbing rules exceed %d bytes", maxRulesBytes))
		return
	}
	rules, err := scrub.DecodeRules(body)
	if err != nil {
		apierr.WriteHTTP(w, e.log, apierr.New(apierr.Invalid, "invalid scrubbing rules: %v", err))
		return
	}
	data, err := json.Marshal(rules)
	if err != nil {
		apierr.WriteHTTP(w, e.log, apierr.Wrap(err, "encode scrubbing rules"))
		return
	}
	if _, err := e.bus.Scrubbing.Put(r.Context(), p.TenantID, data); err != nil {
		apierr.WriteHTTP(w, e.log, apierr.New(apierr.Unavailable, "cannot store the rules right now; retry").Retry(2*time.Second))
		return
	}
	if e.scrubs != nil {
		// The watch delivers the same value shortly; applying it now makes
		// this edge consistent with the answer.
		_ = e.scrubs.Apply(p.TenantID, data, false)
	}
	writeRules(w, rules)
}

func (e *Edge) deleteScrubbing(w http.ResponseWriter, r *http.Request) {
	p, err := e.auth.HTTP(r, auth.ScopeAdmin)
	if err != nil {
		apierr.WriteHTTP(w, e.log, err)
		return
	}
	if err := e.bus.Scrubbing.Purge(r.Context(), p.TenantID); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		apierr.WriteHTTP(w, e.log, apierr.New(apierr.Unavailable, "cannot reset the rules right now; retry").Retry(2*time.Second))
		return
	}
	if e.scrubs != nil {
		_ = e.scrubs.Apply(p.TenantID, nil, true)
	}
	writeRules(w, scrub.Defaults())
}

func writeRules(w http.ResponseWriter, rules scrub.Rules) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rules)
}
