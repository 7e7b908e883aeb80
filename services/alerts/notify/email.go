package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// smtpTimeout bounds one whole SMTP conversation (well under the NOTIFY
// consumer's AckWait, so a slow relay does not cause a redelivery).
const smtpTimeout = 20 * time.Second

// Subject returns an e-mail's subject for n: "[Sawmill] FIRING errors
// (service=web) [critical]", "[Sawmill] RESOLVED ...", "[Sawmill] Sawmill
// quota: 80% of the monthly events used".
func Subject(n Notification) string { return "[Sawmill] " + title(n) }

// MessageID returns the Message-ID header for n: derived from n.ID, so a
// retried delivery carries the same one and mail clients thread or drop it.
func MessageID(n Notification) string {
	h := sha256.Sum256([]byte(n.TenantID + "\x00" + n.ID))
	return "<" + hex.EncodeToString(h[:16]) + ".notify@sawmill>"
}

// sendEmail delivers n to ch.To through cfg.SMTPAddr in one SMTP
// conversation (STARTTLS when the relay offers it). SMTP 4xx replies and
// network errors are retryable, 5xx replies permanent.
func (q *Queue) sendEmail(ctx context.Context, ch Channel, n Notification) error {
	if q.cfg.SMTPAddr == "" {
		return permanent("email: no SMTP relay configured")
	}
	from := q.cfg.SMTPFrom
	if from == "" {
		from = "sawmill@localhost"
	}
	msg, err := buildEmail(from, ch.To, n, time.Now())
	if err != nil {
		return permanent("email: %v", err)
	}
	deadline := time.Now().Add(smtpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	d := net.Dialer{Deadline: deadline}
	conn, err := d.DialContext(ctx, "tcp", q.cfg.SMTPAddr)
	if err != nil {
		return networkError("email: dial "+q.cfg.SMTPAddr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := converse(conn, q.cfg.SMTPAddr, from, ch.To, msg); err != nil {
		return smtpError(err)
	}
	return nil
}

func converse(conn net.Conn, addr, from string, to []string, msg []byte) error {
	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("sawmill"); err != nil {
		return fmt.Errorf("helo: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("rcpt to %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

// smtpError classifies an SMTP failure: a 5xx reply is permanent, a 4xx
// reply or anything else (network, timeout) retryable.
func smtpError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &SendError{Status: te.Code, Retryable: te.Code < 500, Err: fmt.Errorf("email: %w", err)}
	}
	return networkError("email", err)
}

// buildEmail renders the message: headers, then a quoted-printable UTF-8
// plain-text body.
func buildEmail(from string, to []string, n Notification, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	hdr := func(k, v string) {
		b.WriteString(k + ": " + v + "\r\n")
	}
	hdr("From", from)
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", strings.ReplaceAll(Subject(n), "\n", " ")))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", MessageID(n))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated")
	hdr(HeaderNotificationID, strings.ReplaceAll(n.ID, "\n", " "))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(plainText(n), "\n", "\r\n"))); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return b.Bytes(), nil
}

// validAddresses checks that every recipient is a bare valid address.
func validAddresses(to []string) error {
	if len(to) == 0 {
		return errors.New("email channel needs at least one address in \"to\"")
	}
	for _, a := range to {
		p, err := mail.ParseAddress(a)
		if err != nil || p.Address != a {
			return fmt.Errorf("invalid e-mail address %q", truncate(a, 100))
		}
	}
	return nil
}
