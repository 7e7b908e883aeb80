package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func searchCommand() clientCommand {
	return clientCommand{
		name:    "search",
		summary: "search events, or tabulate them with | stats and | timechart",
		usage:   "search [flags] QUERY...",
		help: `
Searches the tenant's events (newest first) in Sawmill's query language (see
docs/query.md); the words of QUERY are joined with spaces, so quote pipes for
the shell. Each event prints as one line: time level service message
key=value... (with an exception's stack indented below). A query with a
"| stats" or "| timechart" pipe prints a table. --json prints each page of
the API's answer as-is, one JSON object per line.

--from and --to take RFC 3339 times (2026-11-26T09:00:00Z), dates
(2026-11-26, UTC), "now", or a duration before now: -15m, -1h, -2d, -1w.
Without --all one page is printed (at most --limit events) and stderr says
when there is more; --all follows the cursors to the end.

Examples:
  sawmill search level:error
  sawmill search 'service:web "connection refused"' --from -24h --limit 20
  sawmill search --from 2026-11-26T09:00:00Z --to 2026-11-26T10:00:00Z request_id:req-42
  sawmill search 'level:error | stats count() by service'
  sawmill search '| timechart 5m count() by level' --from -6h
  sawmill search level:error --all --json | jq -c '.events[]'`,
		flags: func(c *cli, fs *flag.FlagSet) func([]string) error {
			from := fs.String("from", "-1h", "start of the time range (inclusive)")
			to := fs.String("to", "now", "end of the time range (exclusive)")
			limit := fs.Int("limit", 100, "events per page, at most 1000 (for a table: groups kept)")
			all := fs.Bool("all", false, "follow the cursors and print every page")
			return func(args []string) error {
				if *limit < 0 {
					return usagef("search: --limit must not be negative")
				}
				t := time.Now()
				f, err := parseTimeArg(*from, t)
				if err != nil {
					return usagef("search: --from: %v", err)
				}
				u, err := parseTimeArg(*to, t)
				if err != nil {
					return usagef("search: --to: %v", err)
				}
				if !f.Before(u) {
					return usagef("search: --from (%s) must be before --to (%s)", f.Format(time.RFC3339), u.Format(time.RFC3339))
				}
				return c.search(strings.Join(args, " "), f, u, *limit, *all)
			}
		},
	}
}

// parseTimeArg reads an RFC 3339 time, a date (UTC), "now" or a duration
// before now ("-1h", "1h", "-2d", "-1w").
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" || s == "" {
		return now, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	d := strings.TrimPrefix(s, "-")
	mult := time.Duration(1)
	switch {
	case strings.HasSuffix(d, "d"):
		d, mult = strings.TrimSuffix(d, "d")+"h", 24
	case strings.HasSuffix(d, "w"):
		d, mult = strings.TrimSuffix(d, "w")+"h", 24*7
	}
	dur, err := time.ParseDuration(d)
	if err != nil || dur < 0 {
		return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-11-26T09:00:00Z), a date, now, or -15m/-1h/-2d", s)
	}
	return now.Add(-dur * mult), nil
}

// searchPage is one answer of POST /v1/search.
type searchPage struct {
	Events     []map[string]any `json:"events"`
	NextCursor string           `json:"next_cursor"`
	Columns    []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"columns"`
	Rows [][]any `json:"rows"`
}

func (c *cli) search(query string, from, to time.Time, limit int, all bool) error {
	bearer, err := c.credential(true)
	if err != nil {
		return err
	}
	cursor := ""
	for {
		var page searchPage
		raw, err := c.call(request{method: "POST", path: "/v1/search", bearer: bearer, body: map[string]any{
			"query": query, "from": from.UTC().Format(time.RFC3339Nano), "to": to.UTC().Format(time.RFC3339Nano),
			"limit": limit, "cursor": cursor,
		}}, &page)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		switch {
		case c.json:
			c.printJSON(raw)
		case len(page.Columns) > 0:
			if err := printTable(c.stdout, page); err != nil {
				return err
			}
		default:
			for _, ev := range page.Events {
				writeEvent(c.stdout, ev)
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		if !all {
			if !c.json {
				fmt.Fprintln(c.stderr, "(more events: --all prints every page, or narrow --from/--to)")
			}
			return nil
		}
		cursor = page.NextCursor
	}
}

// printTable writes a | stats or | timechart answer as aligned columns. A
// null group value is the "other" row; a null aggregate prints as "-".
func printTable(w io.Writer, page searchPage) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	names := make([]string, len(page.Columns))
	for i, col := range page.Columns {
		names[i] = col.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	for _, row := range page.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			typ := ""
			if i < len(page.Columns) {
				typ = page.Columns[i].Type
			}
			cells[i] = cellText(v, typ)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func cellText(v any, typ string) string {
	switch x := v.(type) {
	case nil:
		if typ == "string" {
			return "(other)"
		}
		return "-"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		if x == "" {
			return `""`
		}
		return x
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// eventFields are printed as key=value after the message, in this order,
// before the attributes.
var eventFields = []string{"environment", "host", "logger", "trace_id", "span_id", "request_id"}

// writeEvent prints one API event as "time level service message
// key=value...", then an exception's stack indented.
func writeEvent(w io.Writer, ev map[string]any) {
	var b strings.Builder
	b.WriteString(eventTime(str(ev["timestamp"])))
	fmt.Fprintf(&b, " %-5s %s %s", strings.ToUpper(orDash(str(ev["level"]))), orDash(str(ev["service"])),
		strings.ReplaceAll(strings.TrimRight(str(ev["message"]), "\n"), "\n", "\n    "))
	for _, f := range eventFields {
		if v := str(ev[f]); v != "" {
			writeKV(&b, f, v)
		}
	}
	if attrs, ok := ev["attributes"].(map[string]any); ok {
		keys := make([]string, 0, len(attrs))
		for k := range attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			writeKV(&b, k, cellText(attrs[k], ""))
		}
	}
	var stack string
	if exc, ok := ev["exception"].(map[string]any); ok {
		if t := str(exc["type"]); t != "" {
			writeKV(&b, "exception.type", t)
		}
		if m := str(exc["message"]); m != "" {
			writeKV(&b, "exception.message", m)
		}
		stack = strings.TrimRight(str(exc["stack"]), "\n")
	}
	b.WriteByte('\n')
	if stack != "" {
		for _, line := range strings.Split(stack, "\n") {
			b.WriteString("    ")
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	io.WriteString(w, b.String())
}

// eventTime shortens an RFC 3339 timestamp to milliseconds, UTC.
func eventTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return orDash(s)
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// writeKV appends " key=value", quoting a value that is empty or holds
// spaces, quotes, '=' or control characters.
func writeKV(b *strings.Builder, k, v string) {
	b.WriteByte(' ')
	b.WriteString(k)
	b.WriteByte('=')
	if v == "" || strings.ContainsAny(v, " \t\n\r\"=") || !strconv.CanBackquote(v) {
		v = strconv.Quote(v)
	}
	b.WriteString(v)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
