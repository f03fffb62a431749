package autoscaling

import (
	"math"
	"time"

	"github.com/gantry-dev/gantry/internal/autoscalingapi"
)

// Default cooldowns of ECS targets, in seconds (AWS's for ECS services).
const (
	DefaultStepCooldown     = 300
	DefaultScaleOutCooldown = 300
	DefaultScaleInCooldown  = 300
)

// decision is what a policy invocation decides: to set the desired count
// to To (Scale), or nothing, for the reason Reason (a NotScaledReason
// code).
type decision struct {
	Scale  bool
	To     int32
	Out    bool // a scale-out (To above the current count)
	Reason string
	// Want is the count the policy asked for before the bounds, when
	// Reason is one of AWS's NotScaledReason codes (AlreadyAt...).
	Want int32
	// Cooldown is the cooldown that starts with the change.
	Cooldown time.Duration
}

// Reasons a policy did not scale (AWS's NotScaledReason codes).
const (
	reasonAlreadyAtMax     = "AlreadyAtMaxCapacity"
	reasonAlreadyAtMin     = "AlreadyAtMinCapacity"
	reasonAlreadyAtDesired = "AlreadyAtDesiredCapacity"
	reasonCooldown         = "InCooldown"
	reasonSuspended        = "ScalingSuspended"
	reasonNoStep           = "NoStepAdjustment"
	reasonNoData           = "NoData"
	reasonScaleInDisabled  = "ScaleInDisabled"
)

// inputs are what a decision looks at besides the policy.
type inputs struct {
	Current          int32
	Min, Max         int32
	InSuspended      bool
	OutSuspended     bool
	Cooldown         cooldown
	Now              time.Time
	Value, Threshold float64
	High, HighKnown  bool // target tracking: the high alarm fired (when known)
}

func clamp(n, lo, hi int32) int32 { return max(lo, min(hi, n)) }

// finish turns a wanted count into a decision: clamped to [Min, Max],
// compared with the current count, refused if suspended.
func finish(in inputs, want int32, cd time.Duration) decision {
	to := clamp(want, in.Min, in.Max)
	switch {
	case to == in.Current:
		switch {
		case want > in.Max:
			return decision{Reason: reasonAlreadyAtMax, Want: want}
		case want < in.Min:
			return decision{Reason: reasonAlreadyAtMin, Want: want}
		}
		return decision{Reason: reasonAlreadyAtDesired, Want: want}
	case to > in.Current && in.OutSuspended, to < in.Current && in.InSuspended:
		return decision{Reason: reasonSuspended}
	}
	return decision{Scale: true, To: to, Out: to > in.Current, Cooldown: cd}
}

// decideStep is a step scaling policy's decision: the step adjustment
// whose interval holds the breach (Value - Threshold) applies to the
// current count; during a scale-out cooldown a scale-out counts from the
// count before the last one and applies only if it goes higher, and no
// scale-in happens.
func decideStep(c *autoscalingapi.StepScalingPolicyConfiguration, in inputs) decision {
	if math.IsNaN(in.Value) {
		return decision{Reason: reasonNoData}
	}
	step := findStep(c.StepAdjustments, in.Value-in.Threshold)
	if step == nil {
		return decision{Reason: reasonNoStep}
	}
	cd := time.Duration(DefaultStepCooldown) * time.Second
	if c.Cooldown != nil {
		cd = time.Duration(*c.Cooldown) * time.Second
	}
	adj := *step.ScalingAdjustment
	apply := func(base int32) int32 {
		switch c.AdjustmentType {
		case "ExactCapacity":
			return adj
		case "PercentChangeInCapacity":
			delta := float64(base) * float64(adj) / 100
			var d int32
			switch {
			case delta > 0 && delta < 1:
				d = 1
			case delta < 0 && delta > -1:
				d = -1
			default:
				d = int32(delta) // toward zero, as AWS rounds
			}
			if m := c.MinAdjustmentMagnitude; m != nil && *m > 0 && abs(d) < *m && d != 0 {
				if d > 0 {
					d = *m
				} else {
					d = -*m
				}
			}
			return base + d
		}
		return base + adj
	}
	return cooled(in, apply, cd, cd)
}

// cooled applies the cooldowns to a decision computed by want from a base
// count: outCD and inCD are the cooldowns a scale-out or scale-in starts.
func cooled(in inputs, want func(base int32) int32, outCD, inCD time.Duration) decision {
	w := want(in.Current)
	inOutCooldown := in.Now.Before(in.Cooldown.ScaleOutUntil)
	if w > in.Current {
		if inOutCooldown {
			// The capacity the last scale-out added counts: go on
			// only if this one goes higher than where it went.
			w = want(in.Cooldown.ScaleOutFrom)
			if w <= in.Current {
				return decision{Reason: reasonCooldown}
			}
		}
		return finish(in, w, outCD)
	}
	if w < in.Current && (inOutCooldown || in.Now.Before(in.Cooldown.ScaleInUntil)) {
		return decision{Reason: reasonCooldown}
	}
	return finish(in, w, inCD)
}

// findStep returns the step adjustment whose interval (relative to the
// threshold) holds breach: as AWS does, the lower bound is included and
// the upper excluded when the metric is above the threshold, the other
// way below it.
func findStep(steps []autoscalingapi.StepAdjustment, breach float64) *autoscalingapi.StepAdjustment {
	above := breach >= 0
	for pass := 0; pass < 2; pass++ {
		for i := range steps {
			s := &steps[i]
			lo, hi := math.Inf(-1), math.Inf(1)
			if s.MetricIntervalLowerBound != nil {
				lo = *s.MetricIntervalLowerBound
			}
			if s.MetricIntervalUpperBound != nil {
				hi = *s.MetricIntervalUpperBound
			}
			if (above && breach >= lo && breach < hi) || (!above && breach > lo && breach <= hi) {
				return s
			}
		}
		if breach != 0 {
			break
		}
		above = false // a breach of exactly 0 may sit on a scale-in step's upper bound
	}
	return nil
}

func abs(n int32) int32 {
	if n < 0 {
		return -n
	}
	return n
}

// decideTracking is a target tracking policy's decision: the count that
// brings the metric to the target, proportionally (ceil(current * value /
// target)). The high alarm scales out by at least one task; the low alarm
// scales in by at most a tenth of the tasks (at least one) at a time, never
// when scale-in is disabled, and never during either cooldown.
func decideTracking(c *autoscalingapi.TargetTrackingScalingPolicyConfiguration, in inputs) decision {
	if math.IsNaN(in.Value) || c.TargetValue == nil || *c.TargetValue <= 0 {
		return decision{Reason: reasonNoData}
	}
	target := *c.TargetValue
	high := in.Value > target
	if in.HighKnown {
		high = in.High
	}
	outCD := time.Duration(DefaultScaleOutCooldown) * time.Second
	if c.ScaleOutCooldown != nil {
		outCD = time.Duration(*c.ScaleOutCooldown) * time.Second
	}
	inCD := time.Duration(DefaultScaleInCooldown) * time.Second
	if c.ScaleInCooldown != nil {
		inCD = time.Duration(*c.ScaleInCooldown) * time.Second
	}
	proportional := func(base int32) int32 {
		f := math.Ceil(float64(base) * in.Value / target)
		if f > math.MaxInt32 {
			return math.MaxInt32
		}
		return int32(f)
	}
	if high {
		return cooled(in, func(base int32) int32 { return max(proportional(base), base+1) }, outCD, inCD)
	}
	if c.DisableScaleIn != nil && *c.DisableScaleIn {
		return decision{Reason: reasonScaleInDisabled}
	}
	return cooled(in, func(base int32) int32 {
		step := max(1, base/10)
		return min(base, max(proportional(base), base-step))
	}, outCD, inCD)
}
