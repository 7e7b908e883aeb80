// Package syslog decodes syslog messages into Sawmill events: RFC 5424 and
// RFC 3164 (BSD) messages, including the header-less form Python's
// logging.handlers.SysLogHandler sends, and the TCP framings of RFC 6587
// (octet counting and non-transparent, newline- or NUL-terminated).
//
// It finds the API key a message carries (the structured-data element
// [sawmill@32473 key="..."], or a first word that starts with "sm_") and
// removes it from the event. It only parses: it must not authenticate,
// publish or depend on any transport, bus or service package.
package syslog
