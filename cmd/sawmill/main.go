// Command sawmill runs one role of the Sawmill logging service — ingest,
// query, billing — or all of them in one process (dev), with an embedded
// NATS server and a private ClickHouse server when none is configured.
//
//	sawmill dev      # everything on 127.0.0.1:8080 (HTTP) and :4317 (gRPC)
//	sawmill ingest   # edges and writer
//	sawmill query
//	sawmill billing
//
// The same binary is the command-line client: sawmill signup, login, keys,
// search, tail -f and ingest (see "sawmill help" and docs/cli.md).
//
// Every flag can also be set by environment: -http.addr by SAWMILL_HTTP_ADDR.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sawmill:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	// Client commands (and help) first: "sawmill search ...", and "sawmill
	// ingest FILE" or piped input (see isClientCommand).
	if isClientCommand(args, os.Stdin) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := runCLI(ctx, args, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
		stop()
		if code != exitOK {
			os.Exit(code) // the client printed its error; 2 means usage
		}
		return nil
	}
	cfg, err := parseConfig(args[0], args[1:], nil)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log := newLogger(cfg.LogLevel)
	setGCPercent(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	if cfg.Role == "dev" {
		printWelcome(os.Stdout, st)
	}
	<-ctx.Done()
	log.Info("shutting down")
	st.Close()
	return nil
}

const usage = `usage: sawmill <command> [flags] [args]
       sawmill <role> [flags]

client commands (talk to a Sawmill over HTTP):
  signup    create an account, print its first API key, store the session
  login     log in (e-mail, password); the session goes to ~/.config/sawmill/config.json
  logout    forget the stored session
  keys      list | create --name N --scope ingest,query | revoke ID
  search    search events; "| stats" and "| timechart" queries print tables
  tail      the latest events; -f follows them live until Ctrl-C
  ingest    ship lines from files or stdin (NDJSON or plain text)

global flags (client): --url (SAWMILL_URL), --key (SAWMILL_API_KEY), --json

server roles:
  dev       every role in one process, with embedded NATS and a private ClickHouse
  ingest    HTTP/gRPC ingest edges and the ClickHouse writer (without files,
            client flags or piped input; "sawmill ingest -" is always the client)
  query     search
  billing   signup, login, API keys

examples:
  sawmill dev
  sawmill signup --email ada@example.com --org Example
  echo '{"level":"error","message":"boom"}' | sawmill ingest
  sawmill search 'level:error | stats count() by service' --from -24h
  sawmill tail -f level:error

Run "sawmill help <command>" or "sawmill <command> -h" for a command's flags and
examples, "sawmill <role> -h" for a role's flags; each role flag is also read from
the environment as SAWMILL_<FLAG> (dots and dashes become underscores).`

// serverGCPercent is the servers' GOGC unless the environment sets one. The
// ingest path allocates per event and keeps little alive, so collecting at
// 4x the live heap instead of 2x cut sawmill's CPU per million events by a
// fifth (bench/loadgen: 10.7 -> 8.4 s) for a larger heap; GOMEMLIMIT
// still bounds it (docs/operations.md).
const serverGCPercent = 300

// setGCPercent applies serverGCPercent when GOGC is not set.
func setGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
