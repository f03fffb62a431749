package console

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// series is one line of a chart: a metric's points in time order.
type series struct {
	Label  string
	Times  []time.Time
	Values []float64
	// Err is why the series could not be read, if it could not.
	Err string
}

// Latest is the series' newest value and whether it has one.
func (s series) Latest() (float64, bool) {
	if len(s.Values) == 0 {
		return 0, false
	}
	i := 0
	for j, t := range s.Times {
		if t.After(s.Times[i]) {
			i = j
		}
	}
	return s.Values[i], true
}

// Summary describes the series in words, for screen readers and the
// chart's caption.
func (s series) Summary() string {
	if s.Err != "" {
		return s.Label + ": " + s.Err
	}
	v, ok := s.Latest()
	if !ok {
		return s.Label + ": no data points in the range"
	}
	lo, hi := s.Values[0], s.Values[0]
	for _, x := range s.Values {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	points := "points"
	if len(s.Values) == 1 {
		points = "point"
	}
	return fmt.Sprintf("%s: latest %s, lowest %s, highest %s, %d %s", s.Label, num(v), num(lo), num(hi), len(s.Values), points)
}

// num formats a metric value with at most 2 decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// Chart geometry, in the SVG's own units (it scales to the page's width).
const (
	chartW, chartH         = 640.0, 220.0
	chartLeft, chartRight  = 56.0, 12.0
	chartTop, chartBottom  = 12.0, 30.0
	chartPlotW, chartPlotH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
)

// chartClasses colour successive series (console.css gives each a colour
// that meets 3:1 against the background, as WCAG asks of graphics).
var chartClasses = []string{"s0", "s1", "s2", "s3"}

// lineChart draws series between start and end as an inline SVG line
// chart: a y axis from 0 (or the lowest value, when negative) to a round
// value above the highest, the range's start and end times in UTC below
// (the script shows them in the viewer's zone), and each series' summary
// as the image's accessible name. Everything it writes from data is
// escaped.
func lineChart(title string, start, end time.Time, ss []series) template.HTML {
	lo, hi := 0.0, 0.0
	first := true
	for _, s := range ss {
		for _, v := range s.Values {
			if first {
				lo, hi, first = math.Min(0, v), v, false
				continue
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	hi = niceCeil(hi)
	if hi <= lo {
		hi = lo + 1
	}
	var label []string
	for _, s := range ss {
		label = append(label, s.Summary())
	}
	span := end.Sub(start).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 {
		return chartLeft + math.Min(math.Max(t.Sub(start).Seconds()/span, 0), 1)*chartPlotW
	}
	y := func(v float64) float64 { return chartTop + (1-(v-lo)/(hi-lo))*chartPlotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><svg role="img" aria-label="%s" viewBox="0 0 %g %g" width="100%%" preserveAspectRatio="xMidYMid meet">`,
		template.HTMLEscapeString(title+". "+strings.Join(label, "; ")), chartW, chartH)
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	// Axes and grid lines at 0, 50% and 100% of the y range.
	for _, f := range []float64{0, 0.5, 1} {
		v := lo + f*(hi-lo)
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="axis" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			chartLeft, y(v), chartW-chartRight, y(v), chartLeft-6, y(v)+4, template.HTMLEscapeString(num(v)))
	}
	// The range's ends: UTC here and on hover; the script writes them in
	// the viewer's zone.
	for _, e := range []struct {
		x      float64
		anchor string
		t      time.Time
	}{{chartLeft, "start", start}, {chartW - chartRight, "end", end}} {
		u := e.t.UTC()
		fmt.Fprintf(&b, `<text class="axis" x="%g" y="%g" text-anchor="%s"><title>%s</title><tspan data-utc="%s">%s</tspan></text>`,
			e.x, chartH-8, e.anchor, u.Format("2006-01-02 15:04 UTC"), u.Format(time.RFC3339), u.Format("15:04 UTC"))
	}
	for i, s := range ss {
		if len(s.Values) == 0 {
			continue
		}
		idx := make([]int, len(s.Times))
		for j := range idx {
			idx[j] = j
		}
		// Points in time order (GetMetricData returns newest first).
		sortByTime(idx, s.Times)
		var pts []string
		for _, j := range idx {
			if j < len(s.Values) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.Times[j]), y(s.Values[j])))
			}
		}
		class := chartClasses[i%len(chartClasses)]
		if len(pts) == 1 {
			var px, py float64
			_, _ = fmt.Sscanf(pts[0], "%g,%g", &px, &py)
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="3"/>`, class, px, py)
			continue
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, class, strings.Join(pts, " "))
	}
	b.WriteString(`</svg><figcaption>`)
	for i, s := range ss {
		fmt.Fprintf(&b, `<span class="key"><i class="%s" aria-hidden="true"></i>%s</span> `, chartClasses[i%len(chartClasses)], template.HTMLEscapeString(s.Summary()))
	}
	b.WriteString(`</figcaption></figure>`)
	return template.HTML(b.String())
}

func sortByTime(idx []int, ts []time.Time) {
	slices.SortStableFunc(idx, func(a, b int) int { return ts[a].Compare(ts[b]) })
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (100 stays 100).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
