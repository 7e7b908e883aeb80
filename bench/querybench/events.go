package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/sawmillhq/sawmill/pkg/event"
	"github.com/sawmillhq/sawmill/pkg/store"
)

// rareTerm appears in rareEvery-th event of the measured tenant only: the
// rare-term search looks for it.
const (
	rareTerm  = "frobnicator-overflow"
	rareEvery = 100_000
)

var paths = []string{
	"/api/v1/orders/", "/api/v1/users/", "/api/v1/cart", "/api/v1/search", "/healthz", "/admin/login/",
	"/api/v1/payments/", "/api/v1/invoices/", "/static/app.js", "/api/v1/products/",
}

var tasks = []string{"app.tasks.send_email", "app.tasks.resize_image", "billing.tasks.charge", "app.tasks.sync_crm"}

// generator makes Django request lines and Celery task lines for three
// tenants in time order over [start, start+span): request logs with path,
// status, user and duration, Celery task receipts and successes, and errors
// with Python tracebacks, in roughly production proportions.
type generator struct {
	rng          *rand.Rand
	start        time.Time
	step         float64 // nanoseconds between consecutive events
	i            int
	seq          uint64
	lastRequests []string // request ids of the measured tenant, for lookups
}

func newGenerator(seed uint64, start time.Time, span time.Duration, total int) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, seed)), start: start, step: float64(span) / float64(total)}
}

// batch returns the next n rows; every third row belongs to the measured
// tenant ("bench0"), the rest to two neighbours.
func (g *generator) batch(n int) []store.Row {
	g.seq++
	rows := make([]store.Row, n)
	for k := range rows {
		tenant := "bench" + strconv.Itoa(g.i%3)
		e := g.event(tenant == "bench0" && (g.i/3)%rareEvery == rareEvery/2)
		e.Time = g.start.Add(time.Duration(float64(g.i) * g.step)).UnixNano()
		if tenant == "bench0" && e.RequestID != "" && len(g.lastRequests) < 1000 && g.rng.IntN(100) == 0 {
			g.lastRequests = append(g.lastRequests, e.RequestID)
		}
		rows[k] = store.Row{Tenant: tenant, RetentionDays: 30, Seq: g.seq, Idx: uint32(k), Event: e}
		g.i++
	}
	return rows
}

func (g *generator) event(rare bool) event.Event {
	r := g.rng
	host := "web-" + strconv.Itoa(r.IntN(6))
	reqID := fmt.Sprintf("req-%016x", r.Uint64())
	var e event.Event
	switch x := r.IntN(100); {
	case x < 70: // request log
		path := paths[r.IntN(len(paths))]
		status := []int{200, 200, 200, 200, 201, 204, 301, 404, 403, 500}[r.IntN(10)]
		d := math.Round(r.ExpFloat64()*80*10) / 10
		e = event.Event{Level: "info", Message: fmt.Sprintf("%s %s%d HTTP/1.1 %d", []string{"GET", "POST"}[r.IntN(2)], path, r.IntN(5000), status),
			Service: "web", Host: host, Logger: "django.request", RequestID: reqID}
		if status >= 500 {
			e.Level = "error"
			e.Exception = event.Exception{Type: "django.db.utils.OperationalError", Message: "could not connect to server",
				Stack: "Traceback (most recent call last):\n  File \"/app/views.py\", line 42, in get\n    return Order.objects.get(pk=pk)\n"}
		} else if status >= 400 {
			e.Level = "warn"
		}
		e.Attrs = []event.Attr{{Key: "http.path", Value: path}, {Key: "status_code", Value: strconv.Itoa(status)},
			{Key: "user_id", Value: strconv.Itoa(r.IntN(20000))}, {Key: "duration_ms", Value: strconv.FormatFloat(d, 'f', -1, 64)}}
		e.NumAttrs = []event.NumAttr{{Key: "status_code", Value: float64(status)}, {Key: "duration_ms", Value: d}}
	case x < 95: // celery
		task := tasks[r.IntN(len(tasks))]
		id := fmt.Sprintf("%08x", r.Uint32())
		e = event.Event{Level: "info", Message: fmt.Sprintf("Task %s[%s] succeeded in %.3fs: None", task, id, r.Float64()*3),
			Service: "worker", Host: "worker-" + strconv.Itoa(r.IntN(4)), Logger: "celery.app.trace",
			Attrs: []event.Attr{{Key: "task_id", Value: id}, {Key: "task", Value: task}}}
		if r.IntN(20) == 0 {
			e.Level, e.Message = "error", fmt.Sprintf("Task %s[%s] raised unexpected: TimeoutError('SMTP timeout')", task, id)
		}
	default: // debug SQL
		e = event.Event{Level: "debug", Message: fmt.Sprintf("(0.%03d) SELECT \"orders\".\"id\" FROM \"orders\" WHERE \"orders\".\"user_id\" = %d", r.IntN(1000), r.IntN(20000)),
			Service: "web", Host: host, Logger: "django.db.backends", RequestID: reqID}
	}
	e.Environment = "production"
	e.SeverityNumber, _ = event.ParseLevel(e.Level)
	if rare {
		e.Message += " " + rareTerm
	}
	return e
}
