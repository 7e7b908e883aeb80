package scrub

import (
	"strings"
	"testing"

	"github.com/sawmillhq/sawmill/pkg/event"
)

func TestLuhn(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := luhn(in); got != want {
			t.Fatalf("luhn(%q) = %v, want %v", in, got, want)
		}
	}
	f("4111111111111111", true)
	f("4111 1111 1111 1111", true)
	f("4111111111111112", false)
	f("378282246310005", true) // Amex test number
	f("6011111111111117", true)
	f("79927398713", true)
	f("79927398710", false)
}

func TestText(t *testing.T) {
	all := Defaults()
	all.Emails = true
	s, err := Compile(all)
	if err != nil {
		t.Fatal(err)
	}
	f := func(in, want string, rule Rule, n int) {
		t.Helper()
		var c Counts
		got := s.Text(in, &c)
		if got != want {
			t.Fatalf("Text(%q)\n got %q\nwant %q", in, got, want)
		}
		if c[rule] != n || c.Total() != n {
			t.Fatalf("Text(%q): counts %v, want %d of %s", in, c, n, rule)
		}
	}
	// Cards: contiguous, grouped, among other numbers, and look-alikes.
	f("paid with 4111111111111111 ok", "paid with [REDACTED] ok", RuleCardNumber, 1)
	f("card 4111 1111 1111 1111.", "card [REDACTED].", RuleCardNumber, 1)
	f("card 4111-1111-1111-1111", "card [REDACTED]", RuleCardNumber, 1)
	f("amex 3782 822463 10005", "amex [REDACTED]", RuleCardNumber, 1)
	f("qty 12 4111 1111 1111 1111 x", "qty 12 [REDACTED] x", RuleCardNumber, 1)
	f("4111111111111111,5500005555555559", "[REDACTED],[REDACTED]", RuleCardNumber, 2)
	f("bad luhn 4111111111111112", "bad luhn 4111111111111112", RuleCardNumber, 0)
	f("epoch ms 1732612345678 and ns 1732612345678901234", "epoch ms 1732612345678 and ns 1732612345678901234", RuleCardNumber, 0)
	f("at 2026-11-26 10:15:30.123456", "at 2026-11-26 10:15:30.123456", RuleCardNumber, 0)
	f("id 41111111111111110000000", "id 41111111111111110000000", RuleCardNumber, 0)
	f("phone +1 555-123-4567", "phone +1 555-123-4567", RuleCardNumber, 0)
	// Bearer tokens keep the scheme word.
	f("sent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123", "sent Bearer [REDACTED]", RuleBearerToken, 1)
	f("auth=bearer sm_abc123_def456 done", "auth=bearer [REDACTED] done", RuleBearerToken, 1)
	f("uses Bearer authentication", "uses Bearer authentication", RuleBearerToken, 0)
	f("Bearer abc1", "Bearer abc1", RuleBearerToken, 0)
	f("Bearer", "Bearer", RuleBearerToken, 0)
	// AWS access keys.
	f("key AKIAIOSFODNN7EXAMPLE used", "key [REDACTED] used", RuleAWSKey, 1)
	f("ASIAY34FZKBOKMUTVV7A", "[REDACTED]", RuleAWSKey, 1)
	f("XAKIAIOSFODNN7EXAMPLE", "XAKIAIOSFODNN7EXAMPLE", RuleAWSKey, 0)
	f("AKIAIOSFODNN7EXAMPL", "AKIAIOSFODNN7EXAMPL", RuleAWSKey, 0)
	f("ASIA-PACIFIC region", "ASIA-PACIFIC region", RuleAWSKey, 0)
	// E-mail (enabled here; off by default).
	f("mail ana.b+x@example.co.uk.", "mail [REDACTED].", RuleEmail, 1)
	f("user@localhost", "user@localhost", RuleEmail, 0)
	f("@ alone", "@ alone", RuleEmail, 0)
	f("", "", RuleKey, 0)
	// Sensitive keys written inline in text.
	f("POST /login?user=bob&password=hunter2&next=/", "POST /login?user=bob&password=[REDACTED]&next=/", RuleKey, 1)
	f(`payload {"api_key": "k-123", "n": 1}`, `payload {"api_key": "[REDACTED]", "n": 1}`, RuleKey, 1)
	f(`{'password': 'it\'s'}`, `{'password': '[REDACTED]'}`, RuleKey, 1)
	f("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]", RuleKey, 1)
	f("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "Authorization: Bearer [REDACTED]", RuleKey, 1)
	f("Set-Cookie: sessionid=abc123; Path=/", "Set-Cookie: [REDACTED]; Path=/", RuleKey, 1)
	f("token=[REDACTED] password=", "token=[REDACTED] password=", RuleKey, 0)
	f("at 10:15:30 url=https://x.io/a?b=c", "at 10:15:30 url=https://x.io/a?b=c", RuleKey, 0)
	f("password_hint=blue", "password_hint=blue", RuleKey, 0)
}

func TestSensitiveKey(t *testing.T) {
	s := Default()
	for _, k := range []string{"password", "PASSWORD", "request.headers.Authorization", "x-api-key", "Set-Cookie",
		"user.credit_card", "api_key", "sessionid"} {
		if !s.SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = false", k)
		}
	}
	for _, k := range []string{"password_hint", "user", "tokens_used", "", ".", "password.length",
		strings.Repeat("a", 100)} {
		if s.SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = true", k)
		}
	}
}

func TestEvent(t *testing.T) {
	ev := event.Event{
		Message: "login by bob with Bearer abcdef123456",
		Attrs: []event.Attr{
			{Key: "user", Value: "bob"},
			{Key: "password", Value: "hunter2"},
			{Key: "request.headers.Cookie", Value: "sessionid=abc"},
			{Key: "note", Value: "card 4111111111111111"},
			{Key: "cc", Value: "4111111111111111"},
			{Key: "duration_ms", Value: "12.5"},
			{Key: "token", Value: "123456"},
		},
		NumAttrs: []event.NumAttr{{Key: "cc", Value: 4111111111111111}, {Key: "duration_ms", Value: 12.5},
			{Key: "token", Value: 123456}, {Key: "api_key", Value: 7}},
		Exception: event.Exception{Type: "ValueError", Message: "bad key AKIAIOSFODNN7EXAMPLE",
			Stack: "Traceback...\n  card=5500005555555559\nValueError"},
	}
	c := Default().Event(&ev)
	want := event.Event{
		Message: "login by bob with Bearer [REDACTED]",
		Attrs: []event.Attr{
			{Key: "user", Value: "bob"},
			{Key: "password", Value: Replacement},
			{Key: "request.headers.Cookie", Value: Replacement},
			{Key: "note", Value: "card [REDACTED]"},
			{Key: "cc", Value: Replacement},
			{Key: "duration_ms", Value: "12.5"},
			{Key: "token", Value: Replacement},
		},
		NumAttrs: []event.NumAttr{{Key: "duration_ms", Value: 12.5}},
		Exception: event.Exception{Type: "ValueError", Message: "bad key [REDACTED]",
			Stack: "Traceback...\n  card=[REDACTED]\nValueError"},
	}
	if !equalEvents(ev, want) {
		t.Fatalf("got  %+v\nwant %+v", ev, want)
	}
	wantCounts := Counts{RuleKey: 4, RuleCardNumber: 3, RuleBearerToken: 1, RuleAWSKey: 1}
	if c != wantCounts {
		t.Fatalf("counts %v, want %v", c, wantCounts)
	}
}

func equalEvents(a, b event.Event) bool {
	if a.Message != b.Message || a.Exception != b.Exception || len(a.Attrs) != len(b.Attrs) || len(a.NumAttrs) != len(b.NumAttrs) {
		return false
	}
	for i := range a.Attrs {
		if a.Attrs[i] != b.Attrs[i] {
			return false
		}
	}
	for i := range a.NumAttrs {
		if a.NumAttrs[i] != b.NumAttrs[i] {
			return false
		}
	}
	return true
}

func TestPatterns(t *testing.T) {
	r := Rules{Patterns: []Pattern{{Name: "ssn", Regexp: `\b\d{3}-\d{2}-\d{4}\b`}}}
	s, err := Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	var c Counts
	if got := s.Text("ssn 123-45-6789 and 987-65-4321", &c); got != "ssn [REDACTED] and [REDACTED]" || c[RulePattern] != 2 {
		t.Fatalf("got %q, counts %v", got, c)
	}
	// Nothing else is on: keys and cards pass.
	ev := event.Event{Message: "4111111111111111", Attrs: []event.Attr{{Key: "password", Value: "x"}}}
	if c := s.Event(&ev); c.Total() != 0 || ev.Message != "4111111111111111" || ev.Attrs[0].Value != "x" {
		t.Fatalf("rules without keys or cards changed %+v (%v)", ev, c)
	}
}

func TestDecodeRules(t *testing.T) {
	f := func(in string, wantErr string, check func(Rules) bool) {
		t.Helper()
		r, err := DecodeRules([]byte(in))
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("DecodeRules(%s) error %v, want %q", in, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("DecodeRules(%s): %v", in, err)
		}
		if !check(r) {
			t.Fatalf("DecodeRules(%s) = %+v", in, r)
		}
	}
	f(`{}`, "", func(r Rules) bool { return len(r.Keys) == len(DefaultKeys) && r.CardNumbers && !r.Emails })
	f(`{"emails": true}`, "", func(r Rules) bool { return r.Emails && r.BearerTokens && len(r.Keys) > 0 })
	f(`{"keys": [], "card_numbers": false}`, "", func(r Rules) bool { return len(r.Keys) == 0 && !r.CardNumbers })
	f(`{"keys": ["ssn"], "patterns": [{"name": "ssn", "regexp": "\\d{3}-\\d{2}-\\d{4}"}]}`, "",
		func(r Rules) bool { return len(r.Keys) == 1 && len(r.Patterns) == 1 })
	f(`{"patterns": [{"name": "x", "regexp": "(a"}]}`, "invalid regexp", nil)
	f(`{"patterns": [{"name": "x", "regexp": "a*"}]}`, "matches the empty string", nil)
	f(`{"patterns": [{"name": "", "regexp": "a"}]}`, "name must be", nil)
	f(`{"keys": ["a.b"]}`, "last segment", nil)
	f(`{"keys": [""]}`, "keys[0]", nil)
	f(`{"keyz": []}`, "unknown field", nil)
	f(`{"keys": "password"}`, "decode rules", nil)
	f(`[]`, "decode rules", nil)
	f(`{} {}`, "more than one", nil)
}

func TestTable(t *testing.T) {
	tab := NewTable()
	if tab.For("t1") != Default() || tab.Custom("t1") {
		t.Fatal("unknown tenant should get the defaults")
	}
	if err := tab.Apply("t1", []byte(`{"keys": ["ssn"]}`), false); err != nil {
		t.Fatal(err)
	}
	if s := tab.For("t1"); !s.SensitiveKey("ssn") || s.SensitiveKey("password") {
		t.Fatal("t1's rules not applied")
	}
	if tab.For("t2") != Default() {
		t.Fatal("t1's rules leaked to t2")
	}
	if err := tab.Apply("t1", []byte(`{"patterns": [{"name": "x", "regexp": "("}]}`), false); err == nil {
		t.Fatal("bad rules accepted")
	}
	if !tab.For("t1").SensitiveKey("ssn") {
		t.Fatal("bad rules replaced good ones")
	}
	if err := tab.Apply("t1", nil, true); err != nil || tab.Custom("t1") {
		t.Fatal("delete did not restore the defaults")
	}
}

func TestRuleString(t *testing.T) {
	for _, r := range AllRules() {
		if r.String() == "unknown" || r.String() == "" {
			t.Fatalf("rule %d has no label", r)
		}
	}
	if Rule(99).String() != "unknown" {
		t.Fatal("out of range rule")
	}
}
