package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

func tailCommand() clientCommand {
	return clientCommand{
		name:    "tail",
		summary: "print the latest events, or follow them live (-f)",
		usage:   "tail [-f] [-n N] [QUERY...]",
		help: `
Without -f, prints the last -n events of the past hour that match QUERY,
oldest first. With -f, follows new matching events live (Server-Sent Events
from GET /v1/tail) and prints each as it is stored, until Ctrl-C. When this
client reads too slowly the server drops lines and says how many: that count
is printed on stderr ({"missed": N} on stdout with --json). A broken
connection is resumed after the last event printed. --json prints each event
as the API's JSON, one object per line.

Examples:
  sawmill tail -f
  sawmill tail -f level:error service:web
  sawmill tail -f --json 'request_id:req-42' | jq .message
  sawmill tail -n 50 level:warn`,
		flags: func(c *cli, fs *flag.FlagSet) func([]string) error {
			follow := fs.Bool("f", false, "follow: print new events as they arrive, until Ctrl-C")
			n := fs.Int("n", 10, "without -f: how many of the latest events to print (at most 1000)")
			return func(args []string) error {
				query := strings.Join(args, " ")
				if *follow {
					return c.follow(query)
				}
				if *n < 1 || *n > 1000 {
					return usagef("tail: -n must be between 1 and 1000")
				}
				return c.last(query, *n)
			}
		},
	}
}

// last prints the newest n matching events of the past hour, oldest first.
func (c *cli) last(query string, n int) error {
	bearer, err := c.credential(true)
	if err != nil {
		return err
	}
	t := time.Now()
	var page searchPage
	raw, err := c.call(request{method: "POST", path: "/v1/search", bearer: bearer, body: map[string]any{
		"query": query, "from": t.Add(-time.Hour).UTC().Format(time.RFC3339Nano),
		"to": t.Add(time.Second).UTC().Format(time.RFC3339Nano), "limit": n,
	}}, &page)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	if len(page.Columns) > 0 {
		return usagef("tail: a query with a pipe makes a table: use sawmill search")
	}
	if c.json {
		var evs struct {
			Events []json.RawMessage `json:"events"`
		}
		_ = json.Unmarshal(raw, &evs)
		for i := len(evs.Events) - 1; i >= 0; i-- {
			c.printJSON(evs.Events[i])
		}
		return nil
	}
	for i := len(page.Events) - 1; i >= 0; i-- {
		writeEvent(c.stdout, page.Events[i])
	}
	return nil
}

// tailReconnect is the pause before resuming a broken tail.
const tailReconnect = 2 * time.Second

// follow streams GET /v1/tail until the context ends. A dropped connection
// is resumed from the last event id; an error answer ends it.
func (c *cli) follow(query string) error {
	bearer, err := c.credential(true)
	if err != nil {
		return err
	}
	var lastID string
	for {
		err := c.tailOnce(query, bearer, &lastID)
		if c.ctx.Err() != nil {
			return nil // Ctrl-C
		}
		var ae *apiError
		if errors.As(err, &ae) || errors.As(err, new(streamError)) {
			return fmt.Errorf("tail: %w", err)
		}
		fmt.Fprintf(c.stderr, "sawmill: tail interrupted (%v); reconnecting in %s\n", err, tailReconnect)
		select {
		case <-c.ctx.Done():
			return nil
		case <-time.After(tailReconnect):
		}
	}
}

// streamError is an "event: error" frame: the server ended the stream.
type streamError struct{ msg string }

func (e streamError) Error() string { return e.msg }

// tailOnce reads one SSE connection, printing what it delivers and keeping
// lastID current.
func (c *cli) tailOnce(query, bearer string, lastID *string) error {
	h := http.Header{"Accept": {"text/event-stream"}}
	if *lastID != "" {
		h.Set("Last-Event-ID", *lastID)
	}
	resp, err := c.send(request{method: "GET", path: "/v1/tail?query=" + url.QueryEscape(query), bearer: bearer, header: h})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var event, id string
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the server closed the stream")
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if len(data) > 0 {
				if err := c.tailFrame(event, strings.Join(data, "\n")); err != nil {
					return err
				}
				if id != "" {
					*lastID = id
				}
			}
			event, id, data = "", "", nil
		case strings.HasPrefix(line, ":"):
			if strings.HasPrefix(line, ": tail started") && !c.json {
				fmt.Fprintf(c.stderr, "tailing %q on %s (Ctrl-C ends)\n", query, c.baseURL())
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "data":
				data = append(data, value)
			case "id":
				id = value
			}
		}
	}
}

// tailFrame prints one SSE frame.
func (c *cli) tailFrame(event, data string) error {
	switch event {
	case "", "message":
		if c.json {
			c.printJSON([]byte(data))
			return nil
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("decode tail event: %w", err)
		}
		writeEvent(c.stdout, ev)
	case "missed":
		if c.json {
			c.printJSON([]byte(data))
			return nil
		}
		var m struct {
			Missed int64 `json:"missed"`
		}
		_ = json.Unmarshal([]byte(data), &m)
		fmt.Fprintf(c.stderr, "sawmill: missed %d events (this client read too slowly)\n", m.Missed)
	case "error":
		var e apiError
		if json.Unmarshal([]byte(data), &e) != nil || e.Message == "" {
			return streamError{"the server ended the stream: " + data}
		}
		return streamError{fmt.Sprintf("the server ended the stream: %s (%s)", e.Message, e.Code)}
	}
	return nil
}
