package autoscaling

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// schedule is a parsed Schedule expression: at(...), rate(...) or
// cron(...), in a time zone.
type schedule struct {
	at   time.Time     // at(): the one time
	rate time.Duration // rate(): the interval
	cron *cronExpr
	loc  *time.Location
}

// parseSchedule parses an Application Auto Scaling schedule expression in
// the time zone loc (the action's Timezone; UTC if empty):
//
//	at(yyyy-mm-ddThh:mm:ss)
//	rate(value unit)            unit: minute(s), hour(s), day(s)
//	cron(min hour dom month dow year)   AWS's cron, with ? L and #
func parseSchedule(expr string, loc *time.Location) (*schedule, error) {
	open := strings.IndexByte(expr, '(')
	if open < 0 || !strings.HasSuffix(expr, ")") {
		return nil, errors.New("a schedule is at(...), rate(...) or cron(...)")
	}
	kind, body := expr[:open], strings.TrimSpace(expr[open+1:len(expr)-1])
	s := &schedule{loc: loc}
	switch kind {
	case "at":
		t, err := time.ParseInLocation("2006-01-02T15:04:05", body, loc)
		if err != nil {
			return nil, fmt.Errorf("at(%s): the time is yyyy-mm-ddThh:mm:ss", body)
		}
		s.at = t
	case "rate":
		f := strings.Fields(body)
		if len(f) != 2 {
			return nil, fmt.Errorf("rate(%s): a rate is rate(value unit)", body)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("rate(%s): the value must be a positive integer", body)
		}
		var unit time.Duration
		switch f[1] {
		case "minute", "minutes":
			unit = time.Minute
		case "hour", "hours":
			unit = time.Hour
		case "day", "days":
			unit = 24 * time.Hour
		default:
			return nil, fmt.Errorf("rate(%s): the unit is minute(s), hour(s) or day(s)", body)
		}
		if (n == 1) != !strings.HasSuffix(f[1], "s") {
			return nil, fmt.Errorf("rate(%s): use the singular unit for 1 and the plural for more", body)
		}
		s.rate = time.Duration(n) * unit
	case "cron":
		c, err := parseCron(body)
		if err != nil {
			return nil, fmt.Errorf("cron(%s): %w", body, err)
		}
		s.cron = c
	default:
		return nil, fmt.Errorf("unknown schedule type %q: a schedule is at(...), rate(...) or cron(...)", kind)
	}
	return s, nil
}

// next returns the first occurrence strictly after t, from anchor (the
// first occurrence of a rate), or false if there is none.
func (s *schedule) next(t, anchor time.Time) (time.Time, bool) {
	switch {
	case s.cron != nil:
		return s.cron.next(t.In(s.loc))
	case s.rate > 0:
		if t.Before(anchor) {
			return anchor, true
		}
		k := t.Sub(anchor)/s.rate + 1
		return anchor.Add(k * s.rate), true
	}
	if s.at.After(t) {
		return s.at, true
	}
	return time.Time{}, false
}

// cronExpr is AWS's six-field cron: minutes, hours, day of month, month,
// day of week (1-7 = SUN-SAT), year.
type cronExpr struct {
	min, hour, month [64]bool
	dom              [32]bool
	dow              [8]bool
	years            map[int]bool // nil: every year
	domAny, dowAny   bool         // ? or *
	lastDom          bool         // L in day of month
	nthDow           [2]int       // d#n: day d, n-th in the month (0 if unused)
	lastDow          int          // dL: last day d of the month (0 if unused)
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}

func parseCron(body string) (*cronExpr, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, errors.New("a cron expression has six fields: minutes hours day-of-month month day-of-week year")
	}
	c := &cronExpr{}
	if err := setField(c.min[:], f[0], 0, 59, nil); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if err := setField(c.hour[:], f[1], 0, 23, nil); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	switch dom := strings.ToUpper(f[2]); dom {
	case "?", "*":
		c.domAny = true
	case "L":
		c.lastDom = true
	default:
		if strings.ContainsAny(dom, "W") {
			return nil, errors.New("day-of-month: W is not supported by Gantry")
		}
		if err := setField(c.dom[:], dom, 1, 31, nil); err != nil {
			return nil, fmt.Errorf("day-of-month: %w", err)
		}
	}
	if err := setField(c.month[:], strings.ToUpper(f[3]), 1, 12, monthNames); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	switch dow := strings.ToUpper(f[4]); {
	case dow == "?" || dow == "*":
		c.dowAny = true
	case strings.Contains(dow, "#"):
		d, n, _ := strings.Cut(dow, "#")
		dv, err1 := fieldValue(d, 1, 7, dayNames)
		nv, err2 := strconv.Atoi(n)
		if err1 != nil || err2 != nil || nv < 1 || nv > 5 {
			return nil, fmt.Errorf("day-of-week: %s is not d#n (n from 1 to 5)", dow)
		}
		c.nthDow = [2]int{dv, nv}
	case strings.HasSuffix(dow, "L") && len(dow) > 1:
		dv, err := fieldValue(strings.TrimSuffix(dow, "L"), 1, 7, dayNames)
		if err != nil {
			return nil, fmt.Errorf("day-of-week: %w", err)
		}
		c.lastDow = dv
	default:
		if err := setField(c.dow[:], dow, 1, 7, dayNames); err != nil {
			return nil, fmt.Errorf("day-of-week: %w", err)
		}
	}
	if f[2] != "?" && f[4] != "?" {
		return nil, errors.New("one of day-of-month and day-of-week must be ?")
	}
	if f[5] != "*" {
		c.years = map[int]bool{}
		ys := make([]bool, 2200)
		if err := setField(ys, f[5], 1970, 2199, nil); err != nil {
			return nil, fmt.Errorf("year: %w", err)
		}
		for y, ok := range ys {
			if ok {
				c.years[y] = true
			}
		}
	}
	return c, nil
}

func fieldValue(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[s]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%q is not a value from %d to %d", s, lo, hi)
	}
	return v, nil
}

// setField sets the values a field (lists of *, a, a-b, with /step)
// selects.
func setField(set []bool, field string, lo, hi int, names map[string]int) error {
	for part := range strings.SplitSeq(field, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = fieldValue(a, lo, hi, names); err != nil {
				return err
			}
			if to, err = fieldValue(b, lo, hi, names); err != nil {
				return err
			}
			if from > to {
				return fmt.Errorf("range %q goes backwards", rng)
			}
		default:
			v, err := fieldValue(rng, lo, hi, names)
			if err != nil {
				return err
			}
			from = v
			if !hasStep {
				to = v
			}
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return nil
}

// dayMatches reports whether the day of t is selected.
func (c *cronExpr) dayMatches(t time.Time) bool {
	if !c.month[int(t.Month())] {
		return false
	}
	if c.years != nil && !c.years[t.Year()] {
		return false
	}
	last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
	dow := int(t.Weekday()) + 1
	switch {
	case c.lastDom:
		return t.Day() == last
	case !c.domAny:
		return c.dom[t.Day()]
	case c.nthDow[0] != 0:
		return dow == c.nthDow[0] && (t.Day()-1)/7+1 == c.nthDow[1]
	case c.lastDow != 0:
		return dow == c.lastDow && t.Day()+7 > last
	case !c.dowAny:
		return c.dow[dow]
	}
	return true
}

// next returns the first selected minute strictly after t (in t's
// location), looking up to ten years ahead.
func (c *cronExpr) next(t time.Time) (time.Time, bool) {
	loc := t.Location()
	t = t.Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	for i := 0; i < 366*10; i++ {
		d := day.AddDate(0, 0, i)
		if !c.dayMatches(d) {
			continue
		}
		for h := 0; h < 24; h++ {
			if !c.hour[h] {
				continue
			}
			for m := 0; m < 60; m++ {
				if !c.min[m] {
					continue
				}
				cand := time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, loc)
				if cand.Hour() != h || cand.Day() != d.Day() {
					continue // a time skipped by a daylight saving change
				}
				if !cand.Before(t) {
					return cand, true
				}
			}
		}
	}
	return time.Time{}, false
}
