package quota

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAdmit(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	st := State{TenantID: "t1", PeriodStart: now.Add(-24 * time.Hour), PeriodEnd: now.Add(24 * time.Hour),
		EventsUsed: 90, BytesUsed: 1000, EventsLimit: 100, BytesLimit: 1 << 20, HardCap: true}
	tbl := NewTable()
	put := func(s State) {
		t.Helper()
		b, _ := json.Marshal(s)
		if err := tbl.Apply(s.TenantID, b, false); err != nil {
			t.Fatal(err)
		}
	}
	if d := tbl.Admit("t1", now); !d.Allowed || d.Known {
		t.Fatalf("unknown tenant: %+v", d)
	}
	put(st)
	if d := tbl.Admit("t1", now); !d.Allowed || !d.Known {
		t.Fatalf("under quota: %+v", d)
	}
	tbl.Record("t1", 10, 100) // this edge's own traffic crosses the limit
	if d := tbl.Admit("t1", now); d.Allowed || d.Quota != "events" || d.State.EventsUsed != 100 {
		t.Fatalf("local volume over quota: %+v", d)
	}
	if d := tbl.Admit("t1", st.PeriodEnd); !d.Allowed {
		t.Fatalf("after the period ends: %+v", d)
	}
	soft := st
	soft.HardCap, soft.EventsUsed = false, 500
	put(soft)
	if d := tbl.Admit("t1", now); !d.Allowed {
		t.Fatalf("paid plan over quota accrues overage, not refused: %+v", d)
	}
	bytes := st
	bytes.EventsUsed, bytes.BytesUsed = 0, 1<<20
	put(bytes)
	if d := tbl.Admit("t1", now); d.Allowed || d.Quota != "bytes" {
		t.Fatalf("bytes over quota: %+v", d)
	}
	tbl.Apply("t1", nil, true)
	if d := tbl.Admit("t1", now); !d.Allowed {
		t.Fatalf("deleted state: %+v", d)
	}
	if err := tbl.Apply("t1", []byte("{"), false); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestMeter(t *testing.T) {
	m := NewMeter()
	if m.Drain() != nil {
		t.Fatal("empty meter drained something")
	}
	m.Add("a", 1, 10)
	m.Add("a", 2, 20)
	m.Add("b", 1, 5)
	got := m.Drain()
	if got["a"] != (Delta{3, 30}) || got["b"] != (Delta{1, 5}) || len(got) != 2 {
		t.Fatalf("drain %v", got)
	}
	if m.Drain() != nil {
		t.Fatal("second drain not empty")
	}
}

func TestPercent(t *testing.T) {
	s := State{EventsUsed: 80, EventsLimit: 100, BytesUsed: 10, BytesLimit: 100}
	if s.Percent() != 80 {
		t.Fatalf("percent %d", s.Percent())
	}
}

func TestSpendCap(t *testing.T) {
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	st := State{TenantID: "t1", PeriodEnd: now.Add(time.Hour), EventsLimit: 1_000_000, EventsUsed: 3_000_000,
		OverageCentsPerMillionEvents: 40, BytesLimit: 1 << 30}
	if c := st.OverageCents(); c != 80 {
		t.Fatalf("overage %d cents, want 80", c)
	}
	tbl := NewTable()
	put := func(s State) {
		b, _ := json.Marshal(s)
		tbl.Apply(s.TenantID, b, false)
	}
	put(st)
	if d := tbl.Admit("t1", now); !d.Allowed {
		t.Fatalf("no cap: %+v", d)
	}
	st.SpendCapCents = 100
	put(st)
	if d := tbl.Admit("t1", now); !d.Allowed {
		t.Fatalf("under the cap: %+v", d)
	}
	tbl.Record("t1", 500_000, 0) // 20 cents more: the cap is reached
	if d := tbl.Admit("t1", now); d.Allowed || d.Quota != "spend_cap" {
		t.Fatalf("cap reached: %+v", d)
	}
	if d := tbl.Admit("t1", st.PeriodEnd); !d.Allowed {
		t.Fatalf("next period: %+v", d)
	}
}
