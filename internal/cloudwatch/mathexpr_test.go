package cloudwatch

import (
	"fmt"
	"testing"
)

func TestMetricMath(t *testing.T) {
	series := map[string]tseries{
		"a": {ts: []int64{1, 2, 3}, vals: []float64{1, 2, 3}},
		"b": {ts: []int64{2, 3, 4}, vals: []float64{10, 20, 30}},
	}
	env := &evalEnv{
		lookup: func(id string) (value, error) {
			s, ok := series[id]
			if !ok {
				return value{}, exprErr("unknown %s", id)
			}
			return value{kind: kSeries, series: s}, nil
		},
		metrics: func() []tseries { return []tseries{series["a"], series["b"]} },
	}
	tests := []struct{ expr, want string }{
		{"a + b", "series [2 3] [12 23]"},
		{"a * 2 + 1", "series [1 2 3] [3 5 7]"},
		{"-a", "series [1 2 3] [-1 -2 -3]"},
		{"2 ^ 3 ^ 2", "scalar 512"},
		{"(1 + 2) * 3 - 4 / 2", "scalar 7"},
		{"b / (a - 2)", "series [3] [20]"}, // division by zero drops the point
		{"SUM([a, b])", "series [1 2 3 4] [1 12 23 30]"},
		{"AVG(METRICS())", "series [1 2 3 4] [1 6 11.5 30]"},
		{"MAX([a, b * 0])", "series [1 2 3 4] [1 2 3 0]"},
		{"min(a)", "scalar 1"},
		{"ABS(a - 10)", "series [1 2 3] [9 8 7]"},
		{"1e2 + .5", "scalar 100.5"},
	}
	for _, tt := range tests {
		n, err := parseExpr(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		v, err := env.eval(n)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		got := ""
		switch v.kind {
		case kScalar:
			got = fmt.Sprintf("scalar %v", v.scalar)
		case kSeries:
			got = fmt.Sprintf("series %v %v", v.series.ts, v.series.vals)
		default:
			got = fmt.Sprintf("array of %d", len(v.array))
		}
		if got != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{"", "a +", "(a", "a b", "SUM(a, b)", "FOO(a)", "[a, 1]", "1 $ 2", "[a] + [b]"} {
		n, err := parseExpr(bad)
		if err == nil {
			_, err = env.eval(n)
		}
		if err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
