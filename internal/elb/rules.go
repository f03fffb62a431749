package elb

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"

	"github.com/gantry-dev/gantry/internal/elbv2api"
)

var (
	hostValueRE   = regexp.MustCompile(`^[A-Za-z0-9\-.*?]+$`)
	pathValueRE   = regexp.MustCompile(`^[A-Za-z0-9_\-.$/~"'@:+&*?]+$`)
	methodValueRE = regexp.MustCompile(`^[A-Z_\-]+$`)
	headerNameRE  = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+\-.^_` + "`" + `|~]+$`)
)

var conditionFields = []string{"path-pattern", "host-header", "http-header", "http-request-method", "query-string", "source-ip"}

// normalizeConditions validates rule conditions with AWS's rules (one
// each of host-header, http-request-method, path-pattern and source-ip;
// at most five values in all) and returns them as AWS answers them: the
// field's configuration, plus Values for host-header and path-pattern.
func normalizeConditions(conds []elbv2api.RuleCondition) ([]elbv2api.RuleCondition, error) {
	if len(conds) == 0 {
		return nil, validation("A rule must have at least one condition")
	}
	seen := map[string]bool{}
	total := 0
	out := make([]elbv2api.RuleCondition, 0, len(conds))
	for _, c := range conds {
		if c.Field == "" {
			return nil, validation("A condition field must be specified")
		}
		if !slices.Contains(conditionFields, c.Field) {
			return nil, validation("Condition field '%s' must be one of [%s]", c.Field, "path-pattern, host-header, http-header, http-request-method, query-string, source-ip")
		}
		if c.Field != "http-header" && c.Field != "query-string" {
			if seen[c.Field] {
				return nil, validation("A rule can have only one '%s' condition", c.Field)
			}
			seen[c.Field] = true
		}
		if len(c.RegexValues) > 0 || c.HostHeaderConfig != nil && len(c.HostHeaderConfig.RegexValues) > 0 ||
			c.PathPatternConfig != nil && len(c.PathPatternConfig.RegexValues) > 0 || c.HttpHeaderConfig != nil && len(c.HttpHeaderConfig.RegexValues) > 0 {
			return nil, errf(codeInvalidConfiguration, "Regular expression conditions are not supported by Gantry load balancers")
		}
		configs := 0
		for _, set := range []bool{c.HostHeaderConfig != nil, c.PathPatternConfig != nil, c.HttpHeaderConfig != nil,
			c.QueryStringConfig != nil, c.HttpRequestMethodConfig != nil, c.SourceIpConfig != nil} {
			if set {
				configs++
			}
		}
		if configs > 1 {
			return nil, validation("A condition can have only one configuration")
		}
		n := elbv2api.RuleCondition{Field: c.Field}
		var values []string
		legacy := len(c.Values) > 0
		switch c.Field {
		case "host-header":
			if c.HostHeaderConfig != nil && legacy {
				return nil, validation("You cannot specify both 'Values' and 'HostHeaderConfig' in a condition")
			}
			if configs == 1 && c.HostHeaderConfig == nil {
				return nil, validation("A 'host-header' condition takes 'HostHeaderConfig'")
			}
			values = c.Values
			if c.HostHeaderConfig != nil {
				values = c.HostHeaderConfig.Values
			}
			for _, v := range values {
				if len(v) > 128 || !hostValueRE.MatchString(v) {
					return nil, validation("Host header value '%s' is not valid: up to 128 characters of A-Z, a-z, 0-9, '-', '.', '*' and '?'", v)
				}
			}
			n.Values = slices.Clone(values)
			n.HostHeaderConfig = &elbv2api.HostHeaderConditionConfig{Values: slices.Clone(values)}
		case "path-pattern":
			if c.PathPatternConfig != nil && legacy {
				return nil, validation("You cannot specify both 'Values' and 'PathPatternConfig' in a condition")
			}
			if configs == 1 && c.PathPatternConfig == nil {
				return nil, validation("A 'path-pattern' condition takes 'PathPatternConfig'")
			}
			values = c.Values
			if c.PathPatternConfig != nil {
				values = c.PathPatternConfig.Values
			}
			for _, v := range values {
				if len(v) > 128 || !pathValueRE.MatchString(v) {
					return nil, validation("Path pattern value '%s' is not valid: up to 128 characters of A-Z, a-z, 0-9, _ - . $ / ~ \" ' @ : + & * ?", v)
				}
			}
			n.Values = slices.Clone(values)
			n.PathPatternConfig = &elbv2api.PathPatternConditionConfig{Values: slices.Clone(values)}
		case "http-header":
			if legacy || c.HttpHeaderConfig == nil {
				return nil, validation("An 'http-header' condition takes 'HttpHeaderConfig'")
			}
			h := c.HttpHeaderConfig
			if h.HttpHeaderName == "" || len(h.HttpHeaderName) > 40 || !headerNameRE.MatchString(h.HttpHeaderName) {
				return nil, validation("HTTP header name '%s' is not valid: up to 40 characters of a token", h.HttpHeaderName)
			}
			values = h.Values
			for _, v := range values {
				if len(v) > 128 {
					return nil, validation("HTTP header value '%s' cannot be longer than 128 characters", v)
				}
			}
			n.HttpHeaderConfig = &elbv2api.HttpHeaderConditionConfig{HttpHeaderName: h.HttpHeaderName, Values: slices.Clone(values)}
		case "http-request-method":
			if legacy || c.HttpRequestMethodConfig == nil {
				return nil, validation("An 'http-request-method' condition takes 'HttpRequestMethodConfig'")
			}
			values = c.HttpRequestMethodConfig.Values
			for _, v := range values {
				if len(v) > 40 || !methodValueRE.MatchString(v) {
					return nil, validation("HTTP request method '%s' is not valid: up to 40 characters of A-Z, '_' and '-'", v)
				}
			}
			n.HttpRequestMethodConfig = &elbv2api.HttpRequestMethodConditionConfig{Values: slices.Clone(values)}
		case "query-string":
			if legacy || c.QueryStringConfig == nil {
				return nil, validation("A 'query-string' condition takes 'QueryStringConfig'")
			}
			for _, kv := range c.QueryStringConfig.Values {
				if kv.Value == "" {
					return nil, validation("A query string value must be specified in each key/value pair")
				}
				if len(kv.Key) > 128 || len(kv.Value) > 128 {
					return nil, validation("Query string keys and values cannot be longer than 128 characters")
				}
				values = append(values, kv.Key+"="+kv.Value)
			}
			n.QueryStringConfig = &elbv2api.QueryStringConditionConfig{Values: slices.Clone(c.QueryStringConfig.Values)}
		case "source-ip":
			if legacy || c.SourceIpConfig == nil {
				return nil, validation("A 'source-ip' condition takes 'SourceIpConfig'")
			}
			values = c.SourceIpConfig.Values
			for _, v := range values {
				if _, err := netip.ParsePrefix(v); err != nil {
					return nil, validation("Source IP '%s' is not a valid CIDR block", v)
				}
			}
			n.SourceIpConfig = &elbv2api.SourceIpConditionConfig{Values: slices.Clone(values)}
		}
		if len(values) == 0 {
			return nil, validation("A '%s' condition must have at least one value", c.Field)
		}
		total += len(values)
		out = append(out, n)
	}
	if total > maxConditionValues {
		return nil, validation("A rule can have at most %d condition values in all", maxConditionValues)
	}
	return out, nil
}

func checkPriority(p *int32) error {
	if p == nil {
		return validation("A rule priority must be specified")
	}
	if *p < 1 || *p > 50000 {
		return validation("1 validation error detected: Value '%d' at 'priority' failed to satisfy constraint: Member must have value between 1 and 50000", *p)
	}
	return nil
}

// albRuleCount counts the non-default rules of a load balancer.
func (w *world) albRuleCount(lbID string) int {
	n := 0
	for _, r := range w.rules {
		if l := w.listeners[r.ListenerID]; l != nil && l.LBID == lbID {
			n++
		}
	}
	return n
}

// CreateRule adds a rule to an HTTP listener.
func (a *API) CreateRule(ctx context.Context, in *elbv2api.CreateRuleInput) (*elbv2api.CreateRuleOutput, error) {
	if err := checkARN("listener", in.ListenerArn); err != nil {
		return nil, err
	}
	if err := checkPriority(in.Priority); err != nil {
		return nil, err
	}
	if len(in.Transforms) > 0 {
		return nil, errf(codeInvalidConfiguration, "Rule transforms are not supported by Gantry load balancers")
	}
	if err := checkTags(in.Tags, true); err != nil {
		return nil, err
	}
	conds, err := normalizeConditions(in.Conditions)
	if err != nil {
		return nil, err
	}
	now := a.now()
	var out elbv2api.Rule
	_, err = a.update(ctx, func(w *world) error {
		l := w.listenerByARN(in.ListenerArn)
		if l == nil {
			return errf(codeListenerNotFound, "One or more listeners not found")
		}
		lb := w.lbs[l.LBID]
		if l.Listener.Protocol != "HTTP" {
			return errf(codeInvalidConfiguration, "Rules can only be added to listeners of Application Load Balancers")
		}
		for _, r := range w.rulesOf(l.ID) {
			if priorityOf(r) == int(*in.Priority) {
				return errf(codePriorityInUse, "Priority '%d' is currently in use", *in.Priority)
			}
		}
		if w.albRuleCount(lb.ID) >= maxRulesPerALB {
			return errf(codeTooManyRules, "You've reached the limit on the number of rules per load balancer: %d", maxRulesPerALB)
		}
		actions, err := w.normalizeActions(lb, "HTTP", in.Actions, "actions")
		if err != nil {
			return err
		}
		if err := w.checkUniqueTargetGroups(lb, actions); err != nil {
			return err
		}
		id := newID()
		r := &ruleRecord{ID: id, ListenerID: l.ID, Tags: tagsCopy(in.Tags), Created: now.UnixNano()}
		r.Rule = elbv2api.Rule{RuleArn: a.ruleARN(lb, l.ID, id), Priority: strconv.Itoa(int(*in.Priority)),
			Conditions: conds, Actions: actions, IsDefault: boolp(false)}
		w.put(ruleKey(r), r)
		w.rules[id] = r
		out = r.Rule
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateRuleOutput{Rules: []elbv2api.Rule{out}}, nil
}

// defaultRule is a listener's default rule as DescribeRules answers it.
func defaultRule(l *listenerRecord) elbv2api.Rule {
	return elbv2api.Rule{RuleArn: l.defaultRuleARN(), Priority: "default", Conditions: []elbv2api.RuleCondition{},
		Actions: l.Listener.DefaultActions, IsDefault: boolp(true)}
}

// DescribeRules lists the rules of a listener (by priority, the default
// rule last), or those named by ARN.
func (a *API) DescribeRules(ctx context.Context, in *elbv2api.DescribeRulesInput) (*elbv2api.DescribeRulesOutput, error) {
	if in.ListenerArn == "" && len(in.RuleArns) == 0 {
		return nil, validation("You must specify either listener ARN or rule ARNs")
	}
	if in.ListenerArn != "" && len(in.RuleArns) > 0 {
		return nil, validation("Listener ARN and rule ARNs cannot be specified at the same time")
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	type item struct {
		key  string
		rule elbv2api.Rule
	}
	var list []item
	if in.ListenerArn != "" {
		if err := checkARN("listener", in.ListenerArn); err != nil {
			return nil, err
		}
		l := w.listenerByARN(in.ListenerArn)
		if l == nil {
			return nil, errf(codeListenerNotFound, "One or more listeners not found")
		}
		for _, r := range w.rulesOf(l.ID) {
			list = append(list, item{fmt.Sprintf("%05d/%s", priorityOf(r), r.ID), r.Rule})
		}
		list = append(list, item{"99999/default", defaultRule(l)})
	} else {
		for i, arn := range in.RuleArns {
			if err := checkARN("rule", arn); err != nil {
				return nil, err
			}
			r, l := w.ruleByARN(arn)
			switch {
			case r != nil:
				list = append(list, item{fmt.Sprintf("%05d/%s", i, r.ID), r.Rule})
			case l != nil:
				list = append(list, item{fmt.Sprintf("%05d/%s", i, l.DefaultRuleID), defaultRule(l)})
			default:
				return nil, errf(codeRuleNotFound, "One or more rules not found")
			}
		}
	}
	pg, next, err := page(list, func(it item) string { return it.key }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2api.DescribeRulesOutput{Rules: []elbv2api.Rule{}, NextMarker: next}
	for _, it := range pg {
		out.Rules = append(out.Rules, it.rule)
	}
	return out, nil
}

// ModifyRule replaces a rule's conditions or actions (a default rule's
// actions are its listener's default actions).
func (a *API) ModifyRule(ctx context.Context, in *elbv2api.ModifyRuleInput) (*elbv2api.ModifyRuleOutput, error) {
	if err := checkARN("rule", in.RuleArn); err != nil {
		return nil, err
	}
	if len(in.Transforms) > 0 {
		return nil, errf(codeInvalidConfiguration, "Rule transforms are not supported by Gantry load balancers")
	}
	var conds []elbv2api.RuleCondition
	if len(in.Conditions) > 0 {
		var err error
		if conds, err = normalizeConditions(in.Conditions); err != nil {
			return nil, err
		}
	}
	var out elbv2api.Rule
	_, err := a.update(ctx, func(w *world) error {
		r, l := w.ruleByARN(in.RuleArn)
		if l == nil {
			return errf(codeRuleNotFound, "One or more rules not found")
		}
		lb := w.lbs[l.LBID]
		if r == nil {
			if conds != nil {
				return errf(codeOperationNotPermitted, "The conditions of a default rule cannot be modified")
			}
			if len(in.Actions) > 0 {
				l.Listener.DefaultActions = nil
				actions, err := w.normalizeActions(lb, string(l.Listener.Protocol), in.Actions, "actions")
				if err != nil {
					return err
				}
				if err := w.checkUniqueTargetGroups(lb, actions); err != nil {
					return err
				}
				l.Listener.DefaultActions = actions
				w.put(keyOf(kindListener, l.ID), l)
			}
			out = defaultRule(l)
			return nil
		}
		if conds != nil {
			r.Rule.Conditions = conds
		}
		if len(in.Actions) > 0 {
			r.Rule.Actions = nil
			actions, err := w.normalizeActions(lb, "HTTP", in.Actions, "actions")
			if err != nil {
				return err
			}
			if err := w.checkUniqueTargetGroups(lb, actions); err != nil {
				return err
			}
			r.Rule.Actions = actions
		}
		w.put(ruleKey(r), r)
		out = r.Rule
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyRuleOutput{Rules: []elbv2api.Rule{out}}, nil
}

// DeleteRule deletes a rule; a default rule cannot be deleted.
func (a *API) DeleteRule(ctx context.Context, in *elbv2api.DeleteRuleInput) (*elbv2api.DeleteRuleOutput, error) {
	if err := checkARN("rule", in.RuleArn); err != nil {
		return nil, err
	}
	_, err := a.update(ctx, func(w *world) error {
		r, l := w.ruleByARN(in.RuleArn)
		switch {
		case l == nil:
			return errf(codeRuleNotFound, "One or more rules not found")
		case r == nil:
			return errf(codeOperationNotPermitted, "Default rule '%s' cannot be deleted", in.RuleArn)
		}
		w.del(ruleKey(r))
		delete(w.rules, r.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteRuleOutput{}, nil
}

// SetRulePriorities changes the priorities of rules at once; the
// priorities of each listener must stay distinct.
func (a *API) SetRulePriorities(ctx context.Context, in *elbv2api.SetRulePrioritiesInput) (*elbv2api.SetRulePrioritiesOutput, error) {
	if len(in.RulePriorities) == 0 {
		return nil, validation("At least one rule priority must be specified")
	}
	for _, rp := range in.RulePriorities {
		if err := checkARN("rule", rp.RuleArn); err != nil {
			return nil, err
		}
		if err := checkPriority(rp.Priority); err != nil {
			return nil, err
		}
	}
	out := &elbv2api.SetRulePrioritiesOutput{Rules: []elbv2api.Rule{}}
	_, err := a.update(ctx, func(w *world) error {
		out.Rules = out.Rules[:0]
		changed := map[string]bool{}
		for _, rp := range in.RulePriorities {
			r, l := w.ruleByARN(rp.RuleArn)
			switch {
			case l == nil:
				return errf(codeRuleNotFound, "One or more rules not found")
			case r == nil:
				return errf(codeOperationNotPermitted, "The priority of a default rule cannot be changed")
			case changed[r.ID]:
				return validation("Rule '%s' is specified more than once", rp.RuleArn)
			}
			changed[r.ID] = true
			r.Rule.Priority = strconv.Itoa(int(*rp.Priority))
		}
		byListener := map[string]map[int]bool{}
		for _, r := range w.rules {
			used := byListener[r.ListenerID]
			if used == nil {
				used = map[int]bool{}
				byListener[r.ListenerID] = used
			}
			p := priorityOf(r)
			if used[p] {
				return errf(codePriorityInUse, "Priority '%d' is currently in use", p)
			}
			used[p] = true
		}
		for _, rp := range in.RulePriorities {
			r, _ := w.ruleByARN(rp.RuleArn)
			w.put(ruleKey(r), r)
			out.Rules = append(out.Rules, r.Rule)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
