package main

import "github.com/sawmillhq/sawmill/bench/djangolog"

// generator is the shared Django/Celery event generator, extended here with
// the OTLP and syslog shapes (protocols.go).
type generator struct{ *djangolog.Generator }
