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

// ErrRuleNotFound is returned for an ARN that names no listener rule.
var ErrRuleNotFound = errors.New("rule not found")

// RuleForward is what ECS blue/green deployments need to know of a
// listener rule: its listener and load balancer, and the target groups
// its forward action sends to with their weights (empty without a
// forward action).
type RuleForward struct {
	ListenerArn, LoadBalancerArn string
	Weights                      map[string]int32
}

// shiftedRule finds what an ECS deployment's productionListenerRule or
// testListenerRule names: a listener rule (a listener's default rule
// included) or, as ECS's advancedConfiguration allows for a Network Load
// Balancer (whose listeners have no rules), a listener of a network load
// balancer, whose default actions are then the ones shifted. l is nil
// when arn names neither.
func (w *world) shiftedRule(arn string) (r *ruleRecord, l *listenerRecord) {
	if r, l := w.ruleByARN(arn); l != nil {
		return r, l
	}
	if l := w.listenerByARN(arn); l != nil {
		if lb := w.lbs[l.LBID]; lb != nil && lb.LB.Type == "network" {
			return nil, l
		}
	}
	return nil, nil
}

// RuleForward returns the forward action of the rule of arn (a listener's
// default rule included, or a network load balancer's listener: see
// shiftedRule), or ErrRuleNotFound.
func (a *API) RuleForward(ctx context.Context, arn string) (RuleForward, error) {
	w, err := a.read(ctx)
	if err != nil {
		return RuleForward{}, err
	}
	r, l := w.shiftedRule(arn)
	if l == nil {
		return RuleForward{}, fmt.Errorf("%w: %s", ErrRuleNotFound, arn)
	}
	actions := l.Listener.DefaultActions
	if r != nil {
		actions = r.Rule.Actions
	}
	out := RuleForward{ListenerArn: l.Listener.ListenerArn, Weights: map[string]int32{}}
	if lb := w.lbs[l.LBID]; lb != nil {
		out.LoadBalancerArn = lb.LB.LoadBalancerArn
	}
	for _, act := range actions {
		if act.Type != "forward" || act.ForwardConfig == nil {
			continue
		}
		for _, t := range act.ForwardConfig.TargetGroups {
			wt := int32(1)
			if t.Weight != nil {
				wt = *t.Weight
			}
			out.Weights[t.TargetGroupArn] = wt
		}
	}
	return out, nil
}

// SetForwardWeights sets the weights of target groups in the forward
// action of the rule of arn (a listener's default rule included, or a
// network load balancer's listener: see shiftedRule), as a
// ModifyRule that changes only those weights would, in one guarded write:
// DescribeRules shows them and the data plane applies them. Every target
// group named must already be one the action forwards to. ErrRuleNotFound
// if there is no such rule.
func (a *API) SetForwardWeights(ctx context.Context, arn string, weights map[string]int32) error {
	for tg, wt := range weights {
		if wt < 0 || wt > 999 {
			return validation("Target group weight '%d' of '%s' must be between 0 and 999", wt, tg)
		}
	}
	_, err := a.update(ctx, func(w *world) error {
		r, l := w.shiftedRule(arn)
		if l == nil {
			return fmt.Errorf("%w: %s", ErrRuleNotFound, arn)
		}
		actions := l.Listener.DefaultActions
		if r != nil {
			actions = r.Rule.Actions
		}
		next := make([]elbv2api.Action, len(actions))
		found, changed := map[string]bool{}, false
		for i, act := range actions {
			next[i] = act
			if act.Type != "forward" || act.ForwardConfig == nil {
				continue
			}
			fc := *act.ForwardConfig
			fc.TargetGroups = append([]elbv2api.TargetGroupTuple(nil), fc.TargetGroups...)
			for j, t := range fc.TargetGroups {
				wt, ok := weights[t.TargetGroupArn]
				if !ok {
					continue
				}
				found[t.TargetGroupArn] = true
				if t.Weight == nil || *t.Weight != wt {
					fc.TargetGroups[j].Weight = int32p(wt)
					changed = true
				}
			}
			next[i].ForwardConfig = &fc
		}
		for tg := range weights {
			if !found[tg] {
				return errf(codeInvalidAction, "The rule '%s' does not forward to target group '%s'", arn, tg)
			}
		}
		if !changed {
			return nil
		}
		if r == nil {
			l.Listener.DefaultActions = next
			w.put(keyOf(kindListener, l.ID), l)
			return nil
		}
		r.Rule.Actions = next
		w.put(ruleKey(r), r)
		return nil
	})
	return err
}
