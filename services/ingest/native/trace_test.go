package native

import "testing"

func TestParseTrace(t *testing.T) {
	f := func(stack, wantType, wantMsg string) {
		t.Helper()
		typ, msg := parseTrace(stack)
		if typ != wantType || msg != wantMsg {
			t.Errorf("parseTrace(%q) = %q, %q; want %q, %q", stack, typ, msg, wantType, wantMsg)
		}
	}
	f("Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\n    f()\nValueError: bad thing\n",
		"ValueError", "bad thing")
	f("Traceback (most recent call last):\n  File \"a.py\", line 1\nmod.Err: line one\nline two",
		"mod.Err", "line one\nline two")
	f("Traceback (most recent call last):\n  File \"a.py\", line 1\n    raise\nKeyError: 'x'\n\n"+
		"During handling of the above exception, another exception occurred:\n\n"+
		"Traceback (most recent call last):\n  File \"a.py\", line 3\n    g()\nRuntimeError: wrapped",
		"RuntimeError", "wrapped")
	f("Traceback (most recent call last):\n  File \"a.py\", line 1\nSystemExit", "SystemExit", "")
	f("Traceback (most recent call last):\n  File \"a.py\", line 1\n", "", "")
	f("TypeError: x is undefined\n    at f (a.js:1:1)", "TypeError", "x is undefined")
	f("java.lang.IllegalStateException: closed\n\tat A.b(A.java:1)", "java.lang.IllegalStateException", "closed")
	f("com.x.Outer$Inner: boom", "com.x.Outer$Inner", "boom")
	f("\n  Error: leading blank\n", "Error", "leading blank")
	f("goroutine 1 [running]:\nmain.main()", "", "")
	f("at foo()\nat bar()", "", "")
	f("", "", "")
}
