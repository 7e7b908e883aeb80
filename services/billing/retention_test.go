package billing

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/auth"
	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/plan"
	"github.com/sawmillhq/sawmill/pkg/store"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestExpired(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	now := time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		days uint16
		day  time.Time
		want bool
	}{
		{7, day(12), true},   // kept through the 19th
		{7, day(13), false},  // kept through the 20th, today
		{7, day(20), false},  // today
		{3, day(16), true},   // kept through the 19th
		{3, day(17), false},  // kept through today
		{30, day(1), false},  // kept through Dec 1
		{1, day(18), true},   // kept through the 19th
		{0, day(19), true},   // class 0: only today's partition survives
		{0, day(20), false},  // today
		{365, day(1), false}, // a year
	}
	for _, tc := range tests {
		p := store.Partition{RetentionDays: tc.days, Day: tc.day}
		if got := expired(p, now); got != tc.want {
			t.Errorf("expired(%s, %s) = %v, want %v", p, now, got, tc.want)
		}
	}
	// The UTC day decides, not the local one.
	if expired(store.Partition{RetentionDays: 7, Day: day(13)}, now.In(time.FixedZone("X", 5*3600))) {
		t.Error("a clock in another zone changed the day")
	}
}

// The job drops exactly the partitions past their class and nothing else.
func TestEnforceRetention(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(t), Database: testenv.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	var rows []store.Row
	var want []string // partitions left after the run
	for i, class := range []uint16{3, 7, 30} {
		for j, ago := range []int{0, 2, 3, 4, 7, 8, 29, 30, 31, 45} {
			ts := now.AddDate(0, 0, -ago)
			for k := range 3 {
				rows = append(rows, store.Row{Tenant: "acme", RetentionDays: class, Seq: uint64(1 + i*100 + j), Idx: uint32(k),
					Event: event.Event{Time: ts.UnixNano(), ObservedTime: ts.UnixNano(), Message: "m", Level: event.LevelInfo}})
			}
			if ago <= int(class) {
				want = append(want, store.Partition{RetentionDays: class, Day: ts.Truncate(24 * time.Hour)}.String())
			}
		}
	}
	if err := st.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	svc := New(Config{}, quietLog, nil, &auth.Authenticator{}, plan.Builtin(), st)
	svc.SetClock(func() time.Time { return now })
	dropped, err := svc.EnforceRetention(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 30-len(want) {
		t.Errorf("dropped %d partitions (%v), want %d", len(dropped), dropped, 30-len(want))
	}
	left, err := st.LogPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range left {
		got = append(got, p.String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("partitions left = %v\nwant %v", got, want)
	}
	// Rows survive exactly in the kept partitions: 3 per partition.
	if n, err := st.TenantRows(ctx, "acme"); err != nil || n != uint64(3*len(want)) {
		t.Fatalf("rows left = %d (%v), want %d", n, err, 3*len(want))
	}
	// A second run finds nothing more to drop.
	if again, err := svc.EnforceRetention(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second run dropped %v (%v)", again, err)
	}
}

// RunRetention runs at once on start and stops with its context.
func TestRunRetentionStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, store.Config{Addr: testenv.ClickHouse(t), Database: testenv.Database(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := st.Insert(ctx, []store.Row{{Tenant: "acme", RetentionDays: 7, Seq: 1,
		Event: event.Event{Time: old.UnixNano(), ObservedTime: old.UnixNano(), Message: "m"}}}); err != nil {
		t.Fatal(err)
	}
	svc := New(Config{}, quietLog, nil, &auth.Authenticator{}, plan.Builtin(), st)
	done := make(chan struct{})
	go func() { svc.RunRetention(ctx, time.Hour); close(done) }()
	// The first run happens at start, not after an hour; 10 s only bounds a
	// broken job on a loaded machine.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, err := st.TenantRows(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired partition still there 10 s after start")
		}
	}
	cancel()
	<-done
}
