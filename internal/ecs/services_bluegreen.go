package ecs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Deployment strategies of deploymentConfiguration.strategy. ROLLING
// replaces tasks in place; the other three start the new revision (green)
// beside the old one (blue) in each load balancer's alternate target group
// and move the production listener rule's traffic to it: BLUE_GREEN all at
// once, LINEAR in equal steps, CANARY a small share first and then the
// rest. The service controller runs them (internal/controller/service,
// bluegreen.go).
const (
	StrategyRolling   = "ROLLING"
	StrategyBlueGreen = "BLUE_GREEN"
	StrategyLinear    = "LINEAR"
	StrategyCanary    = "CANARY"
)

// Defaults and limits of the traffic-shifting strategies, as the ECS API
// reference gives them.
const (
	defaultStepPercent       = 10.0
	defaultStepBakeMinutes   = 6
	defaultCanaryPercent     = 5.0
	defaultCanaryBakeMinutes = 10
	maxBakeMinutes           = 1440
)

// shiftsTraffic reports whether strategy moves traffic between target
// groups (BLUE_GREEN, LINEAR, CANARY).
func shiftsTraffic(strategy ecsapi.DeploymentStrategy) bool {
	switch strategy {
	case StrategyBlueGreen, StrategyLinear, StrategyCanary:
		return true
	}
	return false
}

// RuleInfo is what CreateService checks of a listener rule that a load
// balancer's advancedConfiguration names.
type RuleInfo struct {
	// LoadBalancerArn is the load balancer of the rule's listener.
	LoadBalancerArn string
	// TargetGroupArns are the target groups its forward action sends to.
	TargetGroupArns []string
}

// ErrRuleNotFound is what a ListenerRules lookup returns for an ARN that
// names no listener rule.
var ErrRuleNotFound = errors.New("listener rule not found")

// ListenerRules looks up listener rules, for the validation of
// advancedConfiguration. The value given as TargetGroups may implement it;
// without it the rules cannot be checked and blue/green is refused.
type ListenerRules interface {
	// ListenerRule returns what a service needs to know of the rule of
	// arn (a listener's default rule included), or ErrRuleNotFound.
	ListenerRule(ctx context.Context, arn string) (RuleInfo, error)
}

// mergeStrategy applies the traffic-shifting members of upd to out. A
// change of strategy drops the configuration of the old one unless upd
// gives it again.
func mergeStrategy(out, upd *ecsapi.DeploymentConfiguration) {
	if upd.Strategy != "" && upd.Strategy != out.Strategy {
		out.LinearConfiguration, out.CanaryConfiguration = nil, nil
		out.Strategy = upd.Strategy
	}
	if upd.BakeTimeInMinutes != nil {
		out.BakeTimeInMinutes = new(*upd.BakeTimeInMinutes)
	}
	if upd.LinearConfiguration != nil {
		out.LinearConfiguration = new(*upd.LinearConfiguration)
	}
	if upd.CanaryConfiguration != nil {
		out.CanaryConfiguration = new(*upd.CanaryConfiguration)
	}
	if upd.LifecycleHooks != nil {
		out.LifecycleHooks = upd.LifecycleHooks
	}
}

// tenths reports whether v is a multiple of 0.1.
func tenths(v float64) bool {
	return math.Abs(v*10-math.Round(v*10)) < 1e-6
}

// checkStrategy validates the strategy members of a merged deployment
// configuration and fills in the defaults of linearConfiguration and
// canaryConfiguration. The wire shapes cannot tell an omitted bake time
// from 0, so a configuration given reads its bake time as given (0 when
// omitted) and an omitted percent as the default; an omitted
// configuration takes both defaults.
func checkStrategy(out *ecsapi.DeploymentConfiguration, daemon bool) error {
	switch out.Strategy {
	case StrategyRolling, StrategyBlueGreen, StrategyLinear, StrategyCanary:
	default:
		return apierror.InvalidParameter("Invalid deployment strategy %s: use ROLLING, BLUE_GREEN, LINEAR or CANARY.", out.Strategy)
	}
	for _, h := range out.LifecycleHooks {
		switch h.TargetType {
		case "", "AWS_LAMBDA":
			return apierror.InvalidParameter("Deployment lifecycle hooks are not supported by Gantry: there is no AWS Lambda to invoke %s. Remove lifecycleHooks.", h.HookTargetArn)
		default:
			return apierror.InvalidParameter("Deployment lifecycle hooks of target type %s are not supported by Gantry. Remove lifecycleHooks.", h.TargetType)
		}
	}
	if out.LinearConfiguration != nil && out.Strategy != StrategyLinear {
		return apierror.InvalidParameter("linearConfiguration is only valid when the deployment strategy is LINEAR.")
	}
	if out.CanaryConfiguration != nil && out.Strategy != StrategyCanary {
		return apierror.InvalidParameter("canaryConfiguration is only valid when the deployment strategy is CANARY.")
	}
	if !shiftsTraffic(out.Strategy) {
		return nil
	}
	if daemon {
		return apierror.InvalidParameter("The %s deployment strategy is not supported with the DAEMON scheduling strategy.", out.Strategy)
	}
	if out.BakeTimeInMinutes == nil && out.Strategy == StrategyBlueGreen {
		return apierror.InvalidParameter("bakeTimeInMinutes must be specified when the deployment strategy is BLUE_GREEN.")
	}
	if b := out.BakeTimeInMinutes; b != nil && (*b < 0 || *b > maxBakeMinutes) {
		return apierror.InvalidParameter("bakeTimeInMinutes must be between 0 and %d.", maxBakeMinutes)
	}
	if out.BakeTimeInMinutes == nil {
		out.BakeTimeInMinutes = new(int32(0))
	}
	switch out.Strategy {
	case StrategyLinear:
		lc := out.LinearConfiguration
		if lc == nil {
			lc = &ecsapi.LinearConfiguration{StepPercent: defaultStepPercent, StepBakeTimeInMinutes: defaultStepBakeMinutes}
		}
		if lc.StepPercent == 0 {
			lc.StepPercent = defaultStepPercent
		}
		if lc.StepPercent < 3 || lc.StepPercent > 100 || !tenths(lc.StepPercent) {
			return apierror.InvalidParameter("linearConfiguration.stepPercent must be a multiple of 0.1 from 3.0 to 100.0.")
		}
		if lc.StepBakeTimeInMinutes < 0 || lc.StepBakeTimeInMinutes > maxBakeMinutes {
			return apierror.InvalidParameter("linearConfiguration.stepBakeTimeInMinutes must be between 0 and %d.", maxBakeMinutes)
		}
		out.LinearConfiguration = lc
	case StrategyCanary:
		cc := out.CanaryConfiguration
		if cc == nil {
			cc = &ecsapi.CanaryConfiguration{CanaryPercent: defaultCanaryPercent, CanaryBakeTimeInMinutes: defaultCanaryBakeMinutes}
		}
		if cc.CanaryPercent == 0 {
			cc.CanaryPercent = defaultCanaryPercent
		}
		if cc.CanaryPercent < 0.1 || cc.CanaryPercent > 100 || !tenths(cc.CanaryPercent) {
			return apierror.InvalidParameter("canaryConfiguration.canaryPercent must be a multiple of 0.1 from 0.1 to 100.0.")
		}
		if cc.CanaryBakeTimeInMinutes < 0 || cc.CanaryBakeTimeInMinutes > maxBakeMinutes {
			return apierror.InvalidParameter("canaryConfiguration.canaryBakeTimeInMinutes must be between 0 and %d.", maxBakeMinutes)
		}
		out.CanaryConfiguration = cc
	}
	return nil
}

// checkAdvancedConfiguration validates the advancedConfiguration of a
// service's loadBalancers for its deployment strategy, as ECS does: under
// BLUE_GREEN, LINEAR and CANARY each load balancer needs one, naming an
// alternate target group (another group, of the same target type, behind
// a load balancer) and a production listener rule (and optionally a test
// listener rule) whose forward action sends to both target groups; under
// ROLLING none is allowed. The services must have loadBalancers: Gantry
// shifts traffic only through its load balancers (no Service Connect).
func (s *API) checkAdvancedConfiguration(ctx context.Context, lbs []ecsapi.LoadBalancer, strategy ecsapi.DeploymentStrategy) error {
	if !shiftsTraffic(strategy) {
		for _, lb := range lbs {
			if lb.AdvancedConfiguration != nil {
				return apierror.InvalidParameter("advancedConfiguration is only valid when the deployment strategy is BLUE_GREEN, LINEAR or CANARY.")
			}
		}
		return nil
	}
	if len(lbs) == 0 {
		return apierror.InvalidParameter("The %s deployment strategy requires loadBalancers with an advancedConfiguration: Gantry shifts traffic through listener rules only.", strategy)
	}
	rules, ok := s.TargetGroups.(ListenerRules)
	if !ok {
		return apierror.UnsupportedFeature("The %s deployment strategy is not available: this server cannot read listener rules.", strategy)
	}
	for _, lb := range lbs {
		ac := lb.AdvancedConfiguration
		switch {
		case ac == nil:
			return apierror.InvalidParameter("advancedConfiguration must be specified for each load balancer when the deployment strategy is %s.", strategy)
		case ac.AlternateTargetGroupArn == "":
			return apierror.InvalidParameter("alternateTargetGroupArn must be specified in the advancedConfiguration of target group %s.", lb.TargetGroupArn)
		case ac.ProductionListenerRule == "":
			return apierror.InvalidParameter("productionListenerRule must be specified in the advancedConfiguration of target group %s.", lb.TargetGroupArn)
		case ac.AlternateTargetGroupArn == lb.TargetGroupArn:
			return apierror.InvalidParameter("The alternate target group %s must differ from the target group of the load balancer.", ac.AlternateTargetGroupArn)
		case ac.TestListenerRule != "" && ac.TestListenerRule == ac.ProductionListenerRule:
			return apierror.InvalidParameter("The test listener rule must differ from the production listener rule %s.", ac.ProductionListenerRule)
		}
		prod, err := s.TargetGroups.TargetGroup(ctx, lb.TargetGroupArn)
		if err != nil {
			return fmt.Errorf("target group %s: %w", lb.TargetGroupArn, err)
		}
		alt, err := s.TargetGroups.TargetGroup(ctx, ac.AlternateTargetGroupArn)
		if errors.Is(err, ErrTargetGroupNotFound) {
			return apierror.InvalidParameter("Unable to find alternate target group %s.", ac.AlternateTargetGroupArn)
		}
		if err != nil {
			return fmt.Errorf("target group %s: %w", ac.AlternateTargetGroupArn, err)
		}
		if alt.TargetType != prod.TargetType {
			return apierror.InvalidParameter("The alternate target group %s has target type %s, but target group %s has target type %s.", ac.AlternateTargetGroupArn, alt.TargetType, lb.TargetGroupArn, prod.TargetType)
		}
		for _, r := range []struct{ name, arn string }{{"production", ac.ProductionListenerRule}, {"test", ac.TestListenerRule}} {
			if r.arn == "" {
				continue
			}
			info, err := rules.ListenerRule(ctx, r.arn)
			if errors.Is(err, ErrRuleNotFound) {
				return apierror.InvalidParameter("Unable to find %s listener rule %s.", r.name, r.arn)
			}
			if err != nil {
				return fmt.Errorf("listener rule %s: %w", r.arn, err)
			}
			if !slices.Contains(info.TargetGroupArns, lb.TargetGroupArn) || !slices.Contains(info.TargetGroupArns, ac.AlternateTargetGroupArn) {
				return apierror.InvalidParameter("The %s listener rule %s must forward to both target group %s and alternate target group %s.", r.name, r.arn, lb.TargetGroupArn, ac.AlternateTargetGroupArn)
			}
		}
	}
	return nil
}
