package natsembed

import (
	"context"
	"fmt"
	"log/slog"
)

// logAdapter routes nats-server's printf-style logger to slog, and reports
// fatal errors (which would make the stock logger exit the process) on fatal
// instead, so that Start can return them.
type logAdapter struct {
	l     *slog.Logger // nil: discard
	fatal chan<- string
}

func (a logAdapter) log(level slog.Level, format string, v []any) {
	if a.l == nil || !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats")
}

func (a logAdapter) Noticef(format string, v ...any) { a.log(slog.LevelDebug, format, v) }
func (a logAdapter) Warnf(format string, v ...any)   { a.log(slog.LevelWarn, format, v) }
func (a logAdapter) Errorf(format string, v ...any)  { a.log(slog.LevelError, format, v) }
func (a logAdapter) Debugf(format string, v ...any)  { a.log(slog.LevelDebug, format, v) }
func (a logAdapter) Tracef(format string, v ...any)  { a.log(slog.LevelDebug-4, format, v) }

func (a logAdapter) Fatalf(format string, v ...any) {
	a.log(slog.LevelError, format, v)
	select {
	case a.fatal <- fmt.Sprintf(format, v...):
	default: // Start has already returned or another error is pending.
	}
}
