package elb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/elbv2api"
)

// What ECS services (their validation and the service controller) read
// of Elastic Load Balancing, without going through the query protocol.

// ErrTargetGroupNotFound is returned for an ARN that names no target
// group.
var ErrTargetGroupNotFound = errors.New("target group not found")

// TargetGroupSummary is what a service needs to know of a target group.
type TargetGroupSummary struct {
	TargetType string
	// LoadBalancerArns are the load balancers whose listeners or rules
	// forward to it.
	LoadBalancerArns []string
}

// TargetGroupSummary returns the summary of the target group of arn, or
// ErrTargetGroupNotFound.
func (a *API) TargetGroupSummary(ctx context.Context, arn string) (TargetGroupSummary, error) {
	w, err := a.read(ctx)
	if err != nil {
		return TargetGroupSummary{}, err
	}
	tg := w.tgByARN(arn)
	if tg == nil {
		return TargetGroupSummary{}, fmt.Errorf("%w: %s", ErrTargetGroupNotFound, arn)
	}
	return TargetGroupSummary{TargetType: string(tg.TG.TargetType), LoadBalancerArns: w.tgLoadBalancers(arn)}, nil
}

// TargetState is a registered target of a target group and its health, as
// DescribeTargetHealth answers it, with when its draining ends.
type TargetState struct {
	ID   string
	Port int32
	// State, Reason and Description are DescribeTargetHealth's.
	State, Reason, Description string
	// DrainingUntil is when the deregistration delay of a draining target
	// ends (zero when it is not draining).
	DrainingUntil time.Time
}

// TargetStates returns the registered targets of the target group of arn
// (draining ones included) and their health. ErrTargetGroupNotFound if
// there is no such group.
func (a *API) TargetStates(ctx context.Context, arn string) ([]TargetState, error) {
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	tg := w.tgByARN(arn)
	if tg == nil {
		return nil, fmt.Errorf("%w: %s", ErrTargetGroupNotFound, arn)
	}
	until := map[string]int64{}
	for _, t := range w.targets[tg.ID] {
		if t.DrainingUntil != 0 {
			until[t.ID+":"+fmt.Sprint(t.Port)] = t.DrainingUntil
		}
	}
	out, err := a.DescribeTargetHealth(ctx, &elbv2api.DescribeTargetHealthInput{TargetGroupArn: arn})
	if err != nil {
		return nil, err
	}
	states := make([]TargetState, 0, len(out.TargetHealthDescriptions))
	for _, d := range out.TargetHealthDescriptions {
		if d.Target == nil || d.TargetHealth == nil {
			continue
		}
		st := TargetState{ID: d.Target.Id, State: string(d.TargetHealth.State), Reason: string(d.TargetHealth.Reason),
			Description: d.TargetHealth.Description}
		if d.Target.Port != nil {
			st.Port = *d.Target.Port
		}
		if ms, ok := until[st.ID+":"+fmt.Sprint(st.Port)]; ok {
			st.DrainingUntil = time.UnixMilli(ms)
		}
		states = append(states, st)
	}
	return states, nil
}
