package alerts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	sawmillv1 "github.com/sawmillhq/sawmill/gen/sawmill/v1"
	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/auth"
)

// createChannel makes a webhook channel for tenant and returns it.
func (e *env) createChannel(tb testing.TB, tenant, name, url string) *sawmillv1.AlertChannel {
	tb.Helper()
	ch, err := e.h.CreateChannel(e.as(tenant, auth.ScopeAdmin), &sawmillv1.AlertChannel{Name: name, Type: "webhook", Url: url})
	if err != nil {
		tb.Fatalf("create channel: %v", err)
	}
	return ch
}

func errorsRule() *sawmillv1.AlertRule {
	return &sawmillv1.AlertRule{Name: "errors", Query: "level:error",
		Condition: &sawmillv1.AlertCondition{Aggregation: "count()", Op: ">", Threshold: 10},
		Window:    "1m", Interval: "1m", For: "0s", Severity: "critical"}
}

func TestRuleValidation(t *testing.T) {
	e := newEnv(t, Config{})
	ch := e.createChannel(t, "acme", "ops", "http://127.0.0.1:1/hook")
	other := e.createChannel(t, "globex", "ops", "http://127.0.0.1:1/hook")
	for _, tc := range []struct {
		name   string
		mutate func(r *sawmillv1.AlertRule)
		code   apierr.Code
		msg    string
	}{
		{"issue example", func(r *sawmillv1.AlertRule) { r.Channels = []string{ch.Id} }, "", ""},
		{"p95 aggregate", func(r *sawmillv1.AlertRule) { r.Condition.Aggregation = "p95(duration_ms)" }, "", ""},
		{"stats pipe by", func(r *sawmillv1.AlertRule) { r.Query = "level:error | stats count() by service" }, "", ""},
		{"absence", func(r *sawmillv1.AlertRule) {
			r.Query, r.Condition = "heartbeat", &sawmillv1.AlertCondition{Kind: "absence"}
		}, "", ""},
		{"defaults", func(r *sawmillv1.AlertRule) {
			r.Window, r.Interval, r.For, r.Severity, r.Condition = "", "", "", "", nil
		}, "", ""},
		{"query syntax", func(r *sawmillv1.AlertRule) { r.Query = "level:error (" }, apierr.Invalid, "query: at "},
		{"timechart", func(r *sawmillv1.AlertRule) { r.Query = "| timechart 1m count()" }, apierr.Invalid, "at most one pipe"},
		{"bad aggregation", func(r *sawmillv1.AlertRule) { r.Condition.Aggregation = "median(x)" }, apierr.Invalid, "condition.aggregation"},
		{"bad op", func(r *sawmillv1.AlertRule) { r.Condition.Op = "=>" }, apierr.Invalid, "condition.op"},
		{"bad kind", func(r *sawmillv1.AlertRule) { r.Condition.Kind = "anomaly" }, apierr.Invalid, "condition.kind"},
		{"bad window", func(r *sawmillv1.AlertRule) { r.Window = "soon" }, apierr.Invalid, "window: invalid duration"},
		{"interval too short", func(r *sawmillv1.AlertRule) { r.Interval = "5s" }, apierr.Invalid, "interval must be at least 10s"},
		{"negative for", func(r *sawmillv1.AlertRule) { r.For = "-1m" }, apierr.Invalid, "for must not be negative"},
		{"severity", func(r *sawmillv1.AlertRule) { r.Severity = "meh" }, apierr.Invalid, "severity"},
		{"unknown channel", func(r *sawmillv1.AlertRule) { r.Channels = []string{"cnope"} }, apierr.Invalid, `no channel "cnope"`},
		{"other tenant's channel", func(r *sawmillv1.AlertRule) { r.Channels = []string{other.Id} }, apierr.Invalid, "no channel"},
		{"channel id injection", func(r *sawmillv1.AlertRule) { r.Channels = []string{"a.b"} }, apierr.Invalid, "invalid channel id"},
		{"empty name", func(r *sawmillv1.AlertRule) { r.Name = " " }, apierr.Invalid, "name must be"},
		{"group_by twice", func(r *sawmillv1.AlertRule) {
			r.Query, r.GroupBy = "level:error | stats count() by service", []string{"host"}
		}, apierr.Invalid, "not both"},
		{"template", func(r *sawmillv1.AlertRule) { r.Message = "{{.Nope" }, apierr.Invalid, "message:"},
		{"template field", func(r *sawmillv1.AlertRule) { r.Message = "{{.Nope}}" }, apierr.Invalid, "message:"},
		{"renotify below interval", func(r *sawmillv1.AlertRule) { r.RenotifyInterval = "30s" }, apierr.Invalid, "renotify_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := errorsRule()
			r.Name = tc.name
			tc.mutate(r)
			got, err := e.h.CreateRule(e.as("acme", auth.ScopeAdmin), r)
			if code(err) != tc.code || (err != nil && !strings.Contains(apierr.From(err).Message, tc.msg)) {
				t.Fatalf("err = %v, want %s containing %q", err, tc.code, tc.msg)
			}
			if err == nil {
				if got.GetId() == "" {
					t.Fatal("no id")
				}
				if _, err := e.h.DeleteRule(e.as("acme", auth.ScopeAdmin), &sawmillv1.DeleteAlertRuleRequest{Id: got.Id}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// The query error carries its position.
	_, err := e.h.CreateRule(e.as("acme", auth.ScopeAdmin), &sawmillv1.AlertRule{Name: "x", Query: "level:nope", Interval: "1m"})
	if d, _ := apierr.From(err).Details.(map[string]any); d["position"] != 6 {
		t.Fatalf("details %v, want position 6 (%v)", apierr.From(err).Details, err)
	}
}

func TestRulePlanLimitAndNames(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := e.as("acme", auth.ScopeAdmin)
	for i := range 3 { // the default (free) plan allows 3
		r := errorsRule()
		r.Name = fmt.Sprintf("rule %d", i)
		if _, err := e.h.CreateRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	r := errorsRule()
	r.Name = "RULE 0"
	_, err := e.h.CreateRule(ctx, r)
	if code(err) != apierr.PermissionDenied || !strings.Contains(err.Error(), "free plan allows 3 alert rules") {
		t.Fatalf("4th rule: %v", err)
	}
	// Another tenant is not affected.
	if _, err := e.h.CreateRule(e.as("globex", auth.ScopeAdmin), r); err != nil {
		t.Fatal(err)
	}
	list, err := e.h.ListRules(ctx, &sawmillv1.ListAlertRulesRequest{})
	if err != nil || len(list.Rules) != 3 {
		t.Fatalf("list: %v %v", list, err)
	}
	// Names are unique per tenant, case-insensitively, on update too.
	upd := errorsRule()
	upd.Id, upd.Name = list.Rules[1].Id, "Rule 0"
	if _, err := e.h.UpdateRule(ctx, upd); code(err) != apierr.Conflict {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	upd.Name = "renamed"
	if _, err := e.h.UpdateRule(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.DeleteRule(ctx, &sawmillv1.DeleteAlertRuleRequest{Id: list.Rules[0].Id}); err != nil {
		t.Fatal(err)
	}
	r.Name = "rule 1" // freed by the rename
	if _, err := e.h.CreateRule(ctx, r); err != nil {
		t.Fatalf("freed name: %v", err)
	}
	if _, err := e.h.GetRule(ctx, &sawmillv1.GetAlertRuleRequest{Id: list.Rules[0].Id}); code(err) != apierr.NotFound {
		t.Fatalf("deleted rule: %v", err)
	}
}

func TestAuthorization(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tc := range []struct {
		scope       auth.Scope
		read, write apierr.Code
	}{
		{auth.ScopeAdmin, "", ""},
		{auth.ScopeQuery, "", apierr.PermissionDenied},
		{auth.ScopeIngest, apierr.PermissionDenied, apierr.PermissionDenied},
	} {
		t.Run(string(tc.scope), func(t *testing.T) {
			ctx := e.as("acme", tc.scope)
			if _, err := e.h.ListRules(ctx, &sawmillv1.ListAlertRulesRequest{}); code(err) != tc.read {
				t.Errorf("read: %v", err)
			}
			r := errorsRule()
			r.Name = "authz " + string(tc.scope)
			if _, err := e.h.CreateRule(ctx, r); code(err) != tc.write {
				t.Errorf("write: %v", err)
			}
		})
	}
	if _, err := e.h.ListRules(context.Background(), &sawmillv1.ListAlertRulesRequest{}); code(err) != apierr.Unauthenticated {
		t.Errorf("no credentials: %v", err)
	}
}

func TestChannelsAndSilences(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := e.as("acme", auth.ScopeAdmin)
	ch := e.createChannel(t, "acme", "ops", "http://127.0.0.1:1/hook")
	if ch.Secret == "" {
		t.Fatal("create must return the generated secret")
	}
	got, err := e.h.GetChannel(ctx, &sawmillv1.GetAlertChannelRequest{Id: ch.Id})
	if err != nil || got.Secret != "" || got.Url != ch.Url {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, err := e.h.CreateChannel(ctx, &sawmillv1.AlertChannel{Name: "OPS", Type: "webhook", Url: "http://x.example"}); code(err) != apierr.Conflict {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := e.h.CreateChannel(ctx, &sawmillv1.AlertChannel{Name: "p", Type: "pager"}); code(err) != apierr.Invalid {
		t.Fatalf("bad type: %v", err)
	}
	if _, err := e.h.GetChannel(e.as("globex", auth.ScopeAdmin), &sawmillv1.GetAlertChannelRequest{Id: ch.Id}); code(err) != apierr.NotFound {
		t.Fatalf("other tenant: %v", err)
	}
	end := timestamppb.New(time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name string
		in   *sawmillv1.AlertSilence
		msg  string
	}{
		{"nothing to match", &sawmillv1.AlertSilence{EndsAt: end}, "rule_id or matchers"},
		{"no end", &sawmillv1.AlertSilence{Matchers: map[string]string{"service": "web"}}, "ends_at is required"},
		{"ended", &sawmillv1.AlertSilence{Matchers: map[string]string{"a": "b"}, EndsAt: timestamppb.New(time.Now().Add(-time.Minute)),
			StartsAt: timestamppb.New(time.Now().Add(-time.Hour))}, "in the future"},
		{"unknown rule", &sawmillv1.AlertSilence{RuleId: "rnope", EndsAt: end}, "no rule"},
	} {
		if _, err := e.h.CreateSilence(ctx, tc.in); code(err) != apierr.Invalid || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	sil, err := e.h.CreateSilence(ctx, &sawmillv1.AlertSilence{Matchers: map[string]string{"service": "web"}, EndsAt: end})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := e.h.ListSilences(ctx, &sawmillv1.ListAlertSilencesRequest{})
	if err != nil || len(ls.Silences) != 1 || ls.Silences[0].Id != sil.Id {
		t.Fatalf("list silences: %v %v", ls, err)
	}
	if _, err := e.h.DeleteSilence(ctx, &sawmillv1.DeleteAlertSilenceRequest{Id: sil.Id}); err != nil {
		t.Fatal(err)
	}
}
