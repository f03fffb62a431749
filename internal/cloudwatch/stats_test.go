package cloudwatch

import (
	"math"
	"testing"

	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
)

func TestBucketStatistics(t *testing.T) {
	var b bucket
	var vals []float64
	for i := 1; i <= 100; i++ {
		vals = append(vals, float64(i))
	}
	b.add(&metricstore.Datum{Values: vals}, true)
	tests := []struct {
		stat string
		want float64
	}{
		{"SampleCount", 100}, {"Sum", 5050}, {"Average", 50.5}, {"Minimum", 1}, {"Maximum", 100},
		{"p50", 50}, {"p99.5", 100}, {"p0", 1}, {"p100", 100},
		{"tm90", 45.5},        // mean of 1..90
		{"TM(10%:90%)", 50.5}, // mean of 11..90
		{"IQM", 50.5},         // mean of 26..75
		{"tc90", 90}, {"TS(:10%)", 55}, {"TC(50%:)", 50},
		{"wm90", (4095 + 10*90) / 100.0}, // 91..100 count as 90
	}
	for _, tt := range tests {
		got, ok := b.stat(tt.stat)
		if !ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s = %v (%v), want %v", tt.stat, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"p101", "tm0", "TM(90%:10%)", "TM(10:90)", "Median", "p", "wm"} {
		if validStat(bad) {
			t.Errorf("%s accepted", bad)
		}
	}
	// Counts weigh values; statistic sets have no percentile.
	var c bucket
	c.add(&metricstore.Datum{Values: []float64{5, 50}, Counts: []float64{9, 1}}, true)
	if v, _ := c.stat("p90"); v != 5 {
		t.Errorf("p90 with counts = %v", v)
	}
	if v, _ := c.stat("p91"); v != 50 {
		t.Errorf("p91 with counts = %v", v)
	}
	var s bucket
	s.add(&metricstore.Datum{Stats: &metricstore.Stats{SampleCount: 2, Sum: 3, Min: 1, Max: 2}}, true)
	if _, ok := s.stat("p50"); ok {
		t.Error("a percentile of statistic sets")
	}
}
