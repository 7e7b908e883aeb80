package notify

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// testText is a test notification's default message.
const testText = "This is a test notification from Sawmill. If you can read it, the channel works."

// state is the word a notification's kind shows in titles.
func state(n Notification) string {
	switch n.Kind {
	case KindFiring:
		return "FIRING"
	case KindRenotify:
		return "STILL FIRING"
	case KindResolved:
		return "RESOLVED"
	case KindUsage:
		return "USAGE"
	case KindTest:
		return "TEST"
	}
	return strings.ToUpper(n.Kind)
}

// title is the one-line summary used as e-mail subject (after "[Sawmill] "),
// Slack text and PagerDuty summary.
func title(n Notification) string {
	switch n.Kind {
	case KindUsage:
		return n.Message
	case KindTest:
		return "Test notification from Sawmill: this channel works"
	}
	t := state(n) + " " + n.RuleName
	if n.RuleName == "" {
		t = state(n) + " " + n.RuleID
	}
	if g := groupText(n.Group); g != "" {
		t += " (" + g + ")"
	}
	if n.Severity != "" && n.Kind != KindResolved {
		t += " [" + n.Severity + "]"
	}
	return t
}

// groupText renders a group as "k=v, k=v" in key order.
func groupText(g map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(g)) {
		parts = append(parts, k+"="+g[k])
	}
	return strings.Join(parts, ", ")
}

// num renders a value without a useless fraction.
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// plainText is the e-mail body: everything a reader needs, one fact a line.
func plainText(n Notification) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-11s %s\n", k+":", v)
		}
	}
	if n.Kind == KindTest && n.Message == "" {
		b.WriteString(testText + "\n\n")
	} else if n.Message != "" {
		b.WriteString(n.Message + "\n\n")
	}
	line("Status", state(n))
	if n.Kind != KindUsage && n.Kind != KindTest {
		line("Rule", n.RuleName)
		line("Severity", n.Severity)
		line("Group", groupText(n.Group))
		line("Value", num(n.Value))
		line("Threshold", num(n.Threshold))
		line("Condition", n.Condition)
		if !n.WindowStart.IsZero() {
			line("Window", n.WindowStart.UTC().Format("2006-01-02 15:04:05")+" – "+n.WindowEnd.UTC().Format("15:04:05 MST"))
		}
		if !n.StartsAt.IsZero() {
			line("Since", n.StartsAt.UTC().Format("2006-01-02 15:04:05 MST"))
		}
	}
	line("Labels", groupText(n.Labels))
	line("Link", n.Link)
	line("At", n.At.UTC().Format("2006-01-02 15:04:05 MST"))
	line("ID", n.ID)
	if len(n.Samples) > 0 {
		b.WriteString("\nSample lines:\n")
		for _, s := range n.Samples {
			b.WriteString("  " + s + "\n")
		}
	}
	return b.String()
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
