package alerts

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/kvrecord"
	"github.com/sawmillhq/sawmill/pkg/lql"
)

// Bounds on a rule.
const (
	maxWindow       = 24 * time.Hour
	maxLabels       = 32
	maxChannels     = 20
	maxMessageBytes = 4096
)

// Condition kinds and the comparison operators.
const (
	kindThreshold = "threshold"
	kindAbsence   = "absence"
)

var ops = []string{">", ">=", "<", "<=", "==", "!="}

var severities = []string{"info", "warning", "error", "critical"}

// condition is a rule's condition as stored.
type condition struct {
	Kind        string  `json:"kind"`
	Aggregation string  `json:"aggregation,omitempty"`
	Op          string  `json:"op,omitempty"`
	Threshold   float64 `json:"threshold"`
}

// ruleRecord is a rule as stored in the alert_rules bucket under
// "<tenant>.<id>". Durations keep the text the user gave.
type ruleRecord struct {
	ID        string            `json:"id"`
	TenantID  string            `json:"tenant_id"`
	Name      string            `json:"name"`
	Query     string            `json:"query"`
	Condition condition         `json:"condition"`
	Window    string            `json:"window"`
	Interval  string            `json:"interval"`
	For       string            `json:"for"`
	Severity  string            `json:"severity"`
	Labels    map[string]string `json:"labels,omitempty"`
	GroupBy   []string          `json:"group_by,omitempty"`
	Channels  []string          `json:"channels,omitempty"`
	Message   string            `json:"message,omitempty"`
	Renotify  string            `json:"renotify_interval,omitempty"`
	Disabled  bool              `json:"disabled,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// compiledRule is a rule ready to evaluate.
type compiledRule struct {
	rec      *ruleRecord
	q        *lql.Query
	agg      lql.Agg  // compared with the threshold (count() for absence)
	by       []string // group-by fields
	absence  bool
	window   time.Duration
	interval time.Duration
	forDur   time.Duration
	renotify time.Duration
	tmpl     *template.Template
}

// parseDuration reads "30s", "1m", "1h30m", "1d" or "0s"; empty gives def.
func parseDuration(field, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := lql.ParseInterval(s)
	if err != nil {
		if d, err = time.ParseDuration(s); err != nil {
			return 0, apierr.New(apierr.Invalid, "%s: invalid duration %q; write e.g. 30s, 1m, 5m, 1h", field, s)
		}
	}
	if d < 0 {
		return 0, apierr.New(apierr.Invalid, "%s must not be negative", field)
	}
	return d, nil
}

// lqlError maps a query error to 400 with its position.
func lqlError(what string, err error) error {
	ae := apierr.New(apierr.Invalid, "%s: %v", what, err)
	if pe := (*lql.Error)(nil); errors.As(err, &pe) {
		ae = ae.WithDetails(map[string]any{"position": pe.Pos})
	}
	return ae
}

// normalize fills a rule's defaults in place.
func (r *ruleRecord) normalize() {
	if r.Condition.Kind == "" {
		r.Condition.Kind = kindThreshold
	}
	if r.Condition.Kind == kindThreshold {
		if r.Condition.Aggregation == "" {
			r.Condition.Aggregation = "count()"
		}
		if r.Condition.Op == "" {
			r.Condition.Op = ">"
		}
	}
	if r.Window == "" {
		r.Window = "1m"
	}
	if r.Interval == "" {
		r.Interval = "1m"
	}
	if r.For == "" {
		r.For = "0s"
	}
	if r.Severity == "" {
		r.Severity = "warning"
	}
}

// compile checks a (normalized) rule; every error is a 400 naming the
// field. minInterval 0 skips the interval floor.
func compile(r *ruleRecord, minInterval time.Duration) (*compiledRule, error) {
	c := &compiledRule{rec: r}
	q, err := lql.Parse(r.Query)
	if err != nil {
		return nil, lqlError("query", err)
	}
	c.q = q
	if err := c.condition(); err != nil {
		return nil, err
	}
	if err := c.durations(minInterval); err != nil {
		return nil, err
	}
	if !slices.Contains(severities, r.Severity) {
		return nil, apierr.New(apierr.Invalid, "severity must be one of %s", strings.Join(severities, ", "))
	}
	if len(r.Labels) > maxLabels {
		return nil, apierr.New(apierr.Invalid, "labels: at most %d", maxLabels)
	}
	for k, v := range r.Labels {
		if k == "" || len(k) > 100 || len(v) > 500 {
			return nil, apierr.New(apierr.Invalid, "labels: keys must be 1 to 100 bytes, values at most 500")
		}
	}
	if len(r.Channels) > maxChannels {
		return nil, apierr.New(apierr.Invalid, "channels: at most %d", maxChannels)
	}
	for _, id := range r.Channels {
		if err := kvrecord.CheckID("channel", id); err != nil {
			return nil, err
		}
	}
	return c, c.template()
}

// condition checks the query's pipes and the condition, and sets agg and by.
func (c *compiledRule) condition() error {
	r := c.rec
	pl := c.q.Pipeline()
	if pl != nil && (pl.Analysis == nil || pl.Analysis.Interval > 0 || len(pl.Stages) > 0) {
		return apierr.New(apierr.Invalid, "query: an alert query takes at most one pipe, | stats ... [by ...]")
	}
	switch r.Condition.Kind {
	case kindThreshold:
		if !slices.Contains(ops, r.Condition.Op) {
			return apierr.New(apierr.Invalid, "condition.op must be one of %s", strings.Join(ops, " "))
		}
	case kindAbsence:
		if pl != nil {
			return apierr.New(apierr.Invalid, "query: an absence rule takes no | stats pipe")
		}
	default:
		return apierr.New(apierr.Invalid, `condition.kind must be "threshold" or "absence"`)
	}
	if pl != nil {
		if len(r.GroupBy) > 0 {
			return apierr.New(apierr.Invalid, "group_by: give the groups either as | stats ... by in the query or as group_by, not both")
		}
		c.agg, c.by = pl.Analysis.Aggs[0], pl.Analysis.By
		return nil
	}
	aggs := []string{r.Condition.Aggregation}
	if r.Condition.Kind == kindAbsence {
		aggs = nil
	}
	a, err := lql.NewAnalysis("", aggs, r.GroupBy)
	if err != nil {
		msg := err.Error()
		if strings.HasPrefix(msg, "aggregations[0]: ") {
			return lqlError("condition.aggregation", errors.Unwrap(err))
		}
		return apierr.New(apierr.Invalid, "%s", msg)
	}
	c.agg, c.by = a.Aggs[0], a.By
	c.absence = r.Condition.Kind == kindAbsence
	return nil
}

func (c *compiledRule) durations(minInterval time.Duration) error {
	r := c.rec
	var err error
	if c.window, err = parseDuration("window", r.Window, time.Minute); err != nil {
		return err
	}
	if c.interval, err = parseDuration("interval", r.Interval, time.Minute); err != nil {
		return err
	}
	if c.forDur, err = parseDuration("for", r.For, 0); err != nil {
		return err
	}
	if c.renotify, err = parseDuration("renotify_interval", r.Renotify, 0); err != nil {
		return err
	}
	switch {
	case c.window <= 0 || c.window > maxWindow:
		return apierr.New(apierr.Invalid, "window must be more than 0s and at most %s", maxWindow)
	case c.interval < max(minInterval, time.Second) || c.interval > maxWindow:
		return apierr.New(apierr.Invalid, "interval must be at least %s and at most %s", max(minInterval, time.Second), maxWindow)
	case c.forDur > 7*maxWindow:
		return apierr.New(apierr.Invalid, "for must be at most %s", 7*maxWindow)
	case c.renotify > 0 && c.renotify < c.interval:
		return apierr.New(apierr.Invalid, "renotify_interval must be 0s (never) or at least the interval")
	}
	return nil
}

// templateData is what a rule's message template sees (docs/alerts.md).
type templateData struct {
	Rule        string
	RuleID      string
	Severity    string
	State       string // firing, resolved or renotify
	Value       float64
	Threshold   float64
	Condition   string
	Group       map[string]string
	Labels      map[string]string
	WindowStart time.Time
	WindowEnd   time.Time
	Samples     []string
	Link        string
}

const defaultMessage = `[{{.Severity}}] {{.Rule}} is {{.State}}: {{.Condition}} (value {{.Value}})` +
	`{{range $k, $v := .Group}} {{$k}}={{$v}}{{end}}`

// template parses the message template and runs it once on sample data,
// so that a template that cannot render is refused on save.
func (c *compiledRule) template() error {
	text := c.rec.Message
	if len(text) > maxMessageBytes {
		return apierr.New(apierr.Invalid, "message: at most %d bytes", maxMessageBytes)
	}
	if text == "" {
		text = defaultMessage
	}
	t, err := template.New("message").Option("missingkey=zero").Parse(text)
	if err != nil {
		return apierr.New(apierr.Invalid, "message: %v", err)
	}
	sample := templateData{Rule: "r", State: "firing", Group: map[string]string{}, Labels: map[string]string{}, Samples: []string{"x"}}
	if err := t.Execute(io.Discard, sample); err != nil {
		return apierr.New(apierr.Invalid, "message: %v", err)
	}
	c.tmpl = t
	return nil
}

// conditionText describes the condition: "count() > 10 over 1m".
func (c *compiledRule) conditionText() string {
	if c.absence {
		return "no matching line over " + c.rec.Window
	}
	return fmt.Sprintf("%s %s %v over %s", c.agg.String(), c.rec.Condition.Op, c.rec.Condition.Threshold, c.rec.Window)
}

// holds reports whether value (has: the aggregation has a value) meets the
// condition. An aggregation without a value (p95 over no events) never
// meets a threshold.
func (c *compiledRule) holds(value float64, has bool) bool {
	if c.absence {
		return value == 0
	}
	if !has {
		return false
	}
	t := c.rec.Condition.Threshold
	switch c.rec.Condition.Op {
	case ">":
		return value > t
	case ">=":
		return value >= t
	case "<":
		return value < t
	case "<=":
		return value <= t
	case "==":
		return value == t
	case "!=":
		return value != t
	}
	return false
}

// cloneLabels copies a label map (nil stays nil).
func cloneLabels(m map[string]string) map[string]string { return maps.Clone(m) }
