// Package notify delivers alert and usage notifications to a tenant's
// channels — generic webhook (HMAC-SHA256 signed), Slack incoming webhook,
// PagerDuty Events API v2, e-mail over SMTP — through the durable NOTIFY
// JetStream work queue, with retries, exponential backoff and a delivery
// log. It does not decide when to notify: the alerts evaluator does.
package notify

import (
	"context"
	"errors"
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
}

// Queue delivers notifications. Safe for concurrent use.
type Queue struct {
	b   *bus.Bus
	cfg Config
	log *slog.Logger
}

// NewQueue returns a queue on b's NOTIFY stream.
func NewQueue(b *bus.Bus, cfg Config, log *slog.Logger) *Queue {
	return &Queue{b: b, cfg: cfg, log: log}
}

var errTODO = errors.New("notify: not implemented")

// Validate checks a channel's type and the fields its type needs.
func (c Channel) Validate() error { return errTODO }

// Enqueue durably queues n for each channel id (one message per channel,
// deduplicated on n.ID and the channel id). It returns once JetStream has
// stored them.
func (q *Queue) Enqueue(ctx context.Context, n Notification, channelIDs []string) error {
	return errTODO
}

// Run delivers queued notifications until ctx ends; several processes may
// run it at once (each message goes to one of them).
func (q *Queue) Run(ctx context.Context) error { return errTODO }

// RunUsage turns billing's quota warnings (the WARNINGS stream) into usage
// notifications to each of the tenant's channels, until ctx ends.
func (q *Queue) RunUsage(ctx context.Context) error { return errTODO }

// Send makes one delivery attempt at once (test notifications).
func (q *Queue) Send(ctx context.Context, ch Channel, n Notification) error { return errTODO }

// Log returns a tenant's delivery records, newest first, at most limit.
func (q *Queue) Log(ctx context.Context, tenant string, limit int) ([]Record, error) {
	return nil, errTODO
}
