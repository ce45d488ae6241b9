package snapshot

import (
	"errors"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-20T10:00:00Z":          time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		"2026-11-20T10:00:00.5+01:00":   time.Date(2026, 11, 20, 9, 0, 0, 5e8, time.UTC),
		"2026-11-20":                    time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
		"2026-11-20 10:30":              time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC),
		"now":                           now,
		"today":                         time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		"yesterday":                     time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC),
		"2h ago":                        now.Add(-2 * time.Hour),
		"90m ago":                       now.Add(-90 * time.Minute),
		"3 days ago":                    now.Add(-72 * time.Hour),
		"1 week ago":                    now.Add(-7 * 24 * time.Hour),
		"2 hours ago":                   now.Add(-2 * time.Hour),
		"5 minutes ago":                 now.Add(-5 * time.Minute),
		"7d ago":                        now.Add(-7 * 24 * time.Hour),
		"Fri, 20 Nov 2026 10:00:00 GMT": time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "the day before", "2026-13-01", "-2h ago", "x ago", "2 fortnights ago"} {
		if _, err := ParseTime(in, now); !errors.Is(err, ErrBadTime) {
			t.Errorf("%q: %v, want ErrBadTime", in, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"36h": 36 * time.Hour, "90m": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "0": 0} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
		if got, _ := ParseDuration(FormatDuration(want)); got != want {
			t.Errorf("%v does not survive FormatDuration", want)
		}
	}
	for _, in := range []string{"7x", "-1h", "d", "1.5d", ""} {
		if _, err := ParseDuration(in); !errors.Is(err, ErrBadTime) {
			t.Errorf("%q: %v", in, err)
		}
	}
}
