package capacity

import "testing"

func TestReservation(t *testing.T) {
	tests := []struct {
		name            string
		needed, running int
		want            float64
	}{
		{"no tasks, no instances", 0, 0, 100},
		{"tasks waiting, no instance", 3, 0, 200},
		{"as many as needed", 4, 4, 100},
		{"more needed: scale out", 6, 4, 150},
		{"fewer needed: scale in", 2, 4, 50},
		{"none needed", 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reservation(tt.needed, tt.running); got != tt.want {
				t.Fatalf("Reservation(%d, %d) = %v, want %v", tt.needed, tt.running, got, tt.want)
			}
		})
	}
}

func TestDesired(t *testing.T) {
	full := Settings{TargetCapacity: 100, MinimumStep: 1, MaximumStep: 10000}
	tests := []struct {
		name            string
		s               Settings
		needed, running int
		want            int
	}{
		{"steady", full, 3, 3, 3},
		{"scale out to what is needed", full, 5, 3, 5},
		{"from zero: the minimum step", full, 2, 0, 1},
		{"minimum step", Settings{TargetCapacity: 100, MinimumStep: 3, MaximumStep: 10}, 1, 0, 3},
		{"maximum step", Settings{TargetCapacity: 100, MinimumStep: 1, MaximumStep: 2}, 9, 1, 3},
		{"target 50 keeps spare", Settings{TargetCapacity: 50, MinimumStep: 1, MaximumStep: 100}, 3, 2, 6},
		{"target 90 rounds up", Settings{TargetCapacity: 90, MinimumStep: 1, MaximumStep: 100}, 10, 10, 12},
		{"scale in not bounded by steps", Settings{TargetCapacity: 100, MinimumStep: 5, MaximumStep: 1}, 1, 6, 1},
		{"scale in to zero", full, 0, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Desired(tt.s, tt.needed, tt.running); got != tt.want {
				t.Fatalf("Desired(%+v, %d, %d) = %d, want %d", tt.s, tt.needed, tt.running, got, tt.want)
			}
		})
	}
}

func TestNeeded(t *testing.T) {
	shape := Resources{CPU: 1024, Memory: 1024}
	tests := []struct {
		name      string
		instances []InstanceLoad
		waiting   []Resources
		shape     Resources
		want      int
	}{
		{"nothing", nil, nil, shape, 0},
		{"busy and idle instances", []InstanceLoad{{Remaining: shape, Tasks: 0}, {Remaining: Resources{512, 512}, Tasks: 2}}, nil, shape, 1},
		{"waiting tasks fill an idle instance first", []InstanceLoad{{Remaining: shape}}, []Resources{{512, 512}, {512, 512}}, shape, 1},
		{"waiting tasks packed onto new instances", []InstanceLoad{{Remaining: Resources{0, 0}, Tasks: 4}},
			[]Resources{{512, 512}, {512, 512}, {512, 512}}, shape, 3},
		{"shape unknown: one each", nil, []Resources{{256, 256}, {256, 256}}, Resources{}, 2},
		{"too big for the shape: one of its own", nil, []Resources{{4096, 256}}, shape, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Needed(tt.instances, tt.waiting, tt.shape); got != tt.want {
				t.Fatalf("Needed = %d, want %d", got, tt.want)
			}
		})
	}
}
