package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/gantry-dev/gantry/internal/apierror"
	servicectl "github.com/gantry-dev/gantry/internal/controller/service"
	"github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elb"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/store"
)

// ecsTargetGroups gives the ECS operations the target groups that
// services' loadBalancers name (ecs.TargetGroups) over ELBv2.
type ecsTargetGroups struct{ elb *elb.API }

// TargetGroup returns the target type and load balancers of a target
// group (elb.API.TargetGroupSummary).
func (g ecsTargetGroups) TargetGroup(ctx context.Context, arn string) (ecs.TargetGroupInfo, error) {
	sum, err := g.elb.TargetGroupSummary(ctx, arn)
	if errors.Is(err, elb.ErrTargetGroupNotFound) {
		return ecs.TargetGroupInfo{}, fmt.Errorf("%w: %w", ecs.ErrTargetGroupNotFound, err)
	}
	if err != nil {
		return ecs.TargetGroupInfo{}, err
	}
	return ecs.TargetGroupInfo{TargetType: sum.TargetType, LoadBalancerArns: sum.LoadBalancerArns}, nil
}

// serviceTargets gives the service controller ELBv2's targets and the ECS
// tasks' deactivation (servicectl.LoadBalancing).
type serviceTargets struct {
	elb *elb.API
	ecs *ecs.API
}

// tgErr maps ELBv2's unknown target group to servicectl.ErrNotFound.
func tgErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, elb.ErrTargetGroupNotFound) {
		return fmt.Errorf("%w: %w", servicectl.ErrNotFound, err)
	}
	if ae, ok := apierror.As(err); ok && ae.Code == "TargetGroupNotFound" {
		return fmt.Errorf("%w: %w", servicectl.ErrNotFound, err)
	}
	return err
}

// Targets returns a target group's targets (elb.API.TargetStates).
func (t serviceTargets) Targets(ctx context.Context, arn string) ([]servicectl.Target, error) {
	states, err := t.elb.TargetStates(ctx, arn)
	if err != nil {
		return nil, tgErr(err)
	}
	out := make([]servicectl.Target, len(states))
	for i, s := range states {
		out[i] = servicectl.Target{TargetRef: servicectl.TargetRef{ID: s.ID, Port: s.Port}, State: s.State, Reason: s.Reason,
			Description: s.Description, DrainingUntil: s.DrainingUntil}
	}
	return out, nil
}

func descriptions(refs []servicectl.TargetRef) []elbv2api.TargetDescription {
	out := make([]elbv2api.TargetDescription, len(refs))
	for i, r := range refs {
		out[i] = elbv2api.TargetDescription{Id: r.ID, Port: new(r.Port)}
	}
	return out
}

// RegisterTargets is ELBv2's RegisterTargets.
func (t serviceTargets) RegisterTargets(ctx context.Context, arn string, refs []servicectl.TargetRef) error {
	_, err := t.elb.RegisterTargets(ctx, &elbv2api.RegisterTargetsInput{TargetGroupArn: arn, Targets: descriptions(refs)})
	return tgErr(err)
}

// DeregisterTargets is ELBv2's DeregisterTargets.
func (t serviceTargets) DeregisterTargets(ctx context.Context, arn string, refs []servicectl.TargetRef) error {
	_, err := t.elb.DeregisterTargets(ctx, &elbv2api.DeregisterTargetsInput{TargetGroupArn: arn, Targets: descriptions(refs)})
	return tgErr(err)
}

// FinishDeactivation lets a drained task stop (ecs.API.FinishDeactivation).
func (t serviceTargets) FinishDeactivation(ctx context.Context, cluster, taskArn string) error {
	err := t.ecs.FinishDeactivation(ctx, cluster, taskArn)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", servicectl.ErrNotFound, err)
	}
	return err
}

// ListenerRule returns the load balancer and the forward target groups of
// a listener rule (elb.API.RuleForward), for blue/green validation
// (ecs.ListenerRules).
func (g ecsTargetGroups) ListenerRule(ctx context.Context, arn string) (ecs.RuleInfo, error) {
	rf, err := g.elb.RuleForward(ctx, arn)
	if errors.Is(err, elb.ErrRuleNotFound) {
		return ecs.RuleInfo{}, fmt.Errorf("%w: %w", ecs.ErrRuleNotFound, err)
	}
	if err != nil {
		return ecs.RuleInfo{}, err
	}
	info := ecs.RuleInfo{LoadBalancerArn: rf.LoadBalancerArn}
	for tg := range rf.Weights {
		info.TargetGroupArns = append(info.TargetGroupArns, tg)
	}
	return info, nil
}

// ruleErr maps ELBv2's unknown rule to servicectl.ErrNotFound.
func ruleErr(err error) error {
	if errors.Is(err, elb.ErrRuleNotFound) {
		return fmt.Errorf("%w: %w", servicectl.ErrNotFound, err)
	}
	return err
}

// RuleWeights returns the forward weights of a listener rule by target
// group (servicectl.TrafficShifter).
func (t serviceTargets) RuleWeights(ctx context.Context, ruleArn string) (map[string]int32, error) {
	rf, err := t.elb.RuleForward(ctx, ruleArn)
	if err != nil {
		return nil, ruleErr(err)
	}
	return rf.Weights, nil
}

// SetRuleWeights changes the forward weights of a listener rule
// (elb.API.SetForwardWeights).
func (t serviceTargets) SetRuleWeights(ctx context.Context, ruleArn string, weights map[string]int32) error {
	return ruleErr(t.elb.SetForwardWeights(ctx, ruleArn, weights))
}

// serviceRevisions gives the service controller the loadBalancers of each
// deployment's revision (servicectl.DeploymentLoadBalancers).
type serviceRevisions struct{ ecs *ecs.API }

// DeploymentLoadBalancers is ecs.API.DeploymentLoadBalancers.
func (r serviceRevisions) DeploymentLoadBalancers(ctx context.Context, cluster, name, id string) ([]ecsapi.LoadBalancer, error) {
	lbs, err := r.ecs.DeploymentLoadBalancers(ctx, cluster, name, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", servicectl.ErrNotFound, err)
	}
	return lbs, err
}
