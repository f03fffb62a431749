package taskstatus

import "testing"

func TestRank(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   int
	}{
		{"provisioning", "PROVISIONING", 1},
		{"pending", "PENDING", 2},
		{"activating", "ACTIVATING", 3},
		{"running", "RUNNING", 4},
		{"deactivating", "DEACTIVATING", 5},
		{"stopping", "STOPPING", 6},
		{"deprovisioning", "DEPROVISIONING", 7},
		{"stopped", "STOPPED", 8},
		{"deleted", "DELETED", 9},
		{"empty", "", 0},
		{"lower case is unknown", "running", 0},
		{"container-only status", "CREATED", 0},
		{"unknown", "DONE", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Rank(tc.status); got != tc.want {
				t.Errorf("Rank(%q) = %d, want %d", tc.status, got, tc.want)
			}
		})
	}
}

func TestContainerRank(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   int
	}{
		{"pending", "PENDING", 1},
		{"running", "RUNNING", 2},
		{"stopped", "STOPPED", 3},
		{"empty", "", 0},
		{"task-only status", "PROVISIONING", 0},
		{"agent-internal created", "CREATED", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ContainerRank(tc.status); got != tc.want {
				t.Errorf("ContainerRank(%q) = %d, want %d", tc.status, got, tc.want)
			}
		})
	}
}

func TestAfter(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"stopped after running", Stopped, Running, true},
		{"running not after running", Running, Running, false},
		{"pending not after running", Pending, Running, false},
		{"deleted after stopped", Deleted, Stopped, true},
		{"unknown before provisioning", "", Provisioning, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := After(tc.a, tc.b); got != tc.want {
				t.Errorf("After(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}
