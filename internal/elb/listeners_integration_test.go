package elb_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func cond(field string, values ...string) types.RuleCondition {
	return types.RuleCondition{Field: aws.String(field), Values: values}
}

func TestListenersAndRulesThroughTheSDK(t *testing.T) {
	t.Parallel()
	env, c := start(t)
	ctx := context.Background()
	lb := createALB(t, c, "web")
	blue := createTG(t, c, "blue", types.ProtocolEnumHttp, types.TargetTypeEnumIp)
	green := createTG(t, c, "green", types.ProtocolEnumHttp, types.TargetTypeEnumIp)
	tcpTG := createTG(t, c, "tcp", types.ProtocolEnumTcp, types.TargetTypeEnumIp)
	port := freePort(t)

	// A weighted forward with stickiness, answered as AWS stores it.
	l := must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{
			TargetGroups:                []types.TargetGroupTuple{{TargetGroupArn: blue.TargetGroupArn, Weight: aws.Int32(90)}, {TargetGroupArn: green.TargetGroupArn, Weight: aws.Int32(10)}},
			TargetGroupStickinessConfig: &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(60)}}}}})).Listeners[0]
	fc := l.DefaultActions[0].ForwardConfig
	if *l.Port != port || l.Protocol != types.ProtocolEnumHttp || len(fc.TargetGroups) != 2 || *fc.TargetGroups[1].Weight != 10 ||
		!*fc.TargetGroupStickinessConfig.Enabled || l.DefaultActions[0].TargetGroupArn != nil {
		t.Fatalf("listener: %+v", l)
	}
	// One target group: TargetGroupArn and ForwardConfig with weight 1.
	p2 := freePort(t)
	l2 := must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(p2), DefaultActions: forward(*blue.TargetGroupArn)})).Listeners[0]
	if a := l2.DefaultActions[0]; *a.TargetGroupArn != *blue.TargetGroupArn || *a.ForwardConfig.TargetGroups[0].Weight != 1 || *a.ForwardConfig.TargetGroupStickinessConfig.Enabled {
		t.Fatalf("single forward: %+v", a)
	}

	bad := []struct {
		name string
		in   elbv2.CreateListenerInput
		code string
	}{
		{"same port", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(port), DefaultActions: forward(*blue.TargetGroupArn)}, "DuplicateListener"},
		{"TCP on an ALB", elbv2.CreateListenerInput{Protocol: "TCP", Port: aws.Int32(freePort(t)), DefaultActions: forward(*tcpTG.TargetGroupArn)}, "UnsupportedProtocol"},
		{"HTTPS", elbv2.CreateListenerInput{Protocol: "HTTPS", Port: aws.Int32(freePort(t)), DefaultActions: forward(*blue.TargetGroupArn)}, "UnsupportedProtocol"},
		{"TCP group", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: forward(*tcpTG.TargetGroupArn)}, "IncompatibleProtocols"},
		{"unknown group", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: forward(*blue.TargetGroupArn + "0")}, "TargetGroupNotFound"},
		{"two terminal actions", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: append(forward(*blue.TargetGroupArn),
			types.Action{Type: "fixed-response", FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200")}})}, "TooManyActions"},
		{"bad status", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: []types.Action{{Type: "fixed-response",
			FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("302")}}}}, "ValidationError"},
		{"redirect to itself", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: []types.Action{{Type: "redirect",
			RedirectConfig: &types.RedirectActionConfig{StatusCode: types.RedirectActionStatusCodeEnumHttp301}}}}, "InvalidLoadBalancerAction"},
		{"weight", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: []types.Action{{Type: "forward",
			ForwardConfig: &types.ForwardActionConfig{TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: blue.TargetGroupArn, Weight: aws.Int32(1000)}}}}}}, "ValidationError"},
		{"oidc", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: []types.Action{{Type: "authenticate-oidc"}}}, "InvalidLoadBalancerAction"},
		{"certificate", elbv2.CreateListenerInput{Protocol: "HTTP", Port: aws.Int32(freePort(t)), DefaultActions: forward(*blue.TargetGroupArn),
			Certificates: []types.Certificate{{CertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/x")}}}, "ValidationError"},
	}
	for _, b := range bad {
		b.in.LoadBalancerArn = lb.LoadBalancerArn
		_, err := c.CreateListener(ctx, &b.in)
		t.Run(b.name, func(t *testing.T) { wantErr(t, err, b.code) })
	}
	// A port another load balancer listens on (they share the address)
	// or that a socket of the host binds is refused.
	other := createALB(t, c, "other")
	_, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: other.LoadBalancerArn, Protocol: "HTTP", Port: aws.Int32(port),
		DefaultActions: []types.Action{{Type: "fixed-response", FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("404")}}}})
	wantErr(t, err, "InvalidConfigurationRequest")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: other.LoadBalancerArn, Protocol: "HTTP",
		Port:           aws.Int32(int32(busy.Addr().(*net.TCPAddr).Port)),
		DefaultActions: []types.Action{{Type: "fixed-response", FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("404")}}}})
	wantErr(t, err, "InvalidConfigurationRequest")
	// A target group serves one load balancer.
	_, err = c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: other.LoadBalancerArn, Protocol: "HTTP", Port: aws.Int32(freePort(t)),
		DefaultActions: forward(*blue.TargetGroupArn)})
	wantErr(t, err, "TargetGroupAssociationLimit")

	// Rules with every condition type.
	mk := func(prio int32, conds ...types.RuleCondition) (*elbv2.CreateRuleOutput, error) {
		return c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(prio), Conditions: conds, Actions: forward(*green.TargetGroupArn)})
	}
	r10 := must[*elbv2.CreateRuleOutput](t)(mk(10, cond("path-pattern", "/api/*"), cond("host-header", "api.example.com"))).Rules[0]
	if *r10.Priority != "10" || *r10.IsDefault || len(r10.Conditions) != 2 || r10.Conditions[0].PathPatternConfig.Values[0] != "/api/*" || r10.Conditions[0].Values[0] != "/api/*" {
		t.Fatalf("rule: %+v", r10)
	}
	r20 := must[*elbv2.CreateRuleOutput](t)(mk(20,
		types.RuleCondition{Field: aws.String("http-header"), HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Canary"), Values: []string{"1"}}},
		types.RuleCondition{Field: aws.String("http-request-method"), HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: []string{"GET"}}},
		types.RuleCondition{Field: aws.String("query-string"), QueryStringConfig: &types.QueryStringConditionConfig{Values: []types.QueryStringKeyValuePair{{Key: aws.String("v"), Value: aws.String("2")}}}},
		types.RuleCondition{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.0/8"}}},
	)).Rules[0]
	_, err = mk(10, cond("path-pattern", "/other"))
	wantErr(t, err, "PriorityInUse")
	for name, conds := range map[string][]types.RuleCondition{
		"two path patterns": {cond("path-pattern", "/a"), cond("path-pattern", "/b")},
		"six values":        {cond("path-pattern", "/a", "/b", "/c"), cond("host-header", "a", "b", "c")},
		"unknown field":     {cond("cookie", "x")},
		"bad cidr":          {{Field: aws.String("source-ip"), SourceIpConfig: &types.SourceIpConditionConfig{Values: []string{"10.0.0.300/8"}}}},
		"bad host":          {cond("host-header", "a b")},
		"no values":         {cond("path-pattern")},
		"none":              {},
	} {
		_, err := mk(30, conds...)
		t.Run(name, func(t *testing.T) { wantErr(t, err, "ValidationError") })
	}
	_, err = mk(0, cond("path-pattern", "/x"))
	wantErr(t, err, "ValidationError")
	_, err = mk(50001, cond("path-pattern", "/x"))
	wantErr(t, err, "ValidationError")

	rules := must[*elbv2.DescribeRulesOutput](t)(c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})).Rules
	if len(rules) != 3 || *rules[0].Priority != "10" || *rules[1].Priority != "20" || *rules[2].Priority != "default" || !*rules[2].IsDefault ||
		len(rules[2].Actions) != 1 || len(rules[2].Actions[0].ForwardConfig.TargetGroups) != 2 {
		t.Fatalf("rules: %+v", rules)
	}
	// Swap priorities at once; a clash is PriorityInUse.
	sw := must[*elbv2.SetRulePrioritiesOutput](t)(c.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{
		{RuleArn: r10.RuleArn, Priority: aws.Int32(20)}, {RuleArn: r20.RuleArn, Priority: aws.Int32(10)}}}))
	if len(sw.Rules) != 2 || *sw.Rules[0].Priority != "20" {
		t.Fatalf("set priorities: %+v", sw.Rules)
	}
	_, err = c.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: r10.RuleArn, Priority: aws.Int32(10)}}})
	wantErr(t, err, "PriorityInUse")
	_, err = c.SetRulePriorities(ctx, &elbv2.SetRulePrioritiesInput{RulePriorities: []types.RulePriorityPair{{RuleArn: rules[2].RuleArn, Priority: aws.Int32(5)}}})
	wantErr(t, err, "OperationNotPermitted")
	rules = must[*elbv2.DescribeRulesOutput](t)(c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn, PageSize: aws.Int32(1)})).Rules
	if *rules[0].RuleArn != *r20.RuleArn {
		t.Fatalf("first rule after the swap: %+v", rules[0])
	}

	// ModifyRule: conditions and actions; a default rule's actions are the
	// listener's.
	mr := must[*elbv2.ModifyRuleOutput](t)(c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: r10.RuleArn, Conditions: []types.RuleCondition{cond("path-pattern", "/v2/*")},
		Actions: []types.Action{{Type: "redirect", RedirectConfig: &types.RedirectActionConfig{Path: aws.String("/v3/#{path}"), StatusCode: types.RedirectActionStatusCodeEnumHttp302}}}})).Rules[0]
	if mr.Conditions[0].Values[0] != "/v2/*" || *mr.Actions[0].RedirectConfig.Host != "#{host}" || *mr.Actions[0].RedirectConfig.Path != "/v3/#{path}" {
		t.Fatalf("modified rule: %+v", mr)
	}
	defArn := *must[*elbv2.DescribeRulesOutput](t)(c.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})).Rules[2].RuleArn
	must[*elbv2.ModifyRuleOutput](t)(c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(defArn),
		Actions: []types.Action{{Type: "fixed-response", FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("503"), ContentType: aws.String("text/plain"), MessageBody: aws.String("down")}}}}))
	ls := must[*elbv2.DescribeListenersOutput](t)(c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{*l.ListenerArn}})).Listeners
	if ls[0].DefaultActions[0].Type != "fixed-response" || *ls[0].DefaultActions[0].FixedResponseConfig.MessageBody != "down" {
		t.Fatalf("listener after its default rule changed: %+v", ls[0].DefaultActions)
	}
	_, err = c.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(defArn), Conditions: []types.RuleCondition{cond("path-pattern", "/")}})
	wantErr(t, err, "OperationNotPermitted")
	_, err = c.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: aws.String(defArn)})
	wantErr(t, err, "OperationNotPermitted")
	must[*elbv2.DeleteRuleOutput](t)(c.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: r20.RuleArn}))
	_, err = c.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: r20.RuleArn})
	wantErr(t, err, "RuleNotFound")

	// The rule quota of a load balancer.
	for i := range 99 {
		if _, err := mk(int32(100+i), cond("path-pattern", fmt.Sprintf("/q%d", i))); err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
	}
	_, err = mk(300, cond("path-pattern", "/last"))
	wantErr(t, err, "TooManyRules")

	// ModifyListener: port (checked as on creation), default actions.
	np := freePort(t)
	ml := must[*elbv2.ModifyListenerOutput](t)(c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l2.ListenerArn, Port: aws.Int32(np),
		DefaultActions: forward(*green.TargetGroupArn)})).Listeners[0]
	if *ml.Port != np || *ml.DefaultActions[0].TargetGroupArn != *green.TargetGroupArn {
		t.Fatalf("modified listener: %+v", ml)
	}
	_, err = c.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: l2.ListenerArn, Port: aws.Int32(port)})
	wantErr(t, err, "DuplicateListener")

	// The snapshot carries it all to the data plane.
	snap, err := env.Server.ELB.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.LoadBalancers) != 2 || len(snap.LoadBalancers[0].Listeners) != 2 || len(snap.LoadBalancers[0].Listeners[0].Rules) != 100 ||
		snap.LoadBalancers[0].Listeners[0].Rules[0].Priority != 20 || snap.LoadBalancers[0].Listeners[0].DefaultActions[0].FixedResponse.StatusCode != 503 {
		t.Fatalf("snapshot: %+v", snap.LoadBalancers)
	}

	// Deleting the listener deletes its rules and frees the group; the
	// load balancer's deletion takes its other listeners.
	must[*elbv2.DeleteListenerOutput](t)(c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn}))
	_, err = c.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{*r10.RuleArn}})
	wantErr(t, err, "RuleNotFound")
	_, err = c.DeleteListener(ctx, &elbv2.DeleteListenerInput{ListenerArn: l.ListenerArn})
	wantErr(t, err, "ListenerNotFound")
	must[*elbv2.DeleteLoadBalancerOutput](t)(c.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lb.LoadBalancerArn}))
	_, err = c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{*l2.ListenerArn}})
	wantErr(t, err, "ListenerNotFound")
	must[*elbv2.DeleteTargetGroupOutput](t)(c.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: green.TargetGroupArn}))

	// A network load balancer: TCP listeners forwarding to one TCP group.
	nlb := must[*elbv2.CreateLoadBalancerOutput](t)(c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("tcp"), Type: "network"})).LoadBalancers[0]
	nl := must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: nlb.LoadBalancerArn, Protocol: "TCP",
		Port: aws.Int32(freePort(t)), DefaultActions: forward(*tcpTG.TargetGroupArn)})).Listeners[0]
	_, err = c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: nl.ListenerArn, Priority: aws.Int32(1), Conditions: []types.RuleCondition{cond("path-pattern", "/")},
		Actions: forward(*tcpTG.TargetGroupArn)})
	wantErr(t, err, "InvalidConfigurationRequest")
	_, err = c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: nlb.LoadBalancerArn, Protocol: "TCP", Port: aws.Int32(freePort(t)),
		DefaultActions: []types.Action{{Type: "fixed-response", FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("200")}}}})
	wantErr(t, err, "InvalidLoadBalancerAction")
	la := must[*elbv2.ModifyListenerAttributesOutput](t)(c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: nl.ListenerArn,
		Attributes: []types.ListenerAttribute{{Key: aws.String("tcp.idle_timeout.seconds"), Value: aws.String("120")}}})).Attributes
	if len(la) != 1 || *la[0].Value != "120" {
		t.Fatalf("listener attributes: %+v", la)
	}
	_, err = c.ModifyListenerAttributes(ctx, &elbv2.ModifyListenerAttributesInput{ListenerArn: nl.ListenerArn,
		Attributes: []types.ListenerAttribute{{Key: aws.String("tcp.idle_timeout.seconds"), Value: aws.String("10")}}})
	wantErr(t, err, "ValidationError")
	ip := must[*elbv2.SetIpAddressTypeOutput](t)(c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: nlb.LoadBalancerArn, IpAddressType: types.IpAddressTypeDualstack}))
	if ip.IpAddressType != types.IpAddressTypeDualstack {
		t.Fatalf("ip address type: %+v", ip)
	}
	_, err = c.SetIpAddressType(ctx, &elbv2.SetIpAddressTypeInput{LoadBalancerArn: nlb.LoadBalancerArn, IpAddressType: "ipv5"})
	wantErr(t, err, "ValidationError")
}

func TestTagsThroughTheSDK(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := context.Background()
	lb := createALB(t, c, "web")
	tg := createTG(t, c, "tg", types.ProtocolEnumHttp, types.TargetTypeEnumIp)
	l := must[*elbv2.CreateListenerOutput](t)(c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lb.LoadBalancerArn, Protocol: "HTTP",
		Port: aws.Int32(freePort(t)), DefaultActions: forward(*tg.TargetGroupArn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("l")}}})).Listeners[0]
	r := must[*elbv2.CreateRuleOutput](t)(c.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.ListenerArn, Priority: aws.Int32(1),
		Conditions: []types.RuleCondition{cond("path-pattern", "/")}, Actions: forward(*tg.TargetGroupArn)})).Rules[0]
	arns := []string{*lb.LoadBalancerArn, *tg.TargetGroupArn, *l.ListenerArn, *r.RuleArn}
	must[*elbv2.AddTagsOutput](t)(c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: arns, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("web")},
		{Key: aws.String("k"), Value: aws.String("v")}}}))
	d := must[*elbv2.DescribeTagsOutput](t)(c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns}))
	if len(d.TagDescriptions) != 4 {
		t.Fatalf("descriptions: %+v", d.TagDescriptions)
	}
	for _, td := range d.TagDescriptions {
		if len(td.Tags) != 2 {
			t.Fatalf("%s: %+v", *td.ResourceArn, td.Tags)
		}
		for _, tag := range td.Tags {
			if *tag.Key == "k" && *tag.Value != "v" {
				t.Fatalf("k not replaced: %+v", td.Tags)
			}
		}
	}
	must[*elbv2.RemoveTagsOutput](t)(c.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: arns[:1], TagKeys: []string{"team", "absent"}}))
	d = must[*elbv2.DescribeTagsOutput](t)(c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns[:1]}))
	if len(d.TagDescriptions[0].Tags) != 1 || *d.TagDescriptions[0].Tags[0].Key != "k" {
		t.Fatalf("after removal: %+v", d.TagDescriptions[0].Tags)
	}
	var many []types.Tag
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("t%d", i)), Value: aws.String("")})
	}
	_, err := c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: arns[:1], Tags: many})
	wantErr(t, err, "TooManyTags")
	_, err = c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: arns[:1], Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("")}}})
	wantErr(t, err, "ValidationError")
	_, err = c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: arns[:1], Tags: []types.Tag{{Key: aws.String("d"), Value: aws.String("1")}, {Key: aws.String("d"), Value: aws.String("2")}}})
	wantErr(t, err, "DuplicateTagKeys")
	_, err = c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{*lb.LoadBalancerArn + "0"}})
	wantErr(t, err, "LoadBalancerNotFound")
	_, err = c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{*tg.TargetGroupArn + "0"}})
	wantErr(t, err, "TargetGroupNotFound")
	_, err = c.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{"not-an-arn"}, Tags: many[:1]})
	wantErr(t, err, "ValidationError")
}
