package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// openStore opens a Store on a fresh database of the shared test server.
func openStore(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	cfg.Addr = testenv.ClickHouse(tb)
	if cfg.Database == "" {
		cfg.Database = testenv.Database(tb)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// migratedStore is openStore plus Migrate.
func migratedStore(tb testing.TB) *Store {
	tb.Helper()
	s := openStore(tb, Config{})
	if err := s.Migrate(context.Background()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

// base is a fixed instant rows are generated around (2026-11-01 12:00 UTC).
var base = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var (
	paths    = []string{"/api/v1/orders/", "/api/v1/users/", "/healthz", "/admin/login/", "/api/v1/search"}
	methods  = []string{"GET", "POST", "PUT", "DELETE"}
	services = []string{"web", "worker", "beat"}
	loggers  = []string{"django.request", "celery.worker", "app.payments", "django.db.backends"}
	texts    = []string{
		"Internal Server Error: %s",
		"%s handled",
		"Task app.tasks.send_email[%s] succeeded",
		"Zahlung fehlgeschlagen für Kunde %s — Überweisung abgelehnt",
		"ユーザー %s のログインに失敗しました 🚫",
		"quote ' double \" backslash \\ tab \t newline \n in %s",
	}
)

// realisticRow returns a Django/Celery-like row: a request log with string
// and numeric attributes, and every tenth an exception with a stack. Times
// fall in the hour after base and retention is 7 days, as in a writer's
// batch: one partition per insert, since each partition is a part to write.
func realisticRow(rng *rand.Rand, tenant string, seq uint64, idx uint32) Row {
	path := paths[rng.IntN(len(paths))] + fmt.Sprint(rng.IntN(100000))
	status := []int{200, 200, 200, 201, 302, 404, 500}[rng.IntN(7)]
	dur := float64(rng.IntN(500000)) / 1000
	t := base.Add(time.Duration(rng.Int64N(int64(time.Hour))))
	e := event.Event{
		Time:           t.UnixNano(),
		ObservedTime:   t.Add(time.Duration(rng.IntN(1e9))).UnixNano(),
		Level:          event.LevelInfo,
		SeverityNumber: 9,
		Message:        fmt.Sprintf(texts[rng.IntN(len(texts))], path),
		Service:        services[rng.IntN(len(services))],
		Environment:    "production",
		Host:           fmt.Sprintf("web-%d", rng.IntN(8)),
		Logger:         loggers[rng.IntN(len(loggers))],
		TraceID:        fmt.Sprintf("%032x", rng.Uint64()),
		SpanID:         fmt.Sprintf("%016x", rng.Uint64()),
		RequestID:      fmt.Sprintf("req-%08x", rng.Uint32()),
		Attrs: []event.Attr{
			{Key: "http.method", Value: methods[rng.IntN(len(methods))]},
			{Key: "http.path", Value: path},
			{Key: "status_code", Value: fmt.Sprint(status)},
			{Key: "duration_ms", Value: fmt.Sprint(dur)},
			{Key: "user_id", Value: fmt.Sprint(rng.IntN(5000))},
		},
		NumAttrs: []event.NumAttr{{Key: "status_code", Value: float64(status)}, {Key: "duration_ms", Value: dur}},
	}
	if status == 500 || rng.IntN(10) == 0 {
		e.Level, e.SeverityNumber = event.LevelError, 17
		e.Exception = event.Exception{
			Type:    "django.db.utils.OperationalError",
			Message: "could not connect to server: Connection refused",
			Stack: strings.Repeat("  File \"/app/views.py\", line 42, in get\n    return Order.objects.get(pk=pk)\n", 1+rng.IntN(8)) +
				"django.db.utils.OperationalError: could not connect to server",
		}
	}
	return Row{Tenant: tenant, RetentionDays: 7, Seq: seq, Idx: idx, Event: e}
}

// realisticRows returns n rows, msgSize rows per JetStream message, the
// first carried by message firstSeq.
func realisticRows(seed uint64, tenant string, firstSeq uint64, n, msgSize int) []Row {
	rng := rand.New(rand.NewPCG(seed, 0))
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = realisticRow(rng, tenant, firstSeq+uint64(i/msgSize), uint32(i%msgSize))
	}
	return rows
}
