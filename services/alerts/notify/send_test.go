package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/apierr"
)

// firing is a representative alert notification.
func firing() Notification {
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	return Notification{
		ID: "r1/g1/3", TenantID: "tA", Kind: KindFiring, RuleID: "r1", RuleName: "errors", Severity: "critical",
		Group: map[string]string{"service": "web"}, Labels: map[string]string{"team": "ops"},
		Value: 42, Threshold: 10, Condition: "count() > 10 over 1m", Message: "42 errors in web",
		Samples:     []string{"Internal Server Error: /api/v1/orders/1", "boom ```x```"},
		Link:        "https://sawmill.example/search?q=level%3Aerror",
		WindowStart: at.Add(-time.Minute), WindowEnd: at, StartsAt: at, At: at, DedupKey: "r1/g1",
	}
}

func TestChannelValidate(t *testing.T) {
	tests := []struct {
		name string
		ch   Channel
		want string // substring of the error; "" for valid
	}{
		{"webhook", Channel{Type: TypeWebhook, URL: "https://example.com/hook"}, ""},
		{"webhook http", Channel{Type: TypeWebhook, URL: "http://127.0.0.1:9/x"}, ""},
		{"webhook no url", Channel{Type: TypeWebhook}, "needs a url"},
		{"webhook ftp", Channel{Type: TypeWebhook, URL: "ftp://example.com"}, "http:// or https://"},
		{"webhook relative", Channel{Type: TypeWebhook, URL: "/hook"}, "http:// or https://"},
		{"slack", Channel{Type: TypeSlack, URL: "https://hooks.slack.com/services/T/B/X"}, ""},
		{"slack no host", Channel{Type: TypeSlack, URL: "https://"}, "http:// or https://"},
		{"pagerduty", Channel{Type: TypePagerDuty, RoutingKey: "R0UT1NG"}, ""},
		{"pagerduty url", Channel{Type: TypePagerDuty, RoutingKey: "k", URL: "http://127.0.0.1:1/v2/enqueue"}, ""},
		{"pagerduty no key", Channel{Type: TypePagerDuty, URL: "https://events.pagerduty.com/v2/enqueue"}, "routing_key"},
		{"pagerduty bad url", Channel{Type: TypePagerDuty, RoutingKey: "k", URL: "mailto:x"}, "http:// or https://"},
		{"email", Channel{Type: TypeEmail, To: []string{"ops@example.com", "b@example.org"}}, ""},
		{"email none", Channel{Type: TypeEmail}, "at least one address"},
		{"email bad", Channel{Type: TypeEmail, To: []string{"ops@example.com", "not an address"}}, "invalid e-mail address"},
		{"email display name", Channel{Type: TypeEmail, To: []string{"Ops <ops@example.com>"}}, "invalid e-mail address"},
		{"no type", Channel{URL: "https://example.com"}, "type is required"},
		{"unknown type", Channel{Type: "sms"}, `unknown channel type "sms"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ch.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ae *apierr.Error
			if !errors.As(err, &ae) || ae.Code != apierr.Invalid || !strings.Contains(ae.Message, tt.want) {
				t.Fatalf("Validate = %v, want invalid_argument containing %q", err, tt.want)
			}
		})
	}
}

func TestWebhookPayload(t *testing.T) {
	rc := newReceiver(t, nil)
	q := NewQueue(nil, testConfig, nil)
	ch := Channel{ID: "c1", TenantID: "tA", Type: TypeWebhook, URL: rc.URL, Secret: "s3cret"}
	if err := q.Send(context.Background(), ch, firing()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := rc.requests()[0]
	m := hmac.New(sha256.New, []byte("s3cret"))
	m.Write(r.Body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := r.Header.Get("X-Sawmill-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
		t.Errorf("signature %q, want %q", got, want)
	}
	if got := r.Header.Get("X-Sawmill-Notification-Id"); got != "r1/g1/3" {
		t.Errorf("notification id header %q", got)
	}
	if ts := r.Header.Get("X-Sawmill-Timestamp"); len(ts) < 10 {
		t.Errorf("timestamp header %q", ts)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var got struct {
		Version int `json:"version"`
		Notification
	}
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body: %v", err)
	}
	if got.Version != 1 || got.ID != "r1/g1/3" || got.Value != 42 || got.Group["service"] != "web" || len(got.Samples) != 2 || !got.At.Equal(firing().At) {
		t.Errorf("body = %s", r.Body)
	}
}

func TestSlackPayload(t *testing.T) {
	rc := newReceiver(t, nil)
	q := NewQueue(nil, testConfig, nil)
	ch := Channel{ID: "c1", TenantID: "tA", Type: TypeSlack, URL: rc.URL}
	resolved := firing()
	resolved.Kind, resolved.ID = KindResolved, "r1/g1/4"
	for _, n := range []Notification{firing(), resolved} {
		if err := q.Send(context.Background(), ch, n); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	type block struct {
		Type   string                  `json:"type"`
		Text   struct{ Text string }   `json:"text"`
		Fields []struct{ Text string } `json:"fields"`
	}
	var msgs [2]struct {
		Text        string `json:"text"`
		Attachments []struct {
			Color  string  `json:"color"`
			Blocks []block `json:"blocks"`
		} `json:"attachments"`
	}
	for i, r := range rc.requests() {
		if err := json.Unmarshal(r.Body, &msgs[i]); err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
	}
	f := msgs[0]
	if f.Text != "FIRING errors (service=web) [critical]" || len(f.Attachments) != 1 || f.Attachments[0].Color != "#d00000" {
		t.Fatalf("firing message = %+v", f)
	}
	var all strings.Builder
	for _, b := range f.Attachments[0].Blocks {
		all.WriteString(b.Text.Text + "\n")
		for _, f := range b.Fields {
			all.WriteString(f.Text + "\n")
		}
	}
	for _, want := range []string{"*Value*\n42", "*Threshold*\n10", "count() &gt; 10", "service=web", "```Internal Server Error: /api/v1/orders/1\nboom '''x'''```", "<https://sawmill.example/search?q=level%3Aerror|Open the search in Sawmill>"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("blocks lack %q: %s", want, all.String())
		}
	}
	if r := msgs[1]; !strings.HasPrefix(r.Text, "RESOLVED errors") || r.Attachments[0].Color != "#2eb67d" {
		t.Errorf("resolved message = %+v", r)
	}
}

func TestPagerDutyTriggerThenResolve(t *testing.T) {
	rc := newReceiver(t, func(int) (int, http.Header) { return http.StatusAccepted, nil })
	q := NewQueue(nil, testConfig, nil)
	ch := Channel{ID: "c1", TenantID: "tA", Type: TypePagerDuty, RoutingKey: "RK1", URL: rc.URL}
	resolved := firing()
	resolved.Kind, resolved.ID = KindResolved, "r1/g1/4"
	for _, n := range []Notification{firing(), resolved} {
		if err := q.Send(context.Background(), ch, n); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	type event struct {
		RoutingKey  string `json:"routing_key"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			Summary, Source, Severity, Timestamp string
			CustomDetails                        map[string]any `json:"custom_details"`
		} `json:"payload"`
		Links []struct{ Href string } `json:"links"`
	}
	var evs []event
	for _, r := range rc.requests() {
		var e event
		if err := json.Unmarshal(r.Body, &e); err != nil {
			t.Fatalf("body: %v", err)
		}
		evs = append(evs, e)
	}
	tr, rs := evs[0], evs[1]
	if tr.RoutingKey != "RK1" || tr.EventAction != "trigger" || tr.DedupKey != "r1/g1" || tr.Payload == nil {
		t.Fatalf("trigger = %+v", tr)
	}
	p := tr.Payload
	if p.Severity != "critical" || p.Source != "sawmill" || p.Timestamp != "2026-11-26T12:00:00Z" || !strings.Contains(p.Summary, "errors") ||
		p.CustomDetails["value"] != 42.0 || len(tr.Links) != 1 {
		t.Errorf("trigger payload = %+v links %+v", p, tr.Links)
	}
	if rs.RoutingKey != "RK1" || rs.EventAction != "resolve" || rs.DedupKey != tr.DedupKey {
		t.Errorf("resolve = %+v", rs)
	}
}

func TestEmail(t *testing.T) {
	mb := newMailbox(t, "")
	cfg := testConfig
	cfg.SMTPAddr, cfg.SMTPFrom = mb.Addr, "alerts@sawmill.example"
	q := NewQueue(nil, cfg, nil)
	ch := Channel{ID: "c1", TenantID: "tA", Type: TypeEmail, To: []string{"ops@example.com", "dev@example.com"}}
	n := firing()
	n.Message = "42 errors in web — Überweisung"
	for range 2 { // a retry: same Message-ID
		if err := q.Send(context.Background(), ch, n); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	mails := mb.received()
	if len(mails) != 2 {
		t.Fatalf("%d mails", len(mails))
	}
	m := mails[0]
	if m.From != "alerts@sawmill.example" || strings.Join(m.To, ",") != "ops@example.com,dev@example.com" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(m.Msg.Header.Get("Subject"))
	if err != nil || subj != "[Sawmill] FIRING errors (service=web) [critical]" {
		t.Errorf("subject %q (%v)", subj, err)
	}
	id := m.Msg.Header.Get("Message-ID")
	if id == "" || id != mails[1].Msg.Header.Get("Message-ID") || id != MessageID(n) {
		t.Errorf("message ids %q, %q", id, mails[1].Msg.Header.Get("Message-ID"))
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.Body)))
	for _, want := range []string{"42 errors in web — Überweisung", "Value:      42", "Threshold:  10", "service=web", "Internal Server Error: /api/v1/orders/1", "https://sawmill.example/search"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	usage := UsageNotification(warning("tA", 80))
	if err := q.Send(context.Background(), ch, usage); err != nil {
		t.Fatalf("Send usage: %v", err)
	}
	if s := mb.received()[2].Msg.Header.Get("Subject"); !strings.HasPrefix(s, "[Sawmill] Sawmill quota: 80% of the monthly events used") {
		t.Errorf("usage subject %q", s)
	}
	test := Notification{ID: "test/1", TenantID: "tA", Kind: KindTest, At: time.Now()}
	if err := q.Send(context.Background(), ch, test); err != nil {
		t.Fatalf("Send test: %v", err)
	}
	if s := mb.received()[3].Msg.Header.Get("Subject"); !strings.Contains(s, "Test notification") {
		t.Errorf("test subject %q", s)
	}
}

func TestSendErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + closed.Addr().String() + "/services/T0/B0/SECRETPATH"
	closed.Close()
	status := func(code int, h http.Header) string {
		return newReceiver(t, func(int) (int, http.Header) { return code, h }).URL
	}
	tests := []struct {
		name       string
		url        string
		retryable  bool
		retryAfter time.Duration
		text       string
	}{
		{"500", status(500, nil), true, 0, "status 500 Internal Server Error: nope"},
		{"503 retry-after", status(503, http.Header{"Retry-After": {"7"}}), true, 7 * time.Second, "status 503"},
		{"429", status(429, http.Header{"Retry-After": {"2"}}), true, 2 * time.Second, "status 429"},
		{"408", status(408, nil), true, 0, "status 408"},
		{"400", status(400, nil), false, 0, "status 400 Bad Request"},
		{"404", status(404, nil), false, 0, "status 404"},
		{"network", deadURL, true, 0, "connection refused"},
	}
	q := NewQueue(nil, testConfig, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := q.Send(context.Background(), Channel{Type: TypeWebhook, URL: tt.url}, firing())
			if err == nil || IsRetryable(err) != tt.retryable || RetryAfter(err) != tt.retryAfter || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Send = %v (retryable %v, after %v), want %q retryable %v after %v", err, IsRetryable(err), RetryAfter(err), tt.text, tt.retryable, tt.retryAfter)
			}
			if strings.Contains(err.Error(), "SECRETPATH") {
				t.Errorf("error %q shows the URL's path (Slack's secret)", err)
			}
		})
	}
	for _, tt := range []struct {
		reply     string
		retryable bool
	}{{"550 no such user", false}, {"451 try later", true}} {
		cfg := testConfig
		cfg.SMTPAddr = newMailbox(t, tt.reply).Addr
		err := NewQueue(nil, cfg, nil).Send(context.Background(), Channel{Type: TypeEmail, To: []string{"x@example.com"}}, firing())
		if err == nil || IsRetryable(err) != tt.retryable || !strings.Contains(err.Error(), tt.reply[:3]) {
			t.Errorf("smtp %s: Send = %v retryable %v", tt.reply, err, IsRetryable(err))
		}
	}
}

func TestRetryDelay(t *testing.T) {
	q := NewQueue(nil, Config{Backoff: time.Second, MaxBackoff: 10 * time.Second}, nil)
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 0, time.Second}, {2, 0, 2 * time.Second}, {3, 0, 4 * time.Second}, {4, 0, 8 * time.Second},
		{5, 0, 10 * time.Second}, {50, 0, 10 * time.Second},
		{1, 30 * time.Second, 30 * time.Second}, {4, time.Second, 8 * time.Second}, {1, 48 * time.Hour, time.Hour},
	}
	for _, tt := range tests {
		if got := q.retryDelay(tt.attempt, tt.retryAfter); got != tt.want {
			t.Errorf("retryDelay(%d, %v) = %v, want %v", tt.attempt, tt.retryAfter, got, tt.want)
		}
	}
}

func TestRegisterFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "alerts.")
	err := fs.Parse([]string{"-alerts.notify-max-attempts=3", "-alerts.notify-backoff=50ms", "-alerts.notify-max-backoff=2s",
		"-alerts.notify-workers=2", "-alerts.pagerduty-url=http://127.0.0.1:1/v2/enqueue"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{MaxAttempts: 3, Backoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second, Workers: 2, PagerDutyURL: "http://127.0.0.1:1/v2/enqueue"}
	if c != want {
		t.Fatalf("config = %+v, want %+v", c, want)
	}
}
