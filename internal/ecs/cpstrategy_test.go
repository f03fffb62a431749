package ecs

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func item(name string, base, weight int32) ecsapi.CapacityProviderStrategyItem {
	return ecsapi.CapacityProviderStrategyItem{CapacityProvider: name, Base: base, Weight: weight}
}

// TestDistribute checks base-then-weight distribution: the case
// (10 tasks, base 2 on A, weights 1:3 → 4 on A and 6 on B), a service's
// existing tasks counting towards base and weight, weight 0 taking only its
// base, and the ratio holding at every count.
func TestDistribute(t *testing.T) {
	tests := []struct {
		name     string
		items    []ecsapi.CapacityProviderStrategyItem
		existing map[string]int
		n        int
		want     []int
	}{
		{"base 2 then 1:3", []ecsapi.CapacityProviderStrategyItem{item("A", 2, 1), item("B", 0, 3)}, nil, 10, []int{4, 6}},
		{"base on the second provider", []ecsapi.CapacityProviderStrategyItem{item("A", 0, 1), item("B", 3, 1)}, nil, 5, []int{1, 4}},
		{"fewer tasks than the base", []ecsapi.CapacityProviderStrategyItem{item("A", 5, 1), item("B", 0, 1)}, nil, 3, []int{3, 0}},
		{"weight 0 takes only its base", []ecsapi.CapacityProviderStrategyItem{item("A", 1, 0), item("B", 0, 1)}, nil, 6, []int{1, 5}},
		{"single provider", []ecsapi.CapacityProviderStrategyItem{item("A", 0, 1)}, nil, 7, []int{7}},
		{"existing tasks fill the base", []ecsapi.CapacityProviderStrategyItem{item("A", 2, 1), item("B", 0, 1)}, map[string]int{"A": 2}, 4, []int{2, 2}},
		{"existing tasks rebalance", []ecsapi.CapacityProviderStrategyItem{item("A", 0, 1), item("B", 0, 1)}, map[string]int{"A": 4}, 4, []int{0, 4}},
		{"ties go to the first", []ecsapi.CapacityProviderStrategyItem{item("A", 0, 1), item("B", 0, 1)}, nil, 3, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := distribute(tt.items, tt.existing, tt.n)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("distribute = %v, want %v", got, tt.want)
			}
		})
	}
	// Beyond the base, the counts stay within one task of the weights'
	// ratio at every total.
	items := []ecsapi.CapacityProviderStrategyItem{item("A", 2, 1), item("B", 0, 3), item("C", 0, 2)}
	for n := 2; n <= 60; n++ {
		got := distribute(items, nil, n)
		beyond := []int{got[0] - 2, got[1], got[2]}
		total := n - 2
		for i, w := range []int{1, 3, 2} {
			ideal := float64(total) * float64(w) / 6
			if d := float64(beyond[i]) - ideal; d > 1 || d < -1 {
				t.Fatalf("n=%d: %v beyond the base is off the 1:3:2 ratio at %d", n, beyond, i)
			}
		}
	}
}

// TestValidateStrategy checks every rule of a strategy on its own, with
// ECS's error code.
func TestValidateStrategy(t *testing.T) {
	many := make([]ecsapi.CapacityProviderStrategyItem, 21)
	for i := range many {
		many[i] = item("p"+strings.Repeat("x", i), 0, 1)
	}
	tests := []struct {
		name  string
		items []ecsapi.CapacityProviderStrategyItem
		msg   string // "" for valid
	}{
		{"valid", []ecsapi.CapacityProviderStrategyItem{item("A", 2, 1), item("B", 0, 3)}, ""},
		{"empty", nil, ""},
		{"too many", many, "at most 20"},
		{"no name", []ecsapi.CapacityProviderStrategyItem{item("", 0, 1)}, "capacityProvider' failed"},
		{"weight too big", []ecsapi.CapacityProviderStrategyItem{item("A", 0, 1001)}, "between 0 and 1000"},
		{"negative weight", []ecsapi.CapacityProviderStrategyItem{item("A", 0, -1)}, "between 0 and 1000"},
		{"base too big", []ecsapi.CapacityProviderStrategyItem{item("A", 100001, 1)}, "between 0 and 100000"},
		{"duplicate", []ecsapi.CapacityProviderStrategyItem{item("A", 0, 1), item("A", 0, 1)}, "more than once"},
		{"two bases", []ecsapi.CapacityProviderStrategyItem{item("A", 1, 1), item("B", 1, 1)}, "base value on only one"},
		{"no weight", []ecsapi.CapacityProviderStrategyItem{item("A", 1, 0), item("B", 0, 0)}, "weight greater than zero"},
		{"mixed", []ecsapi.CapacityProviderStrategyItem{item("FARGATE", 0, 1), item("B", 0, 1)}, "both Fargate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateStrategy(tt.items, "capacityProviderStrategy")
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("valid strategy refused: %v", err)
				}
				return
			}
			ae, ok := apierror.As(err)
			if !ok || ae.Code != apierror.CodeInvalidParameter || !strings.Contains(ae.Message, tt.msg) {
				t.Fatalf("err = %v, want InvalidParameterException with %q", err, tt.msg)
			}
		})
	}
	if err := checkStrategyForCluster([]ecsapi.CapacityProviderStrategyItem{item("C", 0, 1)}, []string{"A", "B"}, "capacityProviderStrategy"); err == nil ||
		!strings.Contains(err.Error(), "not associated with the cluster") {
		t.Fatalf("provider not in the cluster: %v", err)
	}
}
