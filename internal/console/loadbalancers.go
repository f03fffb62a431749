package console

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/elbv2api"
)

// loadBalancerRow is a load balancer with its tags.
type loadBalancerRow struct {
	elbv2api.LoadBalancer
	Tags []elbv2api.Tag
}

// loadBalancersData is the load balancers page's.
type loadBalancersData struct {
	LoadBalancers []loadBalancerRow
	TargetGroups  []targetGroupRow
}

// targetGroupRow is a target group with its targets' health.
type targetGroupRow struct {
	elbv2api.TargetGroup
	Health targetGroupHealth
}

// maxListed bounds what a list page reads (pages of the API's size).
const maxListed = 1000

func (h *Handler) loadBalancers(r *http.Request, s *session, in *elbv2api.DescribeLoadBalancersInput) ([]loadBalancerRow, error) {
	var rows []loadBalancerRow
	for {
		out, err := call[elbv2api.DescribeLoadBalancersOutput](h, r, s, svcELB, "DescribeLoadBalancers", in)
		if err != nil {
			return nil, err
		}
		for _, lb := range out.LoadBalancers {
			rows = append(rows, loadBalancerRow{LoadBalancer: lb})
		}
		if in.Marker = out.NextMarker; in.Marker == "" || len(rows) >= maxListed {
			break
		}
	}
	// Tags, 20 ARNs at a time (DescribeTags' limit); a refusal leaves
	// them out.
	for i := 0; i < len(rows); i += 20 {
		var arns []string
		for _, row := range rows[i:min(i+20, len(rows))] {
			arns = append(arns, row.LoadBalancerArn)
		}
		t, err := call[elbv2api.DescribeTagsOutput](h, r, s, svcELB, "DescribeTags", &elbv2api.DescribeTagsInput{ResourceArns: arns})
		if err != nil {
			break
		}
		for _, td := range t.TagDescriptions {
			for j := range rows {
				if rows[j].LoadBalancerArn == td.ResourceArn {
					rows[j].Tags = td.Tags
				}
			}
		}
	}
	slices.SortFunc(rows, func(a, b loadBalancerRow) int { return cmp.Compare(a.LoadBalancerName, b.LoadBalancerName) })
	return rows, nil
}

func (h *Handler) targetGroups(r *http.Request, s *session, in *elbv2api.DescribeTargetGroupsInput) ([]targetGroupRow, error) {
	var rows []targetGroupRow
	for {
		out, err := call[elbv2api.DescribeTargetGroupsOutput](h, r, s, svcELB, "DescribeTargetGroups", in)
		if err != nil {
			return nil, err
		}
		for _, tg := range out.TargetGroups {
			rows = append(rows, targetGroupRow{TargetGroup: tg})
		}
		if in.Marker = out.NextMarker; in.Marker == "" || len(rows) >= maxListed {
			break
		}
	}
	for i := range rows {
		rows[i].Health = h.targetHealth(r, s, []string{rows[i].TargetGroupArn})[0]
	}
	slices.SortFunc(rows, func(a, b targetGroupRow) int { return cmp.Compare(a.TargetGroupName, b.TargetGroupName) })
	return rows, nil
}

func (h *Handler) loadBalancersPage(r *http.Request, s *session) (*view, error) {
	lbs, err := h.loadBalancers(r, s, &elbv2api.DescribeLoadBalancersInput{})
	if err != nil {
		return nil, err
	}
	tgs, err := h.targetGroups(r, s, &elbv2api.DescribeTargetGroupsInput{})
	if err != nil {
		return nil, err
	}
	return &view{Title: "Load balancers", Data: &loadBalancersData{LoadBalancers: lbs, TargetGroups: tgs}}, nil
}

// listenerRules is a listener with its rules.
type listenerRules struct {
	elbv2api.Listener
	Rules []elbv2api.Rule
	Err   string
}

// loadBalancerData is a load balancer's page's.
type loadBalancerData struct {
	LoadBalancer loadBalancerRow
	Listeners    []listenerRules
	TargetGroups []targetGroupRow
}

func (h *Handler) loadBalancerPage(r *http.Request, s *session) (*view, error) {
	name := r.PathValue("name")
	lbs, err := h.loadBalancers(r, s, &elbv2api.DescribeLoadBalancersInput{Names: []string{name}})
	if err != nil {
		return nil, err
	}
	if len(lbs) == 0 {
		return nil, apierror.New("LoadBalancerNotFound", "One or more load balancers not found")
	}
	d := &loadBalancerData{LoadBalancer: lbs[0]}
	arn := d.LoadBalancer.LoadBalancerArn
	ls, err := call[elbv2api.DescribeListenersOutput](h, r, s, svcELB, "DescribeListeners", &elbv2api.DescribeListenersInput{LoadBalancerArn: arn})
	if err != nil {
		return nil, err
	}
	for _, l := range ls.Listeners {
		lr := listenerRules{Listener: l}
		if rs, err := call[elbv2api.DescribeRulesOutput](h, r, s, svcELB, "DescribeRules", &elbv2api.DescribeRulesInput{ListenerArn: l.ListenerArn}); err != nil {
			lr.Err = errText(err)
		} else {
			lr.Rules = rs.Rules
		}
		d.Listeners = append(d.Listeners, lr)
	}
	slices.SortFunc(d.Listeners, func(a, b listenerRules) int { return cmp.Compare(port(a.Port), port(b.Port)) })
	if d.TargetGroups, err = h.targetGroups(r, s, &elbv2api.DescribeTargetGroupsInput{LoadBalancerArn: arn}); err != nil {
		return nil, err
	}
	return &view{Title: "Load balancer " + d.LoadBalancer.LoadBalancerName, Crumbs: []crumb{{"Load balancers", Prefix + "loadbalancers"}}, Data: d}, nil
}

func (h *Handler) targetGroupPage(r *http.Request, s *session) (*view, error) {
	tgs, err := h.targetGroups(r, s, &elbv2api.DescribeTargetGroupsInput{Names: []string{r.PathValue("name")}})
	if err != nil {
		return nil, err
	}
	if len(tgs) == 0 {
		return nil, apierror.New("TargetGroupNotFound", "One or more target groups not found")
	}
	return &view{Title: "Target group " + tgs[0].TargetGroupName, Crumbs: []crumb{{"Load balancers", Prefix + "loadbalancers"}}, Data: tgs[0]}, nil
}

func port(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// actionText describes a listener's or rule's action in words.
func actionText(a elbv2api.Action) string {
	switch {
	case a.Type == "forward" && a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0:
		var parts []string
		for _, t := range a.ForwardConfig.TargetGroups {
			w := ""
			if t.Weight != nil && len(a.ForwardConfig.TargetGroups) > 1 {
				w = fmt.Sprintf(" (weight %d)", *t.Weight)
			}
			parts = append(parts, tgName(t.TargetGroupArn)+w)
		}
		return "forward to " + strings.Join(parts, ", ")
	case a.Type == "forward":
		return "forward to " + tgName(a.TargetGroupArn)
	case a.Type == "fixed-response" && a.FixedResponseConfig != nil:
		return "respond " + a.FixedResponseConfig.StatusCode + " " + a.FixedResponseConfig.MessageBody
	case a.Type == "redirect" && a.RedirectConfig != nil:
		rc := a.RedirectConfig
		return fmt.Sprintf("redirect %s to %s://%s:%s%s", rc.StatusCode, cmp.Or(rc.Protocol, "#{protocol}"), cmp.Or(rc.Host, "#{host}"), cmp.Or(rc.Port, "#{port}"), cmp.Or(rc.Path, "/#{path}"))
	}
	return string(a.Type)
}

// conditionText describes a rule's condition in words.
func conditionText(c elbv2api.RuleCondition) string {
	vals := c.Values
	switch {
	case c.PathPatternConfig != nil:
		vals = append(slices.Clone(c.PathPatternConfig.Values), c.PathPatternConfig.RegexValues...)
	case c.HostHeaderConfig != nil:
		vals = append(slices.Clone(c.HostHeaderConfig.Values), c.HostHeaderConfig.RegexValues...)
	}
	return c.Field + " is " + strings.Join(vals, " or ")
}
