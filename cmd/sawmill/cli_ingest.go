package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func ingestCommand() clientCommand {
	return clientCommand{
		name:    "ingest",
		summary: "ship log lines from files or stdin",
		usage:   "ingest [flags] [FILE...]",
		help: `
Sends each line of the FILEs (or of stdin when there is none, or for "-") to
POST /v1/ingest, in gzipped NDJSON batches. A line starting with "{" is sent
as it is (a JSON log record: python-json-logger, structlog, slog, pino ...);
any other line becomes {"message": line} (with --service), stamped with the
time it arrives. Empty lines are skipped. From a pipe that stays open, a
batch goes out at least every second. Batches refused with 429 or 503 are
retried after Retry-After with the same Idempotency-Key, so nothing is
stored twice.

Prints how many lines were accepted and rejected, and each rejected line as
FILE:LINE: reason on stderr. Exit code 1 when any line was rejected. --json
prints {"accepted", "rejected", "errors": [{"file", "line", "index",
"reason"}]} (line is 1-based, index the 0-based line of its file).

"sawmill ingest" without a file, a client flag or piped input runs the
ingest server role (flags: sawmill dev -h); "sawmill ingest -" always reads
stdin.

Examples:
  sawmill ingest app.log
  python manage.py runserver 2>&1 | sawmill ingest --service web
  kubectl logs -f deploy/worker | sawmill ingest --key "$SAWMILL_API_KEY" -
  sawmill ingest --json events.ndjson`,
		flags: func(c *cli, fs *flag.FlagSet) func([]string) error {
			service := fs.String("service", "", "service of plain-text lines")
			batch := fs.Int("batch", 1000, "lines per request, 1 to 10000")
			return func(args []string) error {
				if *batch < 1 || *batch > 10000 {
					return usagef("ingest: --batch must be between 1 and 10000")
				}
				if len(args) == 0 {
					args = []string{"-"}
				}
				return c.ingest(args, *service, *batch)
			}
		},
	}
}

// Ingest bounds.
const (
	ingestMaxLine    = 1 << 20 // longer lines are rejected here, never sent
	ingestBatchBytes = 4 << 20 // uncompressed bytes per request (the API takes 10 MiB)
	ingestFlushEvery = time.Second
	ingestTries      = 5
)

// inputLine is one line read from a file.
type inputLine struct {
	src  string
	no   int    // 1-based
	text []byte // nil with err
	err  string // a line refused before sending
}

// lineError is a rejected line, for the report.
type lineError struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

type ingestTotals struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []lineError `json:"errors"`
}

func (c *cli) ingest(files []string, service string, batchLines int) error {
	bearer, err := c.credential(true)
	if err != nil {
		return err
	}
	lines := make(chan inputLine, batchLines)
	readErr := make(chan error, 1)
	go func() { readErr <- c.readInputs(files, lines) }()
	defer func() {
		go func() {
			for range lines {
			}
		}()
	}() // unblock the reader on an early return

	var totals ingestTotals
	var batch []inputLine
	var body bytes.Buffer
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.sendBatch(bearer, batch, body.Bytes(), &totals)
		batch, body = batch[:0], bytes.Buffer{}
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			if l.err != "" {
				totals.Rejected++
				totals.Errors = append(totals.Errors, lineError{File: l.src, Line: l.no, Index: l.no - 1, Reason: l.err})
				continue
			}
			if len(batch) == 0 {
				timer.Reset(ingestFlushEvery)
			}
			batch = append(batch, l)
			appendNDJSON(&body, l.text, service)
			if len(batch) >= batchLines || body.Len() >= ingestBatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-timer.C:
			if err := flush(); err != nil {
				return err
			}
		case <-c.ctx.Done():
			_ = c.reportIngest(totals)
			return fmt.Errorf("ingest interrupted: %d lines read were not sent", len(batch))
		}
	}
	timer.Stop()
	if err := flush(); err != nil {
		return err
	}
	if err := <-readErr; err != nil {
		return err
	}
	return c.reportIngest(totals)
}

func (c *cli) reportIngest(t ingestTotals) error {
	if c.json {
		if t.Errors == nil {
			t.Errors = []lineError{}
		}
		b, _ := json.Marshal(t)
		c.printJSON(b)
	} else {
		for _, e := range t.Errors {
			fmt.Fprintf(c.stderr, "%s:%d: %s\n", e.File, e.Line, e.Reason)
		}
		fmt.Fprintf(c.stdout, "accepted %d, rejected %d\n", t.Accepted, t.Rejected)
	}
	if t.Rejected > 0 {
		return errReported
	}
	return nil
}

// readInputs sends every non-empty line of the files ("-": stdin) to out
// and closes it.
func (c *cli) readInputs(files []string, out chan<- inputLine) error {
	defer close(out)
	for _, name := range files {
		var r io.Reader = c.stdin
		src := "stdin"
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			r, src = f, name
			err = c.readLines(src, r, out)
			f.Close()
			if err != nil {
				return err
			}
			continue
		}
		if err := c.readLines(src, r, out); err != nil {
			return err
		}
	}
	return nil
}

// readLines splits r into lines of at most ingestMaxLine bytes.
func (c *cli) readLines(src string, r io.Reader, out chan<- inputLine) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for no := 1; ; no++ {
		var line []byte
		tooLong := false
		for {
			frag, err := br.ReadSlice('\n')
			if !tooLong {
				if len(line)+len(frag) > ingestMaxLine+2 {
					tooLong, line = true, nil
				} else {
					line = append(line, frag...)
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("ingest: read %s: %w", src, err)
			}
			if err != nil && len(line) == 0 && !tooLong {
				return nil // EOF
			}
			break
		}
		l := inputLine{src: src, no: no, text: bytes.TrimRight(line, "\r\n")}
		if tooLong {
			l.text, l.err = nil, fmt.Sprintf("line longer than %d bytes, not sent", ingestMaxLine)
		} else if len(bytes.TrimSpace(l.text)) == 0 {
			continue
		}
		select {
		case out <- l:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
}

// appendNDJSON appends one line: a JSON object as-is, any other text as
// {"message": text}.
func appendNDJSON(b *bytes.Buffer, text []byte, service string) {
	if t := bytes.TrimSpace(text); len(t) > 0 && t[0] == '{' {
		b.Write(t)
	} else {
		rec := map[string]string{"message": string(text)}
		if service != "" {
			rec["service"] = service
		}
		j, _ := json.Marshal(rec)
		b.Write(j)
	}
	b.WriteByte('\n')
}

// sendBatch posts one gzipped batch, retrying 429, 503 and network errors
// with the same Idempotency-Key, and adds the answer to totals.
func (c *cli) sendBatch(bearer string, batch []inputLine, ndjson []byte, totals *ingestTotals) error {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ndjson)
	if err := zw.Close(); err != nil {
		return fmt.Errorf("ingest: gzip: %w", err)
	}
	idem := make([]byte, 16)
	rand.Read(idem)
	h := http.Header{
		"Content-Type":     {"application/x-ndjson"},
		"Content-Encoding": {"gzip"},
		"Idempotency-Key":  {hex.EncodeToString(idem)},
	}
	var answer struct {
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
		Errors   []struct {
			Index  int    `json:"index"`
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	for try := 1; ; try++ {
		_, err := c.call(request{method: "POST", path: "/v1/ingest", bearer: bearer, body: gz.Bytes(), header: h}, &answer)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && json.Unmarshal(ae.Details, &answer) == nil && answer.Rejected > 0 {
			err = nil // no line was valid: the answer is in details
		}
		if err == nil {
			break
		}
		retryable := !errors.As(err, &ae) || ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable
		if !retryable || try == ingestTries || c.ctx.Err() != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		wait := time.Duration(try) * time.Second
		if ae != nil && ae.retryAfter > 0 {
			wait = ae.retryAfter
		}
		fmt.Fprintf(c.stderr, "sawmill: %v; retrying in %s\n", err, wait)
		select {
		case <-time.After(wait):
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
	totals.Accepted += answer.Accepted
	totals.Rejected += answer.Rejected
	for _, e := range answer.Errors {
		le := lineError{Reason: e.Reason, Index: e.Index}
		if e.Index >= 0 && e.Index < len(batch) {
			le.File, le.Line, le.Index = batch[e.Index].src, batch[e.Index].no, batch[e.Index].no-1
		}
		totals.Errors = append(totals.Errors, le)
	}
	return nil
}
