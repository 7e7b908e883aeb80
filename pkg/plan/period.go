package plan

import "time"

// Period returns the billing period [start, end) that contains now, for a
// tenant whose periods are anchored at anchor (its signup): monthly, starting
// at 00:00 UTC on the anchor's day of the month, or on the month's last day
// when the month is shorter (an account opened on the 31st renews on the
// 30th of April).
func Period(anchor, now time.Time) (start, end time.Time) {
	anchor, now = anchor.UTC(), now.UTC()
	day := anchor.Day()
	at := func(y int, m time.Month) time.Time {
		last := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
		return time.Date(y, m, min(day, last), 0, 0, 0, 0, time.UTC)
	}
	start = at(now.Year(), now.Month())
	if now.Before(start) {
		start = at(now.Year(), now.Month()-1)
	}
	y, m, _ := start.Date()
	return start, at(y, m+1)
}
