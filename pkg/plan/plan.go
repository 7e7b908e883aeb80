// Package plan provides the plan catalogue — what each plan includes, costs
// and limits — loaded from a JSON file or built in, and the quota arithmetic
// on it. Amounts are integer cents. It holds no state and does no I/O beyond
// reading the catalogue file.
package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Plan is one offer of the catalogue. Zero limits mean "none": a plan with
// MonthlyEvents 0 includes no events (every event is overage or, with
// HardCap, refused).
type Plan struct {
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"` // per month
	// Included volume per calendar month (UTC).
	MonthlyEvents int64 `json:"monthly_events"`
	MonthlyBytes  int64 `json:"monthly_bytes"`
	// HardCap refuses ingest beyond the included volume; otherwise the
	// excess is billed as overage.
	HardCap                      bool  `json:"hard_cap"`
	OverageCentsPerMillionEvents int64 `json:"overage_cents_per_million_events"`
	OverageCentsPerGB            int64 `json:"overage_cents_per_gb"`
	RetentionDays                int   `json:"retention_days"`
	EventsPerSecond              int64 `json:"events_per_second"`
	BytesPerSecond               int64 `json:"bytes_per_second"`
	MaxQueryDays                 int   `json:"max_query_days"`
	AlertRules                   int   `json:"alert_rules"`
}

// Catalogue is the set of plans and the one new signups get.
type Catalogue struct {
	Default string `json:"default"`
	Plans   []Plan `json:"plans"`
}

// Builtin is the catalogue used when no file is configured.
func Builtin() Catalogue {
	const gb = 1 << 30
	return Catalogue{Default: "free", Plans: []Plan{
		{Name: "free", MonthlyEvents: 5_000_000, MonthlyBytes: 5 * gb, HardCap: true, RetentionDays: 7,
			EventsPerSecond: 500, BytesPerSecond: 512 << 10, MaxQueryDays: 7, AlertRules: 3},
		{Name: "team", PriceCents: 4900, MonthlyEvents: 100_000_000, MonthlyBytes: 100 * gb,
			OverageCentsPerMillionEvents: 40, OverageCentsPerGB: 25, RetentionDays: 30,
			EventsPerSecond: 5_000, BytesPerSecond: 5 << 20, MaxQueryDays: 30, AlertRules: 50},
		{Name: "business", PriceCents: 29900, MonthlyEvents: 1_000_000_000, MonthlyBytes: 1000 * gb,
			OverageCentsPerMillionEvents: 30, OverageCentsPerGB: 20, RetentionDays: 90,
			EventsPerSecond: 50_000, BytesPerSecond: 50 << 20, MaxQueryDays: 90, AlertRules: 500},
		{Name: "enterprise", MonthlyEvents: 10_000_000_000, MonthlyBytes: 10_000 * gb,
			OverageCentsPerMillionEvents: 20, OverageCentsPerGB: 15, RetentionDays: 365,
			EventsPerSecond: 500_000, BytesPerSecond: 500 << 20, MaxQueryDays: 365, AlertRules: 5000},
	}}
}

// Load reads a catalogue from a JSON file; an empty path gives Builtin.
// Unknown fields are errors, so a typo does not silently drop a limit.
func Load(path string) (Catalogue, error) {
	if path == "" {
		return Builtin(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Catalogue{}, fmt.Errorf("read plans: %w", err)
	}
	return Parse(b)
}

// Parse decodes and validates a catalogue.
func Parse(b []byte) (Catalogue, error) {
	var c Catalogue
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Catalogue{}, fmt.Errorf("decode plans: %w", err)
	}
	return c, c.Validate()
}

// Validate reports a catalogue that cannot be used: no plans, duplicate or
// empty names, negative amounts, a missing default, a plan without retention.
func (c Catalogue) Validate() error {
	if len(c.Plans) == 0 {
		return errors.New("plans: the catalogue has no plans")
	}
	seen := map[string]bool{}
	for _, p := range c.Plans {
		switch {
		case p.Name == "":
			return errors.New("plans: a plan has no name")
		case seen[p.Name]:
			return fmt.Errorf("plans: %q appears twice", p.Name)
		case p.PriceCents < 0 || p.MonthlyEvents < 0 || p.MonthlyBytes < 0 || p.OverageCentsPerMillionEvents < 0 ||
			p.OverageCentsPerGB < 0 || p.EventsPerSecond < 0 || p.BytesPerSecond < 0 || p.AlertRules < 0:
			return fmt.Errorf("plans: %q has a negative amount", p.Name)
		case p.RetentionDays < 1 || p.RetentionDays > 3650:
			return fmt.Errorf("plans: %q: retention_days must be 1 to 3650", p.Name)
		case p.MaxQueryDays < 1:
			return fmt.Errorf("plans: %q: max_query_days must be at least 1", p.Name)
		}
		seen[p.Name] = true
	}
	if !seen[c.Default] {
		return fmt.Errorf("plans: default plan %q is not in the catalogue", c.Default)
	}
	return nil
}

// Get returns the named plan.
func (c Catalogue) Get(name string) (Plan, bool) {
	for _, p := range c.Plans {
		if p.Name == name {
			return p, true
		}
	}
	return Plan{}, false
}

// DefaultPlan returns the plan new signups get.
func (c Catalogue) DefaultPlan() Plan {
	p, _ := c.Get(c.Default)
	return p
}

// Overage returns what usage beyond the included volume costs, in cents,
// rounded up to the cent: each of events and bytes is billed on its own.
func (p Plan) Overage(events, bytes int64) int64 {
	var cents int64
	if extra := events - p.MonthlyEvents; extra > 0 {
		cents += ceilDiv(extra*p.OverageCentsPerMillionEvents, 1_000_000)
	}
	if extra := bytes - p.MonthlyBytes; extra > 0 {
		cents += ceilDiv(extra*p.OverageCentsPerGB, 1<<30)
	}
	return cents
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
