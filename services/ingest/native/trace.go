package native

import (
	"strings"
	"unicode"
)

const pythonTraceback = "Traceback (most recent call last):"

// parseTrace finds the exception type and message a stack trace names:
// for a Python traceback the unindented lines after the last frame
// ("ValueError: bad thing", the message running to the end), otherwise the
// first line, as JavaScript and Java print it ("TypeError: x is undefined",
// "java.lang.IllegalStateException: closed"). It returns two empty strings
// when that line does not start with a type name.
func parseTrace(stack string) (typ, msg string) {
	s := strings.TrimRight(stack, " \t\r\n")
	var header string
	if strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), pythonTraceback) {
		header = pythonHeader(s)
	} else {
		header, _, _ = strings.Cut(strings.TrimLeft(s, " \t\r\n"), "\n")
		header = strings.TrimRight(header, "\r")
	}
	name, rest, found := strings.Cut(header, ":")
	if !isTypeName(name) {
		return "", ""
	}
	if !found {
		return name, ""
	}
	return name, strings.TrimSpace(rest)
}

// pythonHeader returns the text after the last indented line (the last
// frame) of a Python traceback.
func pythonHeader(s string) string {
	lines := strings.Split(s, "\n")
	start := 0
	for i, l := range lines {
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			start = i + 1
		}
	}
	if start >= len(lines) {
		return ""
	}
	return strings.TrimSpace(strings.Join(lines[start:], "\n"))
}

// isTypeName reports whether s looks like a (possibly qualified) exception
// class name: letters, digits, '_', '$' and '.', not starting with a digit
// or dot, at most 200 bytes.
func isTypeName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '_' || r == '$':
		case (unicode.IsDigit(r) || r == '.') && i > 0:
		default:
			return false
		}
	}
	return true
}
