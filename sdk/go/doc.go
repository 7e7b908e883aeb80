// Package sawmill provides a log/slog Handler that ships records to a
// Sawmill server (POST /v1/ingest) in gzip'd NDJSON batches.
//
// Handle never touches the network: it encodes the record into a private
// buffer (so later mutation of attribute values cannot change what is sent)
// and enqueues it without blocking; one background goroutine per handler
// family batches, compresses, sends and retries. The queue is bounded and
// drops the newest record when full; drops are counted (Handler.Stats),
// warned about on Options.ErrorLog at most every ten seconds, and reported to
// the server as the attribute "sawmill.dropped" on the first event of the
// next batch.
//
// The package uses only the standard library and must never log through
// slog itself: its own diagnostics go to Options.ErrorLog, so a handler
// installed with slog.SetDefault cannot feed on its own warnings.
//
// Call Close before the program ends; os.Exit and log.Fatal skip deferred
// calls, so records still queued then are lost.
package sawmill
