package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltinValid(t *testing.T) {
	c := Builtin()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if p := c.DefaultPlan(); p.Name != "free" || !p.HardCap {
		t.Fatalf("default plan %+v", p)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.json")
	os.WriteFile(path, []byte(`{"default":"solo","plans":[{"name":"solo","price_cents":900,"monthly_events":1000000,
		"monthly_bytes":1073741824,"hard_cap":false,"retention_days":14,"events_per_second":100,"bytes_per_second":100000,
		"overage_cents_per_million_events":50,"overage_cents_per_gb":30,"max_query_days":14,"alert_rules":5}]}`), 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.DefaultPlan(); p.PriceCents != 900 || p.RetentionDays != 14 || p.AlertRules != 5 {
		t.Fatalf("loaded %+v", p)
	}
	if c, err := Load(""); err != nil || c.Default != "free" {
		t.Fatalf("no file: %v %v", c.Default, err)
	}
	f := func(js, wantErr string) {
		t.Helper()
		if _, err := Parse([]byte(js)); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("%s: err %v, want %q", js, err, wantErr)
		}
	}
	f(`{"default":"x","plans":[]}`, "no plans")
	f(`{"default":"x","plans":[{"name":"a","retention_days":7,"max_query_days":7}]}`, `default plan "x"`)
	f(`{"default":"a","plans":[{"name":"a","retention_days":0,"max_query_days":7}]}`, "retention_days")
	f(`{"default":"a","plans":[{"name":"a","retention_days":7,"max_query_days":7},{"name":"a","retention_days":7,"max_query_days":7}]}`, "twice")
	f(`{"default":"a","plans":[{"name":"a","retention_days":7,"max_query_days":7,"price_cents":-1}]}`, "negative")
	f(`{"default":"a","plans":[{"name":"a","retention_days":7,"max_query_days":7,"retention":3}]}`, "unknown field")
}

func TestOverage(t *testing.T) {
	p := Plan{MonthlyEvents: 1_000_000, MonthlyBytes: 1 << 30, OverageCentsPerMillionEvents: 40, OverageCentsPerGB: 25}
	f := func(events, bytes, want int64) {
		t.Helper()
		if got := p.Overage(events, bytes); got != want {
			t.Fatalf("Overage(%d, %d) = %d, want %d", events, bytes, got, want)
		}
	}
	f(0, 0, 0)
	f(1_000_000, 1<<30, 0)
	f(2_000_000, 1<<30, 40)
	f(1_000_001, 1<<30, 1) // a fraction of a cent rounds up
	f(3_500_000, 3<<30, 100+50)
}
