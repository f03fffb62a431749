// Package capacity is managed scaling of Auto Scaling group capacity
// providers, computed as ECS computes it, and the provisioners that carry
// out its scaling actions: a command, an HTTP hook, or Gantry's Docker
// provisioner (cmd/gantry-provisioner) behind that hook.
package capacity

import "math"

// Resources are an instance's CPU units and memory MiB.
type Resources struct {
	CPU, Memory int64
}

// fits reports whether d fits in r.
func (r Resources) fits(d Resources) bool { return d.CPU <= r.CPU && d.Memory <= r.Memory }

// InstanceLoad is one running instance of a provider as managed scaling
// sees it: what it has left, and how many tasks other than daemon tasks it
// runs (ECS counts an instance that runs only daemon tasks as empty).
type InstanceLoad struct {
	Remaining Resources
	Tasks     int
}

// Needed returns how many instances the provider needs (ECS's M): the
// instances that run tasks, plus those the tasks waiting in PROVISIONING
// need. The waiting tasks are packed first fit onto what the running
// instances have left (an empty instance that takes one becomes needed),
// then onto new instances of shape (the registered resources of the
// provider's largest instance). A task that fits no new instance, or any
// task when shape is unknown (no instance ever ran), needs one of its own.
func Needed(instances []InstanceLoad, waiting []Resources, shape Resources) int {
	n := 0
	left := make([]Resources, len(instances))
	used := make([]bool, len(instances))
	for i, in := range instances {
		left[i] = in.Remaining
		if in.Tasks > 0 {
			used[i] = true
			n++
		}
	}
	var fresh []Resources
	for _, d := range waiting {
		placed := false
		for i := range left {
			if left[i].fits(d) {
				left[i].CPU -= d.CPU
				left[i].Memory -= d.Memory
				if !used[i] {
					used[i] = true
					n++
				}
				placed = true
				break
			}
		}
		if placed {
			continue
		}
		for i := range fresh {
			if fresh[i].fits(d) {
				fresh[i].CPU -= d.CPU
				fresh[i].Memory -= d.Memory
				placed = true
				break
			}
		}
		if placed {
			continue
		}
		if shape.CPU > 0 && shape.Memory > 0 && shape.fits(d) {
			fresh = append(fresh, Resources{CPU: shape.CPU - d.CPU, Memory: shape.Memory - d.Memory})
		} else {
			fresh = append(fresh, Resources{})
		}
	}
	return n + len(fresh)
}

// Reservation is the CapacityProviderReservation metric in percent, from
// the instances needed (M) and the instances running (N): M/N*100, 100
// when both are 0 and 200 when instances are needed but none runs (ECS's
// documented special cases; 0 when none is needed and some run).
func Reservation(needed, running int) float64 {
	switch {
	case needed == 0 && running == 0:
		return 100
	case running == 0:
		return 200
	}
	return float64(needed) / float64(running) * 100
}

// Settings are a provider's managedScaling members that the decision uses.
type Settings struct {
	// TargetCapacity is the target of the reservation, 1 to 100 percent.
	TargetCapacity int
	// MinimumStep and MaximumStep bound how many instances one scale-out
	// adds; scale-in is not bounded by them (ECS: "The scale in process
	// is not affected by this parameter").
	MinimumStep, MaximumStep int
}

// Desired returns the instance count that brings the reservation to the
// target: target tracking on CapacityProviderReservation, whose value at
// the desired count D is needed/D*100. A scale-out adds between the
// minimum and the maximum step; a scale-in goes straight to the count
// needed. With no instance running and some needed, the metric is 200
// whatever the need, and the first step is the minimum step.
func Desired(s Settings, needed, running int) int {
	target := s.TargetCapacity
	if target <= 0 || target > 100 {
		target = 100
	}
	want := 0
	if needed > 0 {
		want = int(math.Ceil(float64(needed) * 100 / float64(target)))
	}
	if want <= running {
		return want
	}
	step := want - running
	if running == 0 {
		// The reservation is 200 whatever is needed: the first step is
		// the minimum step; the instances it adds tell the shape of the
		// next ones.
		step = 1
	}
	if s.MinimumStep > 0 && step < s.MinimumStep {
		step = s.MinimumStep
	}
	if s.MaximumStep > 0 && step > s.MaximumStep {
		step = s.MaximumStep
	}
	return running + step
}
