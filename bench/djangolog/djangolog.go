// Package djangolog generates Django/Celery-style JSON log lines for the load
// generators in bench/: request logs, Celery task events and errors with
// Python tracebacks, in roughly production proportions.
package djangolog

import (
	"bytes"
	"fmt"
	"math/rand"
	"time"
)

// Generator writes Django/Celery-style JSON lines: request logs, Celery task
// events and errors with Python tracebacks, in roughly production proportions.
type Generator struct {
	r *rand.Rand
	n int
}

// Rand is the generator's random source, for callers that build other
// shapes of the same events (OTLP records, syslog frames).
func (g *Generator) Rand() *rand.Rand { return g.r }

// NewGenerator returns a Generator seeded with seed.
func NewGenerator(seed int64) *Generator { return &Generator{r: rand.New(rand.NewSource(seed))} }

// Paths and Hosts are the request paths and host names the events use.
var (
	Paths    = []string{"/api/orders/", "/api/orders/1842/", "/checkout/", "/accounts/login/", "/api/search/", "/static/app.js", "/healthz"}
	methods  = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	tasks    = []string{"orders.tasks.send_receipt", "billing.tasks.charge_card", "search.tasks.reindex", "mail.tasks.digest"}
	Hosts    = []string{"web-1", "web-2", "web-3", "worker-1", "worker-2"}
	excTypes = []string{"ValueError", "KeyError", "django.db.utils.OperationalError", "requests.exceptions.ConnectionError"}
)

// Line appends one NDJSON line to b.
func (g *Generator) Line(b *bytes.Buffer) {
	g.n++
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	reqID := fmt.Sprintf("%08x-%04x-%04x", g.r.Uint32(), g.r.Intn(1<<16), g.r.Intn(1<<16))
	host := Hosts[g.r.Intn(len(Hosts))]
	switch k := g.r.Intn(100); {
	case k < 70:
		status := 200
		level := "INFO"
		if s := g.r.Intn(100); s < 5 {
			status, level = 500, "ERROR"
		} else if s < 15 {
			status, level = 404, "WARNING"
		}
		fmt.Fprintf(b, `{"asctime":%q,"levelname":%q,"name":"django.request","message":"%s %s %d","request_id":%q,"method":%q,"path":%q,"status_code":%d,"duration_ms":%.1f,"user_id":%d,"service":"web","environment":"production","hostname":%q}`+"\n",
			now, level, methods[g.r.Intn(len(methods))], Paths[g.r.Intn(len(Paths))], status, reqID,
			methods[g.r.Intn(len(methods))], Paths[g.r.Intn(len(Paths))], status, g.r.ExpFloat64()*120, g.r.Intn(50000), host)
	case k < 95:
		task := tasks[g.r.Intn(len(tasks))]
		fmt.Fprintf(b, `{"asctime":%q,"levelname":"INFO","name":"celery.app.trace","message":"Task %s[%s] succeeded in %.3fs: None","task_id":%q,"task_name":%q,"runtime":%.3f,"service":"worker","environment":"production","hostname":%q}`+"\n",
			now, task, reqID, g.r.ExpFloat64(), reqID, task, g.r.ExpFloat64(), host)
	default:
		exc := excTypes[g.r.Intn(len(excTypes))]
		fmt.Fprintf(b, `{"asctime":%q,"levelname":"ERROR","name":"orders.views","message":"Unhandled exception in checkout","request_id":%q,"exc_info":"Traceback (most recent call last):\n  File \"/app/orders/views.py\", line 88, in checkout\n    order = place_order(request.user, cart)\n  File \"/app/orders/services.py\", line 142, in place_order\n    charge = gateway.charge(amount)\n  File \"/app/billing/gateway.py\", line 57, in charge\n    raise %s(\"card declined: insufficient funds\")\n%s: card declined: insufficient funds","service":"web","environment":"production","hostname":%q}`+"\n",
			now, reqID, exc, exc, host)
	}
}
