// Package notify delivers alert and usage notifications to a tenant's
// channels — generic webhook (HMAC-SHA256 signed), Slack incoming webhook,
// PagerDuty Events API v2, e-mail over SMTP — through the durable NOTIFY
// JetStream work queue, with retries, exponential backoff and a delivery
// log. It does not decide when to notify: the alerts evaluator does.
package notify

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/sawmillhq/sawmill/pkg/bus"
)

// Channel types.
const (
	TypeWebhook   = "webhook"
	TypeSlack     = "slack"
	TypePagerDuty = "pagerduty"
	TypeEmail     = "email"
)

// Notification kinds.
const (
	KindFiring   = "firing"
	KindResolved = "resolved"
	KindRenotify = "renotify"
	KindUsage    = "usage"
	KindTest     = "test"
)

// Channel is a tenant's notification destination, stored as JSON in the
// alert_channels bucket under "<tenant>.<id>".
type Channel struct {
	ID         string    `json:"id"`
	TenantID   string    `json:"tenant_id"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	URL        string    `json:"url,omitempty"`
	Secret     string    `json:"secret,omitempty"`
	RoutingKey string    `json:"routing_key,omitempty"`
	To         []string  `json:"to,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Notification is one thing to tell a tenant. ID is stable for one
// transition of one alert (rule, group, transition number) so that queueing
// it twice delivers it once.
type Notification struct {
	ID        string            `json:"id"`
	TenantID  string            `json:"tenant_id"`
	Kind      string            `json:"kind"`
	RuleID    string            `json:"rule_id,omitempty"`
	RuleName  string            `json:"rule_name,omitempty"`
	Severity  string            `json:"severity,omitempty"`
	Group     map[string]string `json:"group,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Value     float64           `json:"value"`
	Threshold float64           `json:"threshold"`
	// Condition in words, e.g. "count() > 10 over 1m".
	Condition string `json:"condition,omitempty"`
	// Message is the rendered rule template (or a default summary).
	Message string `json:"message"`
	// Samples are a few matching lines' messages.
	Samples []string `json:"samples,omitempty"`
	// Link opens the search behind the alert.
	Link        string    `json:"link,omitempty"`
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	// StartsAt is when the alert started firing.
	StartsAt time.Time `json:"starts_at,omitzero"`
	At       time.Time `json:"at"`
	// DedupKey identifies the alert (rule and group) across its trigger and
	// resolve: PagerDuty's dedup_key.
	DedupKey string `json:"dedup_key,omitempty"`
}

// Record is one notification's delivery through one channel, as the log
// shows it.
type Record struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	ChannelID string    `json:"channel_id"`
	RuleID    string    `json:"rule_id,omitempty"`
	Kind      string    `json:"kind"`
	Status    string    `json:"status"` // delivered, retrying, failed
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
}

// Config configures delivery.
type Config struct {
	// HTTPClient sends webhook, Slack and PagerDuty requests; nil → a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// SMTPAddr is the relay for e-mail channels (host:port); SMTPFrom the
	// sender address.
	SMTPAddr string
	SMTPFrom string
	// PagerDutyURL is used when a pagerduty channel has no URL; default
	// https://events.pagerduty.com/v2/enqueue.
	PagerDutyURL string
	// MaxAttempts before a notification is logged as failed; 0 → 8.
	MaxAttempts int
	// Backoff is the first retry delay, doubled each attempt up to
	// MaxBackoff; 0 → 1 s and 5 min.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Workers is how many deliveries one Run makes at once; 0 → 8.
	Workers int
}

func (c *Config) defaults() {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	c.MaxBackoff = max(c.MaxBackoff, c.Backoff)
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.PagerDutyURL == "" {
		c.PagerDutyURL = DefaultPagerDutyURL
	}
}

// Queue delivers notifications. Safe for concurrent use.
type Queue struct {
	b   *bus.Bus
	cfg Config
	log *slog.Logger
}

// NewQueue returns a queue on b's NOTIFY stream.
// A nil log discards.
func NewQueue(b *bus.Bus, cfg Config, log *slog.Logger) *Queue {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{b: b, cfg: cfg, log: log}
}
