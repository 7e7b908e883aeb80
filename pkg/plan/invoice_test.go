package plan

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func day(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSegments(t *testing.T) {
	c := Builtin()
	free, _ := c.Get("free")
	team, _ := c.Get("team")
	biz, _ := c.Get("business")
	start, end := day(t, "2026-11-15T00:00:00Z"), day(t, "2026-12-15T00:00:00Z")
	mid := day(t, "2026-11-21T00:00:00Z")
	later := day(t, "2026-12-01T12:00:00Z")
	f := func(name string, changes []Change, want []Segment) {
		t.Helper()
		if got := Segments(start, end, free, changes); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", name, got, want)
		}
	}
	f("no change", nil, []Segment{{free, start, end}})
	f("one change", []Change{{mid, team}}, []Segment{{free, start, mid}, {team, mid, end}})
	f("unsorted", []Change{{later, biz}, {mid, team}}, []Segment{{free, start, mid}, {team, mid, later}, {biz, later, end}})
	f("outside the period", []Change{{start, team}, {end, biz}, {start.Add(-time.Hour), biz}}, []Segment{{free, start, end}})
	f("same instant: the last wins", []Change{{mid, team}, {mid, biz}}, []Segment{{free, start, mid}, {biz, mid, end}})
}

// Hand-computed invoices over the built-in plans. The period 2026-11-15 to
// 2026-12-15 is 30 days, 2,592,000 s.
func TestComputeInvoice(t *testing.T) {
	c := Builtin()
	get := func(n string) Plan { p, _ := c.Get(n); return p }
	free, team, biz, ent := get("free"), get("team"), get("business"), get("enterprise")
	start, end := day(t, "2026-11-15T00:00:00Z"), day(t, "2026-12-15T00:00:00Z")
	at := func(days int) time.Time { return start.AddDate(0, 0, days) }
	type want struct {
		plan      string
		amounts   []int64 // per line, in order
		total     int64
		inclEvts  int64
		inclBytes int64
	}
	f := func(name string, initial Plan, changes []Change, events, bytes int64, w want) {
		t.Helper()
		inv := ComputeInvoice(Segments(start, end, initial, changes), events, bytes)
		var amounts []int64
		var sum int64
		for _, l := range inv.Lines {
			amounts = append(amounts, l.AmountCents)
			sum += l.AmountCents
		}
		if inv.Plan != w.plan || !reflect.DeepEqual(amounts, w.amounts) || inv.TotalCents != w.total || sum != w.total ||
			inv.IncludedEvents != w.inclEvts || inv.IncludedBytes != w.inclBytes {
			t.Fatalf("%s: plan %q amounts %v total %d included %d/%d; want %+v\nlines %+v", name, inv.Plan, amounts, inv.TotalCents,
				inv.IncludedEvents, inv.IncludedBytes, w, inv.Lines)
		}
		if !inv.PeriodStart.Equal(start) || !inv.PeriodEnd.Equal(end) || inv.Events != events || inv.Bytes != bytes {
			t.Fatalf("%s: period or usage wrong: %+v", name, inv)
		}
	}
	// Base 4900; 50M extra events × 40 = 2000; 20 GiB extra × 25 = 500.
	f("team, whole period, overage", team, nil, 150_000_000, 120*gib,
		want{"team", []int64{4900, 0, 0, 2000, 500}, 7400, 100_000_000, 100 * gib})
	f("free, nothing used", free, nil, 0, 0, want{"free", []int64{0, 0, 0, 0, 0}, 0, 5_000_000, 5 * gib})
	// free 6/30 = 0.2 of the period, team 0.8: base 0 + 3920; included
	// 1M + 80M events, 1 + 80 GiB; 91M events and 86 GiB used → 10M × 40 =
	// 400, 5 GiB × 25 = 125.
	f("free→team after 6 days", free, []Change{{at(6), team}}, 91_000_000, 86*gib,
		want{"free→team", []int64{0, 3920, 0, 0, 400, 125}, 4445, 81_000_000, 81 * gib})
	// Thirds round up line by line: 4900/3 = 1633.3 → 1634, 29900·2/3 =
	// 19933.3 → 19934; included 33,333,333.3 → 33,333,334 and 666,666,666.7
	// → 666,666,667 events (700,000,001), and 700 GiB + 1 byte. One event
	// over, at business' 30 c/M, is 0.00003 → 1 cent.
	f("team→business after 10 days, rounding", team, []Change{{at(10), biz}}, 700_000_002, 0,
		want{"team→business", []int64{1634, 19934, 0, 0, 1, 0}, 21569, 700_000_001, 700*gib + 1})
	// Overage at the rate in force at the end: business→team after 15 days,
	// included 500M + 50M events; 600M used → 50M × team's 40 = 2000.
	f("business→team, overage at the team rate", biz, []Change{{at(15), team}}, 600_000_000, 0,
		want{"business→team", []int64{14950, 2450, 0, 0, 2000, 0}, 19400, 550_000_000, 550 * gib})
	// 10,000 GiB × 2,592,000 s overflows int64: the arithmetic is 128-bit.
	f("enterprise, huge volume", ent, nil, 0, 10_001*gib,
		want{"enterprise", []int64{0, 0, 0, 0, 15}, 15, 10_000_000_000, 10_000 * gib})
	f("team→free→team", team, []Change{{at(10), free}, {at(20), team}}, 0, 0,
		want{"team→free→team", []int64{1634, 0, 1634, 0, 0, 0, 0}, 3268, 66_666_668 + 1_666_667, 2*35791394134 + 1789569707})
}

func TestComputeInvoiceLines(t *testing.T) {
	c := Builtin()
	team, _ := c.Get("team")
	start := day(t, "2026-11-15T00:00:00Z")
	inv := ComputeInvoice([]Segment{{team, start, start.AddDate(0, 1, 0)}}, 101_500_000, 0)
	want := []Line{
		{Description: "team plan base fee, 2026-11-15T00:00:00Z to 2026-12-15T00:00:00Z", Quantity: 1, Unit: UnitMonth, UnitCents: 4900, AmountCents: 4900},
		{Description: "included events (prorated)", Quantity: 100, Unit: UnitMillionEvents},
		{Description: "included volume (prorated)", Quantity: 100, Unit: UnitGiB},
		{Description: "overage events at the team rate", Quantity: 1.5, Unit: UnitMillionEvents, UnitCents: 40, AmountCents: 60},
		{Description: "overage volume at the team rate", Quantity: 0, Unit: UnitGiB, UnitCents: 25},
	}
	if !reflect.DeepEqual(inv.Lines, want) {
		t.Fatalf("lines %+v\nwant %+v", inv.Lines, want)
	}
	if got := ComputeInvoice(nil, 5, 5); len(got.Lines) != 0 || got.TotalCents != 0 {
		t.Fatalf("no segments: %+v", got)
	}
}

func TestProration(t *testing.T) {
	c := Builtin()
	free, _ := c.Get("free")
	team, _ := c.Get("team")
	start, end := day(t, "2026-11-15T00:00:00Z"), day(t, "2026-12-15T00:00:00Z")
	got := Proration(Segments(start, end, free, []Change{{start.AddDate(0, 0, 6), team}}))
	for _, w := range []string{"free from 2026-11-15T00:00:00Z to 2026-11-21T00:00:00Z (20.00% of the period: base fee 0.00 USD of 0.00 USD)",
		"team from 2026-11-21T00:00:00Z to 2026-12-15T00:00:00Z (80.00% of the period: base fee 39.20 USD of 49.00 USD)",
		"at the team rates (0.40 USD per million events, 0.25 USD per GiB)"} {
		if !strings.Contains(got, w) {
			t.Fatalf("proration %q lacks %q", got, w)
		}
	}
}

func TestMulDivCeil(t *testing.T) {
	f := func(a, b, c, want int64) {
		t.Helper()
		if got := mulDivCeil(a, b, c); got != want {
			t.Fatalf("mulDivCeil(%d, %d, %d) = %d, want %d", a, b, c, got, want)
		}
	}
	f(0, 5, 3, 0)
	f(-4, 5, 3, 0)
	f(4900, 1, 3, 1634)
	f(4900, 3, 3, 4900)
	f(10_000*gib, 2_592_000, 2_592_000, 10_000*gib)
	f(math.MaxInt64, math.MaxInt64, 1, math.MaxInt64)
}
