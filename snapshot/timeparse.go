package snapshot

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrBadTime: a time or duration a person typed could not be read.
var ErrBadTime = errors.New("unreadable time or duration")

// units a duration may be given in besides Go's (h, m, s, ...): days and
// weeks, the units retention and grace windows are thought of in.
var longUnits = map[string]time.Duration{
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// shortUnits are the words for Go's units in "N UNIT ago".
var shortUnits = map[string]time.Duration{
	"second": time.Second, "seconds": time.Second,
	"minute": time.Minute, "minutes": time.Minute,
	"hour": time.Hour, "hours": time.Hour,
}

// ParseDuration reads a non-negative duration: Go's form ("36h",
// "90m"), or a whole number of days or weeks ("7d", "2w").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	for _, unit := range []string{"d", "w"} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			if k, err := strconv.Atoi(n); err == nil && k >= 0 {
				return time.Duration(k) * longUnits[unit], nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want 36h, 90m, 7d or 2w: %w", s, ErrBadTime)
	}
	return d, nil
}

// FormatDuration writes d the way ParseDuration reads it, in days
// when it is a whole number of them.
func FormatDuration(d time.Duration) string {
	// Days, not weeks: the documented defaults read "7d" everywhere.
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// ParseTime reads an instant as a person gives it: RFC 3339
// ("2026-11-20T10:00:00Z", fractions allowed), an HTTP date ("Fri, 20 Nov
// 2026 10:00:00 GMT", as in a response's Date header), a date ("2026-11-20",
// midnight local time), a local date and time ("2026-11-20 10:00"), "now",
// "today" or "yesterday" (midnight local time), or a duration ago
// ("2h ago", "3 days ago", "1w ago").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// An HTTP Date header, to ask which snapshot served a response.
	if t, err := http.ParseTime(s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	switch strings.ToLower(s) {
	case "now":
		return now, nil
	case "today":
		return midnight, nil
	case "yesterday":
		return midnight.AddDate(0, 0, -1), nil
	}
	if ago, ok := strings.CutSuffix(strings.ToLower(s), " ago"); ok {
		ago = strings.TrimSpace(ago)
		if n, unit, ok := strings.Cut(ago, " "); ok {
			if k, err := strconv.Atoi(n); err == nil && k >= 0 {
				if u, ok := longUnits[unit]; ok {
					return now.Add(-time.Duration(k) * u), nil
				}
				if u, ok := shortUnits[unit]; ok {
					return now.Add(-time.Duration(k) * u), nil
				}
			}
		}
		if d, err := ParseDuration(ago); err == nil {
			return now.Add(-d), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20), now, today, yesterday, or 2h ago: %w", s, ErrBadTime)
}
