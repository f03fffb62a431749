package elb

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/elbv2api"
)

var (
	fixedStatusRE = regexp.MustCompile(`^(2|4|5)\d\d$`)
	contentTypes  = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}
)

// normalizeActions validates the actions of a listener (of protocol
// listenerProtocol, on load balancer lb) or of a rule and returns them as
// AWS stores and answers them: a forward action carries both
// TargetGroupArn (when it names one group) and ForwardConfig.
func (w *world) normalizeActions(lb *lbRecord, listenerProtocol string, actions []elbv2api.Action, member string) ([]elbv2api.Action, error) {
	if len(actions) == 0 {
		return nil, validation("At least one action must be specified in '%s'", member)
	}
	terminal := 0
	orders := map[int32]bool{}
	out := make([]elbv2api.Action, 0, len(actions))
	for _, act := range actions {
		if act.Order != nil {
			if *act.Order < 1 || *act.Order > 50000 {
				return nil, validation("Action order '%d' must be between 1 and 50000", *act.Order)
			}
			if orders[*act.Order] {
				return nil, errf(codeInvalidAction, "Action order '%d' is used more than once", *act.Order)
			}
			orders[*act.Order] = true
		}
		if listenerProtocol == "TCP" && act.Type != "forward" {
			return nil, errf(codeInvalidAction, "Listeners of Network Load Balancers support only 'forward' actions")
		}
		var err error
		switch act.Type {
		case "forward":
			terminal++
			act, err = w.normalizeForward(lb, listenerProtocol, act)
		case "fixed-response":
			terminal++
			act, err = normalizeFixed(act)
		case "redirect":
			terminal++
			act, err = normalizeRedirect(act)
		case "authenticate-oidc", "authenticate-cognito", "jwt-validation":
			return nil, errf(codeInvalidAction, "Action type '%s' is not supported by Gantry load balancers", act.Type)
		case "":
			return nil, validation("An action type must be specified")
		default:
			return nil, enumError(member+".member.type", string(act.Type), []string{"forward", "authenticate-oidc", "authenticate-cognito", "redirect", "fixed-response", "jwt-validation"})
		}
		if err != nil {
			return nil, err
		}
		out = append(out, act)
	}
	if terminal > 1 {
		return nil, errf(codeTooManyActions, "A maximum of one 'forward', 'redirect' or 'fixed-response' action can be specified")
	}
	return out, nil
}

func (w *world) normalizeForward(lb *lbRecord, listenerProtocol string, act elbv2api.Action) (elbv2api.Action, error) {
	if act.FixedResponseConfig != nil || act.RedirectConfig != nil {
		return act, errf(codeInvalidAction, "A 'forward' action cannot have a fixed-response or redirect configuration")
	}
	var tuples []elbv2api.TargetGroupTuple
	if act.ForwardConfig != nil {
		tuples = act.ForwardConfig.TargetGroups
	}
	if act.TargetGroupArn != "" {
		switch {
		case len(tuples) == 0:
			tuples = []elbv2api.TargetGroupTuple{{TargetGroupArn: act.TargetGroupArn}}
		case len(tuples) != 1 || tuples[0].TargetGroupArn != act.TargetGroupArn:
			return act, errf(codeInvalidAction, "You cannot specify both a target group ARN and a forward configuration with different target groups")
		}
	}
	if len(tuples) == 0 {
		return act, validation("A target group ARN must be specified for a 'forward' action")
	}
	if len(tuples) > maxTGsPerAction {
		return act, errf(codeTooManyTargetGroups, "A 'forward' action can have at most %d target groups", maxTGsPerAction)
	}
	// Network Load Balancer listeners take weighted target groups too
	// (since November 2025), without target group stickiness.
	seen := map[string]bool{}
	norm := make([]elbv2api.TargetGroupTuple, 0, len(tuples))
	for _, t := range tuples {
		if err := checkARN("target group", t.TargetGroupArn); err != nil {
			return act, err
		}
		if seen[t.TargetGroupArn] {
			return act, errf(codeInvalidAction, "Target group '%s' is specified more than once in a 'forward' action", t.TargetGroupArn)
		}
		seen[t.TargetGroupArn] = true
		tg := w.tgByARN(t.TargetGroupArn)
		if tg == nil {
			return act, errf(codeTargetGroupNotFound, "Target groups '%s' not found", t.TargetGroupArn)
		}
		if string(tg.TG.Protocol) != listenerProtocol {
			return act, errf(codeIncompatibleProtocols, "The target group '%s' has protocol '%s', which is not compatible with a '%s' listener", t.TargetGroupArn, tg.TG.Protocol, listenerProtocol)
		}
		for _, other := range w.tgLoadBalancers(t.TargetGroupArn) {
			if other != lb.LB.LoadBalancerArn {
				return act, errf(codeTargetGroupAssociations, "The following target groups cannot be associated with more than one load balancer: %s", t.TargetGroupArn)
			}
		}
		weight := int32(1)
		if t.Weight != nil {
			if *t.Weight < 0 || *t.Weight > 999 {
				return act, validation("Target group weight '%d' must be between 0 and 999", *t.Weight)
			}
			weight = *t.Weight
		}
		norm = append(norm, elbv2api.TargetGroupTuple{TargetGroupArn: t.TargetGroupArn, Weight: int32p(weight)})
	}
	sticky := &elbv2api.TargetGroupStickinessConfig{Enabled: boolp(false)}
	if act.ForwardConfig != nil && act.ForwardConfig.TargetGroupStickinessConfig != nil {
		s := act.ForwardConfig.TargetGroupStickinessConfig
		if s.Enabled != nil && *s.Enabled {
			if listenerProtocol == "TCP" {
				return act, errf(codeInvalidAction, "Target group stickiness is not supported by Network Load Balancer listeners")
			}
			if s.DurationSeconds == nil {
				return act, validation("A stickiness duration must be specified when target group stickiness is enabled")
			}
			if *s.DurationSeconds < 1 || *s.DurationSeconds > 604800 {
				return act, validation("Target group stickiness duration '%d' must be between 1 and 604800 seconds", *s.DurationSeconds)
			}
			sticky = &elbv2api.TargetGroupStickinessConfig{Enabled: boolp(true), DurationSeconds: int32p(*s.DurationSeconds)}
		}
	}
	out := elbv2api.Action{Type: "forward", Order: act.Order, ForwardConfig: &elbv2api.ForwardActionConfig{TargetGroups: norm, TargetGroupStickinessConfig: sticky}}
	if len(norm) == 1 {
		out.TargetGroupArn = norm[0].TargetGroupArn
	}
	return out, nil
}

func normalizeFixed(act elbv2api.Action) (elbv2api.Action, error) {
	c := act.FixedResponseConfig
	if c == nil {
		return act, validation("A fixed-response configuration must be specified for a 'fixed-response' action")
	}
	if act.TargetGroupArn != "" || act.ForwardConfig != nil || act.RedirectConfig != nil {
		return act, errf(codeInvalidAction, "A 'fixed-response' action cannot have a target group or redirect configuration")
	}
	if !fixedStatusRE.MatchString(c.StatusCode) {
		return act, validation("1 validation error detected: Value '%s' at 'fixedResponseConfig.statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$", c.StatusCode)
	}
	if c.ContentType != "" && !slices.Contains(contentTypes, c.ContentType) {
		return act, validation("Content type '%s' is not valid; valid types: %s", c.ContentType, strings.Join(contentTypes, ", "))
	}
	if len(c.MessageBody) > 1024 {
		return act, validation("The message body of a fixed-response action cannot be longer than 1024 characters")
	}
	cc := *c
	return elbv2api.Action{Type: "fixed-response", Order: act.Order, FixedResponseConfig: &cc}, nil
}

func normalizeRedirect(act elbv2api.Action) (elbv2api.Action, error) {
	c := act.RedirectConfig
	if c == nil {
		return act, validation("A redirect configuration must be specified for a 'redirect' action")
	}
	if act.TargetGroupArn != "" || act.ForwardConfig != nil || act.FixedResponseConfig != nil {
		return act, errf(codeInvalidAction, "A 'redirect' action cannot have a target group or fixed-response configuration")
	}
	cc := *c
	switch cc.StatusCode {
	case "HTTP_301", "HTTP_302":
	default:
		return act, enumError("redirectConfig.statusCode", string(cc.StatusCode), []string{"HTTP_301", "HTTP_302"})
	}
	if cc.Protocol == "" {
		cc.Protocol = "#{protocol}"
	}
	if cc.Port == "" {
		cc.Port = "#{port}"
	}
	if cc.Host == "" {
		cc.Host = "#{host}"
	}
	if cc.Path == "" {
		cc.Path = "/#{path}"
	}
	if cc.Query == "" {
		cc.Query = "#{query}"
	}
	switch cc.Protocol {
	case "HTTP", "HTTPS", "#{protocol}":
	default:
		return act, validation("Redirect protocol '%s' must be 'HTTP', 'HTTPS' or '#{protocol}'", cc.Protocol)
	}
	if cc.Port != "#{port}" {
		n, err := strconv.Atoi(cc.Port)
		if err != nil || n < 1 || n > 65535 {
			return act, validation("Redirect port '%s' must be '#{port}' or between 1 and 65535", cc.Port)
		}
	}
	if !strings.HasPrefix(cc.Path, "/") {
		return act, validation("Redirect path '%s' must start with '/'", cc.Path)
	}
	if len(cc.Host) > 128 || len(cc.Path) > 128 || len(cc.Query) > 128 {
		return act, validation("Redirect host, path and query cannot be longer than 128 characters")
	}
	if cc.Protocol == "#{protocol}" && cc.Port == "#{port}" && cc.Host == "#{host}" && cc.Path == "/#{path}" && cc.Query == "#{query}" {
		return act, errf(codeInvalidAction, "A redirect action cannot redirect to the same URL: change the protocol, port, host, path or query")
	}
	return elbv2api.Action{Type: "redirect", Order: act.Order, RedirectConfig: &cc}, nil
}
