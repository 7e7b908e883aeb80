package plan

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
	"time"
)

// Currency is the ISO 4217 code of every amount in the catalogue.
const Currency = "USD"

// Change is one plan change: from At on, To is in force.
type Change struct {
	At time.Time
	To Plan
}

// Segment is a stretch [From, To) of a billing period spent on one plan.
type Segment struct {
	Plan     Plan
	From, To time.Time
}

// Segments splits the period [start, end) by the changes that fall inside
// it. initial is the plan in force at start; changes need not be sorted,
// and those at or before start or at or after end are ignored (the caller
// folds earlier changes into initial). Empty segments (two changes at the
// same instant) are dropped; the result covers [start, end) exactly.
func Segments(start, end time.Time, initial Plan, changes []Change) []Segment {
	cs := append([]Change(nil), changes...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].At.Before(cs[j].At) })
	segs := []Segment{{Plan: initial, From: start}}
	for _, c := range cs {
		if !c.At.After(start) || !c.At.Before(end) {
			continue
		}
		last := &segs[len(segs)-1]
		if c.At.Equal(last.From) {
			last.Plan = c.To
			continue
		}
		last.To = c.At
		segs = append(segs, Segment{Plan: c.To, From: c.At})
	}
	segs[len(segs)-1].To = end
	return segs
}

// Line is one line of an invoice. Amounts are integer cents.
type Line struct {
	Description string  `json:"description"`
	Quantity    float64 `json:"quantity"` // in Unit; informational, rounded to 6 decimals
	Unit        string  `json:"unit"`
	UnitCents   int64   `json:"unit_cents"`
	AmountCents int64   `json:"amount_cents"` // computed exactly in integers, rounded up to the cent
}

// Invoice is what one billing period costs. It is computed, not stored, by
// this package.
type Invoice struct {
	PeriodStart, PeriodEnd time.Time
	// Plan names the plans in force, in order: "team" or "free→team".
	Plan  string
	Lines []Line
	// TotalCents is the sum of the lines' amounts.
	TotalCents int64
	// Events and Bytes are the usage billed.
	Events, Bytes int64
	// IncludedEvents and IncludedBytes are the prorated included volume.
	IncludedEvents, IncludedBytes int64
}

// Units of invoice lines.
const (
	UnitMonth         = "month"
	UnitMillionEvents = "million events"
	UnitGiB           = "GiB"
)

const (
	gib               = 1 << 30
	million           = 1_000_000
	quantityPrecision = 1e6
)

// ComputeInvoice prices usage (events and bytes stored in the period) over
// segs, which must cover the period in order (see Segments). The policy,
// all in integer arithmetic:
//
//   - Base fee: each segment bills its plan's monthly price pro rata by
//     seconds of the period spent on it, rounded up to the cent (one line
//     per segment, quantity in months).
//   - Included volume: each segment includes its plan's monthly events and
//     bytes pro rata by seconds, rounded up to a whole event or byte (in the
//     customer's favour); the sum is shown in two 0-cent lines.
//   - Overage: events and bytes beyond the prorated included volume, at the
//     rates of the plan in force at the period's end, rounded up to the
//     cent (one line each, always present, 0 when there is none).
//
// An empty segs or a non-positive period gives an invoice with no lines.
func ComputeInvoice(segs []Segment, events, bytes int64) Invoice {
	inv := Invoice{Events: events, Bytes: bytes}
	if len(segs) == 0 {
		return inv
	}
	inv.PeriodStart, inv.PeriodEnd = segs[0].From, segs[len(segs)-1].To
	period := int64(inv.PeriodEnd.Sub(inv.PeriodStart) / time.Second)
	if period <= 0 {
		return inv
	}
	var names []string
	for _, s := range segs {
		secs := int64(s.To.Sub(s.From) / time.Second)
		inv.Lines = append(inv.Lines, Line{
			Description: fmt.Sprintf("%s plan base fee, %s to %s", s.Plan.Name, stamp(s.From), stamp(s.To)),
			Quantity:    round6(float64(secs) / float64(period)),
			Unit:        UnitMonth,
			UnitCents:   s.Plan.PriceCents,
			AmountCents: mulDivCeil(s.Plan.PriceCents, secs, period),
		})
		if len(names) == 0 || names[len(names)-1] != s.Plan.Name {
			names = append(names, s.Plan.Name)
		}
	}
	inv.Plan = strings.Join(names, "→")
	inv.IncludedEvents, inv.IncludedBytes = Included(segs)
	last := segs[len(segs)-1].Plan
	extraEvents := max(events-inv.IncludedEvents, 0)
	extraBytes := max(bytes-inv.IncludedBytes, 0)
	inv.Lines = append(inv.Lines,
		Line{Description: "included events (prorated)", Quantity: round6(float64(inv.IncludedEvents) / million), Unit: UnitMillionEvents},
		Line{Description: "included volume (prorated)", Quantity: round6(float64(inv.IncludedBytes) / gib), Unit: UnitGiB},
		Line{
			Description: fmt.Sprintf("overage events at the %s rate", last.Name),
			Quantity:    round6(float64(extraEvents) / million), Unit: UnitMillionEvents,
			UnitCents:   last.OverageCentsPerMillionEvents,
			AmountCents: mulDivCeil(extraEvents, last.OverageCentsPerMillionEvents, million),
		},
		Line{
			Description: fmt.Sprintf("overage volume at the %s rate", last.Name),
			Quantity:    round6(float64(extraBytes) / gib), Unit: UnitGiB,
			UnitCents:   last.OverageCentsPerGB,
			AmountCents: mulDivCeil(extraBytes, last.OverageCentsPerGB, gib),
		})
	for _, l := range inv.Lines {
		inv.TotalCents += l.AmountCents
	}
	return inv
}

// Included is the volume included in a period spent on segs (see
// Segments): each segment includes its plan's monthly events and bytes pro
// rata by seconds of the period, rounded up to a whole event or byte (in
// the customer's favour). ComputeInvoice bills usage beyond it, and the
// quota keeper enforces it, so a mid-period plan change moves both alike.
func Included(segs []Segment) (events, bytes int64) {
	if len(segs) == 0 {
		return 0, 0
	}
	period := int64(segs[len(segs)-1].To.Sub(segs[0].From) / time.Second)
	if period <= 0 {
		return 0, 0
	}
	for _, s := range segs {
		secs := int64(s.To.Sub(s.From) / time.Second)
		events += mulDivCeil(s.Plan.MonthlyEvents, secs, period)
		bytes += mulDivCeil(s.Plan.MonthlyBytes, secs, period)
	}
	return events, bytes
}

// Proration describes, for a person, how ComputeInvoice will bill segs:
// what ChangePlan answers.
func Proration(segs []Segment) string {
	if len(segs) == 0 {
		return ""
	}
	start, end := segs[0].From, segs[len(segs)-1].To
	period := int64(end.Sub(start) / time.Second)
	if period <= 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The period %s to %s is billed pro rata by seconds on each plan:", stamp(start), stamp(end))
	for i, s := range segs {
		secs := int64(s.To.Sub(s.From) / time.Second)
		sep := ";"
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s %s from %s to %s (%.2f%% of the period: base fee %s of %s)", sep, s.Plan.Name, stamp(s.From), stamp(s.To),
			100*float64(secs)/float64(period), money(mulDivCeil(s.Plan.PriceCents, secs, period)), money(s.Plan.PriceCents))
	}
	last := segs[len(segs)-1].Plan
	fmt.Fprintf(&b, ". Included events and bytes are prorated the same way; usage beyond them is billed at the %s rates (%s per million events, %s per GiB).",
		last.Name, money(last.OverageCentsPerMillionEvents), money(last.OverageCentsPerGB))
	return b.String()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func money(cents int64) string { return fmt.Sprintf("%d.%02d %s", cents/100, cents%100, Currency) }

func round6(x float64) float64 { return math.Round(x*quantityPrecision) / quantityPrecision }

// mulDivCeil returns ⌈a·b/c⌉ for non-negative a, b and positive c, exactly
// (128-bit intermediate: 10,000 GiB × a month of seconds overflows int64).
// Negative inputs count as 0; a quotient beyond int64 saturates.
func mulDivCeil(a, b, c int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if r > 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
