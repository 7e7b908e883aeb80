package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/scrub"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

// secrets are what the request below carries and nothing downstream may
// hold.
var secrets = []string{"hunter2", "4111111111111111", "4111 1111 1111 1111", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
	"AKIAIOSFODNN7EXAMPLE", "sessid-8c1f", "987-65-4321"}

const secretBody = `{"asctime":"2026-11-26 10:15:30,123","levelname":"ERROR","name":"django.request","message":"payment for 4111 1111 1111 1111 failed","password":"hunter2","request":{"headers":{"Authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln","Cookie":"sessid-8c1f"}},"aws":"AKIAIOSFODNN7EXAMPLE","ssn":"987-65-4321","duration_ms":12.5,"exc_info":"Traceback (most recent call last):\n  File \"/app/pay.py\", line 9, in charge\nValueError: card 4111111111111111 declined"}
{"message":"GET /health 200","user":"ana@example.com"}
`

func assertNoSecrets(t *testing.T, where string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Fatalf("%s holds %q: %q", where, secret, s)
			}
		}
	}
}

func eventTexts(e event.Event) []string {
	texts := []string{e.Message, e.Exception.Message, e.Exception.Stack}
	for _, a := range e.Attrs {
		texts = append(texts, a.Key+"="+a.Value)
	}
	return texts
}

// Scrubbed values never reach the bus nor ClickHouse; a tenant's own rules
// (a custom pattern) apply on top of what it keeps of the defaults.
func TestScrubbingBusAndClickHouse(t *testing.T) {
	r := newEdgeRig(t)
	const tenantID = "tscrub"
	admin := r.key(t, tenantID, auth.ScopeAdmin)
	ingestKey := r.key(t, tenantID, auth.ScopeIngest)
	code, _, body := r.do(t, "PUT", "/v1/scrubbing",
		`{"patterns":[{"name":"ssn","regexp":"\\b\\d{3}-\\d{2}-\\d{4}\\b"}]}`, "Authorization", "Bearer "+admin)
	if code != 200 {
		t.Fatalf("PUT rules: %d %s", code, body)
	}
	next := r.subscribe(t, tenantID)
	code, _, body = r.do(t, "POST", "/v1/ingest", secretBody, "Authorization", "Bearer "+ingestKey,
		"Content-Type", "application/x-ndjson")
	if code != 200 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	evs := next(2)
	for _, e := range evs {
		assertNoSecrets(t, "the bus", eventTexts(e)...)
		for _, n := range e.NumAttrs {
			if n.Value == 4111111111111111 {
				t.Fatalf("card number as a numeric attribute: %v", e.NumAttrs)
			}
		}
	}
	if !strings.Contains(evs[0].Message, "[REDACTED]") || !strings.Contains(evs[0].Exception.Stack, "card [REDACTED] declined") {
		t.Fatalf("not redacted in place: %q / %q", evs[0].Message, evs[0].Exception.Stack)
	}
	if !hasAttrValue(evs[1], "user", "ana@example.com") {
		t.Fatalf("e-mails are off by default, got %v", evs[1].Attrs)
	}
	if !hasNum(evs[0], "duration_ms") {
		t.Fatalf("duration_ms dropped: %v", evs[0].NumAttrs)
	}

	// Run a writer and read the rows back.
	ctx := context.Background()
	s, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(t), Database: testenv.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rg := &rig{bus: r.bus, store: s}
	stop := startWriter(t, NewWriter(WriterConfig{}, quiet, r.bus, s))
	defer stop()
	rg.waitStored(t, tenantID, 2)
	rows, err := s.Query(ctx, "SELECT message, exc_message, exc_stack, arrayStringConcat(attr_values, '|') FROM logs WHERE tenant_id = ?", tenantID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var msg, excMsg, stack, attrs string
		if err := rows.Scan(&msg, &excMsg, &stack, &attrs); err != nil {
			t.Fatal(err)
		}
		assertNoSecrets(t, "ClickHouse", msg, excMsg, stack, attrs)
		n++
	}
	if n != 2 {
		t.Fatalf("%d rows", n)
	}
}

func hasAttrValue(e event.Event, key, value string) bool {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value == value
		}
	}
	return false
}

func hasNum(e event.Event, key string) bool {
	for _, n := range e.NumAttrs {
		if n.Key == key {
			return true
		}
	}
	return false
}

func TestScrubbingAPI(t *testing.T) {
	r := newEdgeRig(t)
	admin := r.key(t, "tapi", auth.ScopeAdmin)
	other := r.key(t, "tother", auth.ScopeAdmin)
	ingestKey := r.key(t, "tapi", auth.ScopeIngest)
	get := func(key string) scrub.Rules {
		t.Helper()
		code, _, body := r.do(t, "GET", "/v1/scrubbing", "", "Authorization", "Bearer "+key)
		if code != 200 {
			t.Fatalf("GET: %d %s", code, body)
		}
		var rules scrub.Rules
		if err := json.Unmarshal([]byte(body), &rules); err != nil {
			t.Fatal(err)
		}
		return rules
	}
	if rules := get(admin); len(rules.Keys) != len(scrub.DefaultKeys) || !rules.CardNumbers || rules.Emails {
		t.Fatalf("defaults: %+v", rules)
	}
	f := func(method, body, key string, want int, reason string) {
		t.Helper()
		code, _, got := r.do(t, method, "/v1/scrubbing", body, "Authorization", "Bearer "+key)
		if code != want || !strings.Contains(got, reason) {
			t.Fatalf("%s %s: %d %s, want %d with %q", method, body, code, got, want, reason)
		}
	}
	f("PUT", `{"patterns":[{"name":"bad","regexp":"(unclosed"}]}`, admin, http.StatusBadRequest, "invalid regexp")
	f("PUT", `{"patterns":[{"name":"all","regexp":".*"}]}`, admin, http.StatusBadRequest, "empty string")
	f("PUT", `{"keyz":[]}`, admin, http.StatusBadRequest, "unknown field")
	f("PUT", `not json`, admin, http.StatusBadRequest, "invalid scrubbing rules")
	f("PUT", `{"emails":true}`, ingestKey, http.StatusForbidden, "admin")
	f("GET", ``, "", http.StatusUnauthorized, "")
	f("PUT", `{"emails":true,"keys":["ssn"]}`, admin, http.StatusOK, `"emails":true`)
	if rules := get(admin); !rules.Emails || len(rules.Keys) != 1 || !rules.BearerTokens {
		t.Fatalf("after PUT: %+v", rules)
	}
	if rules := get(other); rules.Emails {
		t.Fatal("one tenant's rules leaked to another")
	}
	// The new rules apply to ingest at once on this edge, and are counted.
	keysBefore, emailsBefore := counterValue(t, scrub.RuleKey), counterValue(t, scrub.RuleEmail)
	next := r.subscribe(t, "tapi")
	code, _, body := r.do(t, "POST", "/v1/ingest", `{"message":"mail ana@example.com","ssn":"x","password":"p"}`,
		"Authorization", "Bearer "+ingestKey)
	if code != 200 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	e := next(1)[0]
	if e.Message != "mail [REDACTED]" || !hasAttrValue(e, "ssn", "[REDACTED]") || !hasAttrValue(e, "password", "p") {
		t.Fatalf("custom rules not applied: %+v", e)
	}
	if k, m := counterValue(t, scrub.RuleKey)-keysBefore, counterValue(t, scrub.RuleEmail)-emailsBefore; k < 1 || m < 1 {
		t.Fatalf("sawmill_scrubbed_values_total grew by key %v, email %v", k, m)
	}
	f("DELETE", ``, admin, http.StatusOK, `"emails":false`)
	if rules := get(admin); rules.Emails || len(rules.Keys) != len(scrub.DefaultKeys) {
		t.Fatalf("after DELETE: %+v", rules)
	}
}

// counterValue reads sawmill_scrubbed_values_total{rule}. Tests in this
// package may run scrubbing concurrently, so callers compare growth only.
func counterValue(t *testing.T, r scrub.Rule) float64 {
	t.Helper()
	var m dto.Metric
	if err := scrubbedByRule[r].Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
