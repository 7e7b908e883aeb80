package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
)

// Usage is metered by the insert itself, per hour of ingestion, per tenant.
func TestUsageMetering(t *testing.T) {
	s := migratedStore(t)
	ctx := context.Background()
	h0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	row := func(tenant string, observed time.Time, msg string, idx uint32) Row {
		e := event.Event{Time: h0.Add(-48 * time.Hour).UnixNano(), ObservedTime: observed.UnixNano(), Message: msg}
		return Row{Tenant: tenant, RetentionDays: 7, Seq: 1, Idx: idx, Event: e}
	}
	var rows []Row
	var wantBytes [2]uint64
	for i := uint32(0); i < 10; i++ {
		at := h0.Add(time.Duration(i) * 10 * time.Minute) // 09:00 .. 10:30
		r := row("ta", at, "message number", i)
		rows = append(rows, r)
		if at.Before(h0.Add(time.Hour)) {
			wantBytes[0] += uint64(r.Size())
		} else {
			wantBytes[1] += uint64(r.Size())
		}
	}
	rows = append(rows, row("tb", h0, "other tenant", 99))
	insert(t, s, rows[:5])
	insert(t, s, rows[5:])

	got, err := s.Usage(ctx, "ta", h0.Add(-time.Hour), h0.Add(3*time.Hour), Hourly)
	if err != nil {
		t.Fatal(err)
	}
	want := []UsageRow{{Start: h0, Events: 6, Bytes: wantBytes[0]}, {Start: h0.Add(time.Hour), Events: 4, Bytes: wantBytes[1]}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("hourly usage %+v, want %+v", got, want)
	}
	got, err = s.Usage(ctx, "ta", h0.Add(-24*time.Hour), h0.Add(24*time.Hour), Daily)
	if err != nil {
		t.Fatal(err)
	}
	want = []UsageRow{{Start: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), Events: 10, Bytes: wantBytes[0] + wantBytes[1]}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("daily usage %+v, want %+v", got, want)
	}
	// The usage equals what is stored, whatever the event timestamps.
	var stored, storedBytes uint64
	res, err := s.Query(ctx, "SELECT count(), sum(toUInt64(size_bytes)) FROM logs WHERE tenant_id = 'ta'")
	if err != nil {
		t.Fatal(err)
	}
	res.Next()
	res.Scan(&stored, &storedBytes)
	res.Close()
	if stored != 10 || storedBytes != wantBytes[0]+wantBytes[1] {
		t.Fatalf("stored %d rows / %d bytes", stored, storedBytes)
	}
	if _, err := s.Usage(ctx, "ta", h0, h0, "week"); err == nil {
		t.Fatal("unknown granularity accepted")
	}
}
