package autoscaling

import (
	"math"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
)

func TestDecideStep(t *testing.T) {
	inf := math.Inf(1)
	out := []autoscalingapi.StepAdjustment{step(0, 10, 1), step(10, 30, 2), step(30, inf, 4)}
	in := []autoscalingapi.StepAdjustment{step(-inf, -20, -2), step(-20, 0, -1)}
	now := t0
	tests := []struct {
		name   string
		typ    autoscalingapi.AdjustmentType
		steps  []autoscalingapi.StepAdjustment
		mam    *int32
		in     inputs
		scale  bool
		to     int32
		reason string
	}{
		{"first step", "ChangeInCapacity", out, nil, inputs{Current: 2, Min: 1, Max: 10, Value: 75, Threshold: 70}, true, 3, ""},
		{"lower bound included above the threshold", "ChangeInCapacity", out, nil, inputs{Current: 2, Min: 1, Max: 10, Value: 80, Threshold: 70}, true, 4, ""},
		{"open-ended step", "ChangeInCapacity", out, nil, inputs{Current: 2, Min: 1, Max: 10, Value: 200, Threshold: 70}, true, 6, ""},
		{"clamped to max", "ChangeInCapacity", out, nil, inputs{Current: 8, Min: 1, Max: 10, Value: 200, Threshold: 70}, true, 10, ""},
		{"already at max", "ChangeInCapacity", out, nil, inputs{Current: 10, Min: 1, Max: 10, Value: 200, Threshold: 70}, false, 0, reasonAlreadyAtMax},
		{"scale in", "ChangeInCapacity", in, nil, inputs{Current: 5, Min: 1, Max: 10, Value: 40, Threshold: 50}, true, 4, ""},
		{"upper bound included below the threshold", "ChangeInCapacity", in, nil, inputs{Current: 5, Min: 1, Max: 10, Value: 30, Threshold: 50}, true, 3, ""},
		{"bigger scale in", "ChangeInCapacity", in, nil, inputs{Current: 5, Min: 1, Max: 10, Value: 10, Threshold: 50}, true, 3, ""},
		{"just below the threshold", "ChangeInCapacity", in, nil, inputs{Current: 5, Min: 1, Max: 10, Value: 49.9, Threshold: 50}, true, 4, ""},
		{"already at min", "ChangeInCapacity", in, nil, inputs{Current: 1, Min: 1, Max: 10, Value: 10, Threshold: 50}, false, 0, reasonAlreadyAtMin},
		{"no step for the breach", "ChangeInCapacity", out, nil, inputs{Current: 2, Min: 1, Max: 10, Value: 60, Threshold: 70}, false, 0, reasonNoStep},
		{"no data", "ChangeInCapacity", out, nil, inputs{Current: 2, Min: 1, Max: 10, Value: math.NaN(), Threshold: 70}, false, 0, reasonNoData},
		{"exact", "ExactCapacity", []autoscalingapi.StepAdjustment{step(0, inf, 7)}, nil, inputs{Current: 2, Min: 1, Max: 10, Value: 71, Threshold: 70}, true, 7, ""},
		{"percent rounds toward zero", "PercentChangeInCapacity", []autoscalingapi.StepAdjustment{step(0, inf, 50)}, nil, inputs{Current: 5, Min: 1, Max: 20, Value: 71, Threshold: 70}, true, 7, ""},
		{"percent under one task is one", "PercentChangeInCapacity", []autoscalingapi.StepAdjustment{step(0, inf, 10)}, nil, inputs{Current: 3, Min: 1, Max: 20, Value: 71, Threshold: 70}, true, 4, ""},
		{"min adjustment magnitude", "PercentChangeInCapacity", []autoscalingapi.StepAdjustment{step(0, inf, 10)}, new(int32(3)), inputs{Current: 5, Min: 1, Max: 20, Value: 71, Threshold: 70}, true, 8, ""},
		{"percent scale in", "PercentChangeInCapacity", []autoscalingapi.StepAdjustment{step(-inf, 0, -50)}, nil, inputs{Current: 5, Min: 1, Max: 20, Value: 10, Threshold: 70}, true, 3, ""},
		{"scale out suspended", "ChangeInCapacity", out, nil, inputs{Current: 2, Min: 1, Max: 10, Value: 75, Threshold: 70, OutSuspended: true}, false, 0, reasonSuspended},
		{"scale in suspended", "ChangeInCapacity", in, nil, inputs{Current: 5, Min: 1, Max: 10, Value: 40, Threshold: 50, InSuspended: true}, false, 0, reasonSuspended},
		{"scale-out cooldown: the same step again does nothing", "ChangeInCapacity", out, nil,
			inputs{Current: 3, Min: 1, Max: 10, Value: 75, Threshold: 70, Now: now, Cooldown: cooldown{ScaleOutUntil: now.Add(time.Minute), ScaleOutFrom: 2}}, false, 0, reasonCooldown},
		{"scale-out cooldown: a bigger step counts from before the last", "ChangeInCapacity", out, nil,
			inputs{Current: 3, Min: 1, Max: 10, Value: 200, Threshold: 70, Now: now, Cooldown: cooldown{ScaleOutUntil: now.Add(time.Minute), ScaleOutFrom: 2}}, true, 6, ""},
		{"scale-out cooldown over", "ChangeInCapacity", out, nil,
			inputs{Current: 3, Min: 1, Max: 10, Value: 75, Threshold: 70, Now: now, Cooldown: cooldown{ScaleOutUntil: now, ScaleOutFrom: 2}}, true, 4, ""},
		{"no scale in during a scale-out cooldown", "ChangeInCapacity", in, nil,
			inputs{Current: 5, Min: 1, Max: 10, Value: 40, Threshold: 50, Now: now, Cooldown: cooldown{ScaleOutUntil: now.Add(time.Second)}}, false, 0, reasonCooldown},
		{"no scale in during a scale-in cooldown", "ChangeInCapacity", in, nil,
			inputs{Current: 5, Min: 1, Max: 10, Value: 40, Threshold: 50, Now: now, Cooldown: cooldown{ScaleInUntil: now.Add(time.Second)}}, false, 0, reasonCooldown},
		{"scale out during a scale-in cooldown", "ChangeInCapacity", out, nil,
			inputs{Current: 5, Min: 1, Max: 10, Value: 75, Threshold: 70, Now: now, Cooldown: cooldown{ScaleInUntil: now.Add(time.Minute)}}, true, 6, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &autoscalingapi.StepScalingPolicyConfiguration{AdjustmentType: tc.typ, StepAdjustments: tc.steps, MinAdjustmentMagnitude: tc.mam, Cooldown: new(int32(60))}
			if tc.in.Now.IsZero() {
				tc.in.Now = now
			}
			d := decideStep(c, tc.in)
			if d.Scale != tc.scale || d.To != tc.to || d.Reason != tc.reason {
				t.Fatalf("decision %+v, want scale=%v to=%d reason=%q", d, tc.scale, tc.to, tc.reason)
			}
			if d.Scale && d.Cooldown != time.Minute {
				t.Errorf("cooldown %v, want the policy's 1m", d.Cooldown)
			}
		})
	}
}

func TestDecideTracking(t *testing.T) {
	now := t0
	tests := []struct {
		name      string
		disableIn bool
		in        inputs
		scale     bool
		to        int32
		reason    string
	}{
		{"proportional scale out", false, inputs{Current: 2, Min: 1, Max: 20, Value: 150, High: true, HighKnown: true}, true, 6, ""},
		{"at least one task", false, inputs{Current: 4, Min: 1, Max: 20, Value: 52, High: true, HighKnown: true}, true, 5, ""},
		{"from zero tasks", false, inputs{Current: 0, Min: 0, Max: 20, Value: 100, High: true, HighKnown: true}, true, 1, ""},
		{"clamped", false, inputs{Current: 2, Min: 1, Max: 5, Value: 500, High: true, HighKnown: true}, true, 5, ""},
		{"scale in a tenth at most", false, inputs{Current: 20, Min: 1, Max: 40, Value: 10, High: false, HighKnown: true}, true, 18, ""},
		{"scale in proportionally when closer", false, inputs{Current: 10, Min: 1, Max: 40, Value: 42, High: false, HighKnown: true}, true, 9, ""},
		{"scale in at least one task", false, inputs{Current: 3, Min: 1, Max: 40, Value: 5, High: false, HighKnown: true}, true, 2, ""},
		{"scale in disabled", true, inputs{Current: 3, Min: 1, Max: 40, Value: 5, High: false, HighKnown: true}, false, 0, reasonScaleInDisabled},
		{"low alarm but at target", false, inputs{Current: 3, Min: 1, Max: 40, Value: 50, High: false, HighKnown: true}, false, 0, reasonAlreadyAtDesired},
		{"high or low from the value when the alarm is not the policy's", false, inputs{Current: 2, Min: 1, Max: 20, Value: 100}, true, 4, ""},
		{"scale-out cooldown counts from before", false,
			inputs{Current: 4, Min: 1, Max: 20, Value: 100, High: true, HighKnown: true, Now: now, Cooldown: cooldown{ScaleOutUntil: now.Add(time.Minute), ScaleOutFrom: 2}}, false, 0, reasonCooldown},
		{"scale-in cooldown", false,
			inputs{Current: 4, Min: 1, Max: 20, Value: 10, High: false, HighKnown: true, Now: now, Cooldown: cooldown{ScaleInUntil: now.Add(time.Minute)}}, false, 0, reasonCooldown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &autoscalingapi.TargetTrackingScalingPolicyConfiguration{TargetValue: new(50.0), DisableScaleIn: &tc.disableIn,
				ScaleOutCooldown: new(int32(30)), ScaleInCooldown: new(int32(120))}
			if tc.in.Now.IsZero() {
				tc.in.Now = now
			}
			d := decideTracking(c, tc.in)
			if d.Scale != tc.scale || d.To != tc.to || d.Reason != tc.reason {
				t.Fatalf("decision %+v, want scale=%v to=%d reason=%q", d, tc.scale, tc.to, tc.reason)
			}
			if d.Scale {
				want := 120 * time.Second
				if d.Out {
					want = 30 * time.Second
				}
				if d.Cooldown != want {
					t.Errorf("cooldown %v, want %v", d.Cooldown, want)
				}
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2026, 3, 2, 9, 0, 30, 0, time.UTC) // a Monday
	tests := []struct {
		expr   string
		loc    *time.Location
		anchor time.Time
		want   []time.Time // the next occurrences after `after`
		bad    bool
	}{
		{expr: "cron(0 10 * * ? *)", want: []time.Time{time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)}},
		{expr: "cron(*/15 9 ? * MON-FRI *)", want: []time.Time{time.Date(2026, 3, 2, 9, 15, 0, 0, time.UTC), time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)}},
		{expr: "cron(0 8 ? * SAT,SUN *)", want: []time.Time{time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC)}},
		{expr: "cron(30 6 L * ? *)", want: []time.Time{time.Date(2026, 3, 31, 6, 30, 0, 0, time.UTC), time.Date(2026, 4, 30, 6, 30, 0, 0, time.UTC)}},
		{expr: "cron(0 12 ? * 2#1 *)", want: []time.Time{time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), time.Date(2026, 4, 6, 12, 0, 0, 0, time.UTC)}},
		{expr: "cron(0 12 ? * 6L *)", want: []time.Time{time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC)}},
		{expr: "cron(0 0 1 JAN ? 2027-2028)", want: []time.Time{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{expr: "cron(0 9 * * ? *)", loc: ny, want: []time.Time{time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 14, 0, 0, 0, time.UTC)}},
		{expr: "rate(5 minutes)", anchor: time.Date(2026, 3, 2, 8, 58, 0, 0, time.UTC), want: []time.Time{time.Date(2026, 3, 2, 9, 3, 0, 0, time.UTC), time.Date(2026, 3, 2, 9, 8, 0, 0, time.UTC)}},
		{expr: "rate(1 hour)", anchor: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC), want: []time.Time{time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC), time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)}},
		{expr: "at(2026-03-02T09:05:00)", want: []time.Time{time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC)}},
		{expr: "at(2026-03-02T04:05:00)", loc: ny, want: []time.Time{time.Date(2026, 3, 2, 9, 5, 0, 0, time.UTC)}},
		{expr: "cron(0 10 * * * *)", bad: true},
		{expr: "cron(0 10 * *)", bad: true},
		{expr: "cron(61 10 * * ? *)", bad: true},
		{expr: "cron(0 10 15W * ? *)", bad: true},
		{expr: "cron(0 10 ? * 9 *)", bad: true},
		{expr: "rate(0 minutes)", bad: true},
		{expr: "rate(1 minutes)", bad: true},
		{expr: "rate(5 weeks)", bad: true},
		{expr: "at(2026-03-02 09:05)", bad: true},
		{expr: "every(5m)", bad: true},
		{expr: "cron(0 10 * * ? *", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			loc := tc.loc
			if loc == nil {
				loc = time.UTC
			}
			s, err := parseSchedule(tc.expr, loc)
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %q", tc.expr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			at := after
			for _, want := range tc.want {
				got, ok := s.next(at, tc.anchor)
				if !ok || !got.Equal(want) {
					t.Fatalf("next after %v = %v %v, want %v", at, got, ok, want)
				}
				at = got
			}
			if len(tc.want) == 1 && s.cron == nil {
				if got, ok := s.next(at, tc.anchor); ok {
					t.Errorf("at() occurs again at %v", got)
				}
			}
		})
	}
}
