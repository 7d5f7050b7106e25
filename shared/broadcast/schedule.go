package broadcast

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed EventBridge Scheduler expression: at(...), rate(...)
// or cron(...). The local server fires by it; on AWS, EventBridge Scheduler
// reads the same expression.
type Schedule interface {
	// Next is the first firing strictly after t, in loc; zero if none.
	Next(t time.Time, loc *time.Location) time.Time
}

// ParseSchedule parses a schedule expression. Cron's six fields are minutes,
// hours, day of month, month, day of week (1–7 or SUN–SAT, Sunday first) and
// year; exactly one of the two day fields is "?". The L, W and # forms are not
// supported.
func ParseSchedule(expr string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(expr, "at(") && strings.HasSuffix(expr, ")"):
		t, err := time.Parse("2006-01-02T15:04:05", expr[3:len(expr)-1])
		if err != nil {
			return nil, errors.New("at(...) needs yyyy-mm-ddThh:mm:ss")
		}
		return atSchedule(t), nil
	case strings.HasPrefix(expr, "rate(") && strings.HasSuffix(expr, ")"):
		return parseRate(expr[5 : len(expr)-1])
	case strings.HasPrefix(expr, "cron(") && strings.HasSuffix(expr, ")"):
		return parseCron(expr[5 : len(expr)-1])
	}
	return nil, errors.New("must be cron(minutes hours day-of-month month day-of-week year) or rate(value unit)")
}

// AtExpression is the one-time schedule expression of t, in UTC.
func AtExpression(t time.Time) string { return "at(" + t.UTC().Format("2006-01-02T15:04:05") + ")" }

type atSchedule time.Time

func (a atSchedule) Next(t time.Time, loc *time.Location) time.Time {
	at := time.Date(time.Time(a).Year(), time.Time(a).Month(), time.Time(a).Day(), time.Time(a).Hour(), time.Time(a).Minute(), time.Time(a).Second(), 0, loc)
	if at.After(t) {
		return at
	}
	return time.Time{}
}

type rateSchedule time.Duration

func parseRate(s string) (Schedule, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return nil, errors.New("rate(...) needs a value and a unit, such as rate(5 minutes)")
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 {
		return nil, errors.New("rate(...) needs a positive whole value")
	}
	unit := map[string]time.Duration{"minute": time.Minute, "minutes": time.Minute, "hour": time.Hour, "hours": time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour}[f[1]]
	if unit == 0 {
		return nil, errors.New("rate(...) unit must be minute(s), hour(s) or day(s)")
	}
	if (n == 1) != (f[1] == "minute" || f[1] == "hour" || f[1] == "day") {
		return nil, errors.New("rate(...) uses the singular unit for 1 and the plural otherwise")
	}
	return rateSchedule(time.Duration(n) * unit), nil
}

// Next for a rate fires on multiples of the rate since the Unix epoch, so
// every process agrees on the firings.
func (r rateSchedule) Next(t time.Time, _ *time.Location) time.Time {
	d := time.Duration(r)
	return t.Truncate(d).Add(d)
}

type cronSchedule struct {
	min, hour, dom, month, dow [64]bool
	domAny, dowAny             bool
	years                      map[int]bool // nil: every year
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

func parseCron(s string) (Schedule, error) {
	f := strings.Fields(s)
	if len(f) != 6 {
		return nil, errors.New("cron(...) needs six fields: minutes hours day-of-month month day-of-week year")
	}
	var c cronSchedule
	if (f[2] == "?") == (f[4] == "?") {
		return nil, errors.New("cron(...) needs ? in exactly one of day-of-month and day-of-week")
	}
	var err error
	if err = field(f[0], 0, 59, nil, c.min[:]); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if err = field(f[1], 0, 23, nil, c.hour[:]); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	if c.domAny = f[2] == "?"; !c.domAny {
		if err = field(f[2], 1, 31, nil, c.dom[:]); err != nil {
			return nil, fmt.Errorf("day of month: %w", err)
		}
	}
	if err = field(f[3], 1, 12, monthNames, c.month[:]); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	if c.dowAny = f[4] == "?"; !c.dowAny {
		if err = field(f[4], 1, 7, dayNames, c.dow[:]); err != nil {
			return nil, fmt.Errorf("day of week: %w", err)
		}
	}
	if f[5] != "*" {
		c.years = map[int]bool{}
		for _, part := range strings.Split(f[5], ",") {
			lo, hi, ok := strings.Cut(part, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if ok {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 1970 || b > 2199 || a > b {
				return nil, errors.New("year: use *, a year, a list or a range from 1970 to 2199")
			}
			for y := a; y <= b; y++ {
				c.years[y] = true
			}
		}
	}
	return &c, nil
}

// field parses one cron field (*, n, a-b, lists, and /step) into set.
func field(s string, lo, hi int, names map[string]int, set []bool) error {
	for _, part := range strings.Split(s, ",") {
		step := 1
		if base, st, ok := strings.Cut(part, "/"); ok {
			n, err := strconv.Atoi(st)
			if err != nil || n < 1 {
				return fmt.Errorf("bad step in %q", part)
			}
			step, part = n, base
		}
		a, b := lo, hi
		switch {
		case part == "*":
		default:
			x, y, isRange := strings.Cut(part, "-")
			var err error
			if a, err = value(x, names); err != nil {
				return err
			}
			b = a
			if isRange {
				if b, err = value(y, names); err != nil {
					return err
				}
			} else if step > 1 {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return fmt.Errorf("%q is outside %d-%d", part, lo, hi)
		}
		for v := a; v <= b; v += step {
			set[v] = true
		}
	}
	return nil
}

func value(s string, names map[string]int) (int, error) {
	if n, ok := names[strings.ToUpper(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if strings.ContainsAny(s, "LW#") {
			return 0, fmt.Errorf("%q: the L, W and # forms are not supported", s)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// Next walks forward a minute at a time, skipping whole days that do not
// match; within the two-year horizon it looks at no more than a few
// hundred thousand instants.
func (c *cronSchedule) Next(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc).Truncate(time.Minute).Add(time.Minute)
	end := t.AddDate(5, 0, 0)
	for t.Before(end) {
		if c.years != nil && !c.years[t.Year()] || !c.month[int(t.Month())] || !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			continue
		}
		if !c.hour[t.Hour()] {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			continue
		}
		if c.min[t.Minute()] {
			return t
		}
		t = t.Add(time.Minute)
	}
	return time.Time{}
}

func (c *cronSchedule) dayMatches(t time.Time) bool {
	if c.domAny {
		return c.dow[int(t.Weekday())+1]
	}
	return c.dom[t.Day()]
}
