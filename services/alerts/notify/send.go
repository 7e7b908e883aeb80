package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultPagerDutyURL is the PagerDuty Events API v2 endpoint.
const DefaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// Webhook headers.
const (
	HeaderSignature      = "X-Sawmill-Signature" // "sha256=" + hex HMAC-SHA256(secret, body)
	HeaderTimestamp      = "X-Sawmill-Timestamp" // Unix seconds of the attempt
	HeaderNotificationID = "X-Sawmill-Notification-Id"
)

// WebhookPayload is the JSON body of a generic webhook: the notification
// and the payload format's version.
type WebhookPayload struct {
	Version int `json:"version"`
	Notification
}

// Send makes one delivery attempt of n through ch, synchronously. A failure
// is a *SendError naming the receiver's status or the network error; see
// IsRetryable and RetryAfter.
func (q *Queue) Send(ctx context.Context, ch Channel, n Notification) error {
	if err := ch.Validate(); err != nil {
		return permanent("invalid channel: %v", err)
	}
	switch ch.Type {
	case TypeWebhook:
		return q.sendWebhook(ctx, ch, n)
	case TypeSlack:
		return q.postJSON(ctx, "slack", ch.URL, slackPayload(n), nil)
	case TypePagerDuty:
		u := ch.URL
		if u == "" {
			u = q.cfg.PagerDutyURL
		}
		if u == "" {
			u = DefaultPagerDutyURL
		}
		return q.postJSON(ctx, "pagerduty", u, pagerDutyPayload(ch.RoutingKey, n), nil)
	case TypeEmail:
		return q.sendEmail(ctx, ch, n)
	}
	return permanent("unknown channel type %q", ch.Type)
}

// Sign returns the X-Sawmill-Signature value for body: receivers compute
// the same with their copy of the secret and compare in constant time.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (q *Queue) sendWebhook(ctx context.Context, ch Channel, n Notification) error {
	body, err := json.Marshal(WebhookPayload{Version: 1, Notification: n})
	if err != nil {
		return permanent("webhook: encode: %v", err)
	}
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
	h.Set(HeaderNotificationID, n.ID)
	if ch.Secret != "" {
		h.Set(HeaderSignature, Sign(ch.Secret, body))
	}
	return q.post(ctx, "webhook", ch.URL, body, h)
}

func (q *Queue) postJSON(ctx context.Context, what, target string, v any, h http.Header) error {
	body, err := json.Marshal(v)
	if err != nil {
		return permanent("%s: encode: %v", what, err)
	}
	return q.post(ctx, what, target, body, h)
}

// post sends body and classifies the answer: any 2xx is success.
func (q *Queue) post(ctx context.Context, what, target string, body []byte, h http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanent("%s: request: %v", what, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Sawmill-Notify/1")
	resp, err := q.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // its text holds the whole URL: a secret for Slack
			err = fmt.Errorf("post %s://%s: %w", req.URL.Scheme, req.URL.Host, ue.Err)
		}
		return networkError(what, err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return statusError(what, resp, excerpt, time.Now())
}

func (q *Queue) httpClient() *http.Client {
	if q.cfg.HTTPClient != nil {
		return q.cfg.HTTPClient
	}
	return defaultClient
}

var defaultClient = &http.Client{Timeout: 10 * time.Second}

// Slack colours by severity; resolved is green.
func slackColor(n Notification) string {
	switch {
	case n.Kind == KindResolved:
		return "#2eb67d"
	case n.Kind == KindTest:
		return "#808080"
	}
	switch strings.ToLower(n.Severity) {
	case "critical":
		return "#d00000"
	case "error", "high":
		return "#e01e5a"
	case "warning", "warn":
		return "#ecb22e"
	}
	return "#36c5f0"
}

// slackPayload is an incoming-webhook message: text (the notification
// fallback), and one attachment with the severity colour holding the
// blocks.
func slackPayload(n Notification) map[string]any {
	text := title(n)
	detail := n.Message
	if n.Kind == KindTest && detail == "" {
		detail = testText
	}
	if detail == text { // usage: the title is the message
		detail = ""
	}
	blocks := []map[string]any{
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*" + slackEscape(text) + "*\n" + slackEscape(detail)}},
	}
	if n.Kind != KindTest && n.Kind != KindUsage {
		var fields []map[string]any
		add := func(k, v string) {
			if v != "" {
				fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + k + "*\n" + slackEscape(v)})
			}
		}
		add("Value", num(n.Value))
		add("Threshold", num(n.Threshold))
		add("Condition", n.Condition)
		add("Group", groupText(n.Group))
		add("Severity", n.Severity)
		if len(fields) > 0 {
			blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
		}
	}
	if len(n.Samples) > 0 {
		s := truncate(strings.Join(n.Samples, "\n"), 2800)
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "```" + slackEscape(strings.ReplaceAll(s, "```", "'''")) + "```"}})
	}
	if n.Link != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "<" + n.Link + "|Open the search in Sawmill>"}})
	}
	return map[string]any{
		"text":        text,
		"attachments": []map[string]any{{"color": slackColor(n), "fallback": text, "blocks": blocks}},
	}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// pagerDutySeverity maps a rule severity onto PagerDuty's four.
func pagerDutySeverity(n Notification) string {
	switch strings.ToLower(n.Severity) {
	case "critical":
		return "critical"
	case "error", "high":
		return "error"
	case "warning", "warn":
		return "warning"
	}
	if n.Kind == KindUsage && n.Threshold >= 100 {
		return "error"
	}
	return "info"
}

// pagerDutyPayload is an Events API v2 event: resolved notifications
// resolve the incident with the same dedup_key, everything else triggers
// (or updates) it.
func pagerDutyPayload(routingKey string, n Notification) map[string]any {
	dedup := n.DedupKey
	if dedup == "" {
		dedup = n.ID
	}
	ev := map[string]any{"routing_key": routingKey, "dedup_key": dedup}
	if n.Kind == KindResolved {
		ev["event_action"] = "resolve"
		return ev
	}
	ev["event_action"] = "trigger"
	details := map[string]any{
		"notification_id": n.ID, "kind": n.Kind, "message": n.Message,
		"value": n.Value, "threshold": n.Threshold,
	}
	for k, v := range map[string]any{"rule_id": n.RuleID, "rule": n.RuleName, "condition": n.Condition} {
		if v != "" {
			details[k] = v
		}
	}
	if len(n.Group) > 0 {
		details["group"] = n.Group
	}
	if len(n.Labels) > 0 {
		details["labels"] = n.Labels
	}
	if len(n.Samples) > 0 {
		details["samples"] = n.Samples
	}
	at := n.At
	if at.IsZero() {
		at = time.Now()
	}
	ev["payload"] = map[string]any{
		"summary":        truncate(title(n), 1000),
		"source":         "sawmill",
		"severity":       pagerDutySeverity(n),
		"timestamp":      at.UTC().Format(time.RFC3339Nano),
		"component":      n.RuleName,
		"group":          groupText(n.Group),
		"class":          n.Kind,
		"custom_details": details,
	}
	ev["client"] = "Sawmill"
	if n.Link != "" {
		ev["client_url"] = n.Link
		ev["links"] = []map[string]string{{"href": n.Link, "text": "Open the search in Sawmill"}}
	}
	return ev
}
