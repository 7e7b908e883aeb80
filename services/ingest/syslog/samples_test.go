package syslog

// Real frames, captured from the clients Sawmill documents (util-linux
// logger 2.38, Python 3.11's SysLogHandler, rsyslog 8.2302 omfwd), with
// the key replaced by a test one. They seed the fuzzers and the tests.
var realFrames = []string{
	// logger -n 127.0.0.1 -P PORT --tcp --octet-count --rfc5424 --sd-id sawmill@32473 --sd-param key=\"...\" -t myapp --msgid M1 -p local0.err "hello 5424 octet"
	`<131>1 2026-11-26T10:00:21.513775+00:00 vm myapp - M1 [timeQuality tzKnown="1" isSynced="0"][sawmill@32473 key="sm_abc_def"] hello 5424 octet`,
	// logger --tcp --rfc5424 -t myapp "hello 5424 newline"
	`<13>1 2026-11-26T10:00:21.515750+00:00 vm myapp - - [timeQuality tzKnown="1" isSynced="0"] hello 5424 newline`,
	// logger --tcp --rfc3164 -t myapp -i "sm_abc_def hello 3164 tcp"
	`<13>Nov 26 10:00:21 vm myapp[23009]: sm_abc_def hello 3164 tcp`,
	// logger --udp --rfc3164 -t myapp "sm_abc_def hello 3164 udp"
	`<13>Nov 26 10:00:21 vm myapp: sm_abc_def hello 3164 udp`,
	// logger --udp --rfc5424 with the key element
	`<13>1 2026-11-26T10:00:21.520847+00:00 vm root - - [timeQuality tzKnown="1" isSynced="0"][sawmill@32473 key="sm_abc_def"] hello 5424 udp`,
	// Python SysLogHandler, Formatter("sm_abc_def %(name)s: %(message)s"), NUL-terminated
	"<11>sm_abc_def django.request: Internal Server Error: /x \xc3\xa9\x00",
	// rsyslog omfwd with the template of docs/syslog.md
	`<30>1 2026-11-26T10:05:02.113201+00:00 vm cron 4242 - [sawmill@32473 key="sm_abc_def"] job done`,
	// RFC 5424 §6.5 examples
	`<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ` + "\uFEFF" + `'su root' failed for lonvick on /dev/pts/8`,
	`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`,
	`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
	// RFC 3164 §5.4 example
	`<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`,
}
