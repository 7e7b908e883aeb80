package syslog

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// nilValue is RFC 5424's NILVALUE, "-": the field is absent.
const nilValue = "-"

// bom is the UTF-8 byte order mark RFC 5424 allows at the start of MSG.
const bom = "\uFEFF"

// parse5424 decodes what follows "<PRI>1 ":
// TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG].
func parse5424(m *Message, s string) error {
	var fields [5]string
	for i := range fields {
		tok, rest, ok := strings.Cut(s, " ")
		if tok == "" {
			return fmt.Errorf("rfc5424: header field %d is empty", i+1)
		}
		if !ok && i < len(fields)-1 {
			return errors.New("rfc5424: header ends early: want TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA")
		}
		fields[i], s = tok, rest
	}
	e := &m.Event
	if ts := fields[0]; ts != nilValue {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return fmt.Errorf("rfc5424: timestamp %q is not RFC 3339", clip(ts))
		}
		e.Time = t.UnixNano()
	}
	e.Host = nilToEmpty(fields[1])
	e.Service = nilToEmpty(fields[2])
	if v := nilToEmpty(fields[3]); v != "" {
		addAttr(e, AttrProcID, v)
	}
	if v := nilToEmpty(fields[4]); v != "" {
		addAttr(e, AttrMsgID, v)
	}
	msg, err := parseSD(m, s)
	if err != nil {
		return err
	}
	msg = strings.TrimPrefix(msg, bom)
	if m.Key == "" {
		m.Key, msg, _ = cutKey(msg)
	}
	e.Message = msg
	return nil
}

func nilToEmpty(s string) string {
	if s == nilValue {
		return ""
	}
	return s
}

// parseSD decodes STRUCTURED-DATA at the start of s into attributes (and
// the API key) and returns the MSG that follows it. A message whose header
// ends after MSGID is taken as having no structured data.
func parseSD(m *Message, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if s == nilValue || strings.HasPrefix(s, nilValue+" ") {
		return strings.TrimPrefix(s[1:], " "), nil
	}
	if s[0] != '[' {
		return "", errors.New("rfc5424: structured data must be - or start with [")
	}
	for len(s) > 0 && s[0] == '[' {
		var err error
		if s, err = parseSDElement(m, s[1:]); err != nil {
			return "", err
		}
	}
	if s != "" && s[0] != ' ' {
		return "", errors.New("rfc5424: want a space between structured data and message")
	}
	return strings.TrimPrefix(s, " "), nil
}

// parseSDElement decodes one element after its "[" and returns what
// follows its "]".
func parseSDElement(m *Message, s string) (string, error) {
	end := strings.IndexAny(s, " ]")
	if end <= 0 {
		return "", errors.New("rfc5424: structured data element without id or ]")
	}
	id := s[:end]
	if strings.ContainsAny(id, `="`) {
		return "", fmt.Errorf("rfc5424: bad structured data id %q", clip(id))
	}
	s = s[end:]
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return "", fmt.Errorf("rfc5424: structured data element %q not closed", clip(id))
		}
		if s[0] == ']' {
			return s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return "", fmt.Errorf("rfc5424: structured data element %q: want name=\"value\"", clip(id))
		}
		name := s[:eq]
		if strings.ContainsAny(name, ` ]"`) {
			return "", fmt.Errorf("rfc5424: structured data element %q: bad parameter name", clip(id))
		}
		value, rest, err := sdValue(s[eq+2:])
		if err != nil {
			return "", fmt.Errorf("rfc5424: structured data element %q: %w", clip(id), err)
		}
		s = rest
		if id == KeySDID && name == "key" {
			if m.Key == "" {
				m.Key = value
			}
			continue
		}
		addAttr(&m.Event, "sd."+id+"."+name, value)
	}
}

// sdValue reads a PARAM-VALUE up to its closing quote, undoing the escapes
// \" \\ and \] (a backslash before anything else is kept, as RFC 5424
// §6.3.3 says), and returns it with what follows the quote.
func sdValue(s string) (value, rest string, err error) {
	var b *strings.Builder
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			if b == nil {
				return s[:i], s[i+1:], nil
			}
			b.WriteString(s[start:i])
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\' || s[i+1] == ']') {
				if b == nil {
					b = &strings.Builder{}
				}
				b.WriteString(s[start:i])
				start = i + 1
				i++
			}
		}
	}
	return "", "", errors.New("parameter value not closed by \"")
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
