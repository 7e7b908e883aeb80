package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"testing"
	"time"

	sawmill "github.com/sawmillhq/sawmill/sdk/go"
)

// TestGoSDK ships 1,000 records through the Go SDK's slog handler to a
// whole stack and finds every one by search with its level, request id and
// attributes.
func TestGoSDK(t *testing.T) {
	st, _ := stack(t, nil)
	c := client{t: t, base: "http://" + st.Server.HTTPAddr()}
	a := c.signup("gopher@sdk.example")

	h := sawmill.NewHandler(sawmill.Options{
		URL: c.base, APIKey: a.key, Level: slog.LevelDebug,
		Service: "sdk-svc", Environment: "test", BatchEvents: 300,
		ErrorLog: log.New(os.Stderr, "sawmill sdk: ", 0),
	})
	l := slog.New(h).With("component", "checkout")
	const n = 1000
	for i := range n {
		ctx := sawmill.WithRequestID(context.Background(), fmt.Sprintf("req-sdk-%d", i))
		if i%10 == 0 {
			l.ErrorContext(ctx, "sdkgo payment failed", "i", i, "err", errors.New("card declined"), slog.Group("http", "method", "POST"))
		} else {
			l.InfoContext(ctx, "sdkgo request served", "i", i, "duration_ms", 12.5, slog.Group("http", "method", "GET"))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := h.Stats(); s.Sent != n || s.Dropped != 0 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}

	got := c.waitCount(a.key, "sdkgo", n)
	seen := map[float64]bool{}
	for _, e := range got {
		attrs, _ := e["attributes"].(map[string]any)
		i, _ := attrs["i"].(float64)
		seen[i] = true
		wantLevel, wantMethod := "info", "GET"
		if int(i)%10 == 0 {
			wantLevel, wantMethod = "error", "POST"
		}
		if e["level"] != wantLevel || e["request_id"] != fmt.Sprintf("req-sdk-%d", int(i)) || e["service"] != "sdk-svc" ||
			e["environment"] != "test" || attrs["component"] != "checkout" || attrs["http.method"] != wantMethod {
			t.Fatalf("event %v", e)
		}
		if wantLevel == "error" {
			if ex, _ := e["exception"].(map[string]any); ex["message"] != "card declined" {
				t.Fatalf("error attribute not the exception message: %v", e)
			}
		} else if attrs["duration_ms"] != 12.5 {
			t.Fatalf("numeric attribute: %v", e)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records of %d", len(seen), n)
	}
}
