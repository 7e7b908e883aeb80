// Command sawmill runs one role of the Sawmill logging service — ingest,
// query, billing — or all of them in one process (dev), with an embedded
// NATS server and a private ClickHouse server when none is configured.
//
//	sawmill dev      # everything on 127.0.0.1:8080 (HTTP) and :4317 (gRPC)
//	sawmill ingest   # edges and writer
//	sawmill query
//	sawmill billing
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
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sawmill:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(os.Stderr, usage)
		if len(args) == 0 {
			return errors.New("no role given")
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

const usage = `usage: sawmill <role> [flags]

roles:
  dev       every role in one process, with embedded NATS and a private ClickHouse
  ingest    HTTP/gRPC ingest edges and the ClickHouse writer
  query     search
  billing   signup, login, API keys

Run "sawmill <role> -h" for the flags; each flag is also read from the
environment as SAWMILL_<FLAG> (dots and dashes become underscores).`

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
