package metricstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

func collect(t *testing.T, s *Store, ser Series, from, to time.Time) []string {
	t.Helper()
	var out []string
	err := s.Scan(ser, from, to, func(d *Datum) {
		switch {
		case d.Stats != nil:
			out = append(out, fmt.Sprintf("%s %s stats %v", d.Time.UTC().Format("15:04:05"), d.Unit, *d.Stats))
		default:
			out = append(out, fmt.Sprintf("%s %s %v %v hr=%v", d.Time.UTC().Format("15:04:05"), d.Unit, d.Values, d.Counts, d.HighResolution))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendScanReopenExpire(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := Options{Now: clock, Retention: 3 * time.Hour, Retention5m: 5 * time.Hour, Retention1h: 10 * time.Hour}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	web := Series{Namespace: "NS", Name: "Latency", Dimensions: []Dimension{{"Cluster", "c"}, {"Service", "web"}}}
	api := Series{Namespace: "NS", Name: "Latency", Dimensions: []Dimension{{"Cluster", "c"}, {"Service", "api"}}}
	t0 := now.Add(-4 * time.Hour)
	err = s.Append([]Datum{
		{Series: web, Time: t0, Unit: "None", Values: []float64{1}},
		{Series: web, Time: now.Add(-time.Hour), Unit: "Milliseconds", Values: []float64{2, 3}, Counts: []float64{1, 5}},
		{Series: web, Time: now.Add(-time.Hour), Unit: "Milliseconds", Stats: &Stats{SampleCount: 2, Sum: 3, Min: 1, Max: 2}},
		{Series: api, Time: now.Add(-time.Minute), Unit: "Count", Values: []float64{7}, HighResolution: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]string{"06:00:00 None [1] [] hr=false", "09:00:00 Milliseconds [2 3] [1 5] hr=false", "09:00:00 Milliseconds stats {2 3 1 2}"})
	if got := fmt.Sprint(collect(t, s, web, t0, now)); got != want {
		t.Fatalf("scan:\n%s\nwant\n%s", got, want)
	}
	if got := collect(t, s, web, t0.Add(time.Millisecond), now.Add(-time.Hour)); len(got) != 0 {
		t.Fatalf("half-open range: %v", got)
	}
	if list := s.List("NS", "", 0, nil); len(list) != 2 || list[0].Series.Name != "Latency" {
		t.Fatalf("list: %+v", list)
	}
	if list := s.List("Other", "", 0, nil); len(list) != 0 {
		t.Fatalf("list of another namespace: %+v", list)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append([]Datum{{Series: web, Time: now, Values: []float64{1}}}); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
	// Reopened: the same data and series.
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := fmt.Sprint(collect(t, s, web, t0, now)); got != want {
		t.Fatalf("after reopen:\n%s\nwant\n%s", got, want)
	}
	if got := collect(t, s, api, t0, now); len(got) != 1 || got[0] != "09:59:00 Count [7] [] hr=true" {
		t.Fatalf("api after reopen: %v", got)
	}
	// Retention: data older than 3 hours becomes five-minute statistic
	// sets, older than 5 hours hourly ones, older than 10 hours goes.
	if err := s.Expire(); err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprint([]string{"06:00:00 None stats {1 1 1 1}", "09:00:00 Milliseconds [2 3] [1 5] hr=false", "09:00:00 Milliseconds stats {2 3 1 2}"})
	if got := fmt.Sprint(collect(t, s, web, t0, now)); got != want {
		t.Fatalf("after the first roll-up:\n%s\nwant\n%s", got, want)
	}
	now = now.Add(4 * time.Hour) // 14:00
	if err := s.Expire(); err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprint([]string{"06:00:00 None stats {1 1 1 1}", "09:00:00 Milliseconds stats {8 20 1 3}"})
	if got := fmt.Sprint(collect(t, s, web, t0, now)); got != want {
		t.Fatalf("after the second roll-up:\n%s\nwant\n%s", got, want)
	}
	if got := collect(t, s, api, t0, now); len(got) != 1 || got[0] != "09:55:00 Count stats {1 7 7 7}" {
		t.Fatalf("api rolled up: %v", got)
	}
	// 06:00 is now an hourly set, in the hourly level.
	if n := countPrefix(t, s, prefixHour); n != 1 {
		t.Fatalf("%d hourly sets", n)
	}
	if n := countPrefix(t, s, prefixData); n != 0 {
		t.Fatalf("%d datums left as put", n)
	}
	now = now.Add(20 * time.Hour)
	if err := s.Expire(); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s, web, t0, now); len(got) != 0 {
		t.Fatalf("after expiry: %v", got)
	}
	if list := s.List("", "", 0, nil); len(list) != 0 {
		t.Fatalf("series after expiry: %+v", list)
	}
}

func countPrefix(t *testing.T, s *Store, prefix byte) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

func TestSeriesKeyRoundTrip(t *testing.T) {
	ser := Series{Namespace: "a\x00b", Name: "n", Dimensions: []Dimension{{"x", "1"}, {"y", ""}}}
	got, err := decodeSeries(Key(ser))
	if err != nil || fmt.Sprint(got) != fmt.Sprint(ser) {
		t.Fatalf("got %+v %v", got, err)
	}
	if _, err := decodeSeries("\x05ab"); err == nil {
		t.Fatal("a truncated key decoded")
	}
}
