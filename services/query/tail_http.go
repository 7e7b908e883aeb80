package query

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sawmillhq/sawmill/pkg/apierr"
	"github.com/sawmillhq/sawmill/pkg/server"
)

// RegisterTail installs GET /v1/tail on srv. EnableTail must have been
// called; without it the route answers 503.
func (s *Service) RegisterTail(srv *server.Server) {
	srv.Handle("GET /v1/tail", http.HandlerFunc(s.serveTail))
}

// serveTail is GET /v1/tail?query=...: Server-Sent Events. The credential
// comes from the Authorization header or, for browsers' EventSource, which
// cannot set headers, from the access_token query parameter (RFC 6750 §2.3).
// Every matching event is one "data:" line holding the event's JSON (as in
// search results) with an "id:" line: its position in the stream. A client
// that reconnects with Last-Event-ID (EventSource does so by itself) resumes
// right after that event, as far as the stream still holds it (24 h by
// default). "event: missed" reports events dropped because the client
// read too slowly; a comment line keeps idle connections open. Errors before
// the stream starts are JSON with their status (400 with the position for a
// bad query, 429 with Retry-After over the tail limit); a credential revoked
// during the stream ends it with "event: error".
func (s *Service) serveTail(w http.ResponseWriter, r *http.Request) {
	t, err := s.tailer()
	if err != nil {
		apierr.WriteHTTP(w, s.log, err)
		return
	}
	params := r.URL.Query()
	bearer := bearerToken(r.Header.Get("Authorization"))
	if bearer == "" {
		bearer = params.Get("access_token")
	}
	var after tailPos
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		var ok bool
		if after, ok = parseTailPos(id); !ok {
			apierr.WriteHTTP(w, s.log, apierr.New(apierr.Invalid, "invalid Last-Event-ID %q: pass the id of an event of this stream", id))
			return
		}
	}
	sess, err := t.open(r.Context(), s.auth, bearer, params.Get("query"), after)
	if err != nil {
		apierr.WriteHTTP(w, s.log, err)
		return
	}
	defer sess.close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sse := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: t.cfg.WriteTimeout}
	// The consumer exists: from here on every stored batch reaches the client.
	if sse.write([]byte(": tail started\nretry: 2000\n\n")) != nil {
		return
	}
	if err := sess.run(r.Context(), sse.events, sse.keepalive); err != nil {
		sse.fail(err)
	}
}

// sseWriter writes Server-Sent Events frames, each write flushed and bounded
// by timeout.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

func (s *sseWriter) write(b []byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}

// events writes the missed count (if any), then one data line per event.
func (s *sseWriter) events(evs []tailEvent, missed int64) error {
	if len(evs) == 0 && missed == 0 {
		return nil
	}
	s.buf = appendSSE(s.buf[:0], evs, missed)
	return s.write(s.buf)
}

func (s *sseWriter) keepalive() error { return s.write([]byte(": keepalive\n\n")) }

// fail ends the stream with an "error" event in the shape of error bodies.
func (s *sseWriter) fail(err error) {
	e := apierr.From(err)
	msg := e.Message
	if e.Code == apierr.Internal {
		msg = "internal error"
	}
	b, _ := json.Marshal(map[string]string{"code": string(e.Code), "message": msg})
	_ = s.write(append(append([]byte("event: error\ndata: "), b...), "\n\n"...))
}

// appendSSE appends the frames for one delivery to dst. The JSON of an
// event holds no raw newline, so each event is exactly one data line.
func appendSSE(dst []byte, evs []tailEvent, missed int64) []byte {
	if missed > 0 {
		dst = append(dst, "event: missed\ndata: {\"missed\":"...)
		dst = strconv.AppendInt(dst, missed, 10)
		dst = append(dst, "}\n\n"...)
	}
	for i := range evs {
		if evs[i].pos.seq > 0 {
			dst = append(dst, "id: "...)
			dst = evs[i].pos.appendTo(dst)
			dst = append(dst, '\n')
		}
		dst = append(dst, "data: "...)
		dst = appendEventJSON(dst, &evs[i].Event)
		dst = append(dst, "\n\n"...)
	}
	return dst
}
