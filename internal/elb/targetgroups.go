package elb

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/record"
)

// checkTGName applies AWS's rules to a target group name.
func checkTGName(name string) error {
	switch {
	case name == "":
		return validation("A target group name must be specified")
	case len(name) > 32:
		return validation("Target group name '%s' cannot be longer than '32' characters", name)
	case !nameRE.MatchString(name):
		return validation("Target group name '%s' can only contain characters that are alphanumeric characters or hyphens(-)", name)
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return validation("Target group name '%s' cannot begin or end with '-' character", name)
	}
	return nil
}

var allProtocols = []string{"HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"}

// checkProtocol accepts what Gantry serves (HTTP, TCP) and answers the
// others with UnsupportedProtocol (known to ELBv2) or a validation error.
func checkProtocol(member, p string) error {
	switch {
	case p == "HTTP" || p == "TCP":
		return nil
	case slices.Contains(allProtocols, p):
		return errf(codeUnsupportedProtocol, "Protocol '%s' is not supported by Gantry load balancers (HTTP and TCP are)", p)
	}
	return enumError(member, p, allProtocols)
}

var matcherRE = regexp.MustCompile(`^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$`)

// checkMatcher checks HTTP success codes: "200", "200,202", "200-299",
// within 200-499 (application) or 200-599 (network).
func checkMatcher(code, tgProtocol string) error {
	hi := 499
	if tgProtocol == "TCP" {
		hi = 599
	}
	if !matcherRE.MatchString(code) {
		return validation("Health check matcher HTTP code '%s' is not valid", code)
	}
	for part := range strings.SplitSeq(code, ",") {
		lo, up, isRange := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(up)
		}
		if a < 200 || b > hi || a > b {
			return validation("Health check matcher HTTP code '%s' must be within 200-%d", code, hi)
		}
	}
	return nil
}

func int32p(n int32) *int32 { return &n }

func boolp(b bool) *bool { return &b }

// healthCheck is the health check members of CreateTargetGroup and
// ModifyTargetGroup.
type healthCheck struct {
	Protocol           elbv2api.ProtocolEnum
	Port, Path         string
	Enabled            *bool
	Interval, Timeout  *int32
	Healthy, Unhealthy *int32
	Matcher            *elbv2api.Matcher
}

// applyHealthCheck validates hc and sets it on tg (whose other members
// are already set); AWS's defaults fill what neither gives.
func applyHealthCheck(tg *elbv2api.TargetGroup, hc healthCheck, create bool) error {
	if hc.Protocol != "" {
		if err := checkProtocol("healthCheckProtocol", string(hc.Protocol)); err != nil {
			return err
		}
		if tg.Protocol == "HTTP" && hc.Protocol == "TCP" {
			return validation("Health check protocol 'TCP' is not supported for target groups with the 'HTTP' protocol")
		}
		if !create && hc.Protocol != tg.HealthCheckProtocol && hc.Path == "" && hc.Protocol == "HTTP" && tg.HealthCheckPath == "" {
			tg.HealthCheckPath = "/"
		}
		tg.HealthCheckProtocol = hc.Protocol
	}
	if tg.HealthCheckProtocol == "" {
		tg.HealthCheckProtocol = tg.Protocol
	}
	if hc.Port != "" {
		if hc.Port != "traffic-port" {
			n, err := strconv.Atoi(hc.Port)
			if err != nil || n < 1 || n > 65535 {
				return validation("Health check port '%s' must be 'traffic-port' or a number between 1 and 65535", hc.Port)
			}
		}
		tg.HealthCheckPort = hc.Port
	}
	if tg.HealthCheckPort == "" {
		tg.HealthCheckPort = "traffic-port"
	}
	if hc.Enabled != nil {
		tg.HealthCheckEnabled = boolp(*hc.Enabled)
	}
	if tg.HealthCheckEnabled == nil {
		tg.HealthCheckEnabled = boolp(true)
	}
	httpCheck := tg.HealthCheckProtocol == "HTTP"
	if hc.Path != "" {
		if !httpCheck {
			return validation("A health check path cannot be specified with the health check protocol 'TCP'")
		}
		if !strings.HasPrefix(hc.Path, "/") || len(hc.Path) > 1024 {
			return validation("Health check path '%s' must begin with '/' and be at most 1024 characters", hc.Path)
		}
		tg.HealthCheckPath = hc.Path
	}
	if httpCheck && tg.HealthCheckPath == "" {
		tg.HealthCheckPath = "/"
	}
	if !httpCheck {
		tg.HealthCheckPath = ""
	}
	nlb := tg.Protocol == "TCP"
	defInterval, defTimeout, defHealthy, defUnhealthy := int32(30), int32(5), int32(5), int32(2)
	if nlb {
		defTimeout = 10
		if httpCheck {
			defTimeout = 6
		}
	}
	set := func(dst **int32, v *int32, def int32, lo, hi int32, what string) error {
		if v != nil {
			if *v < lo || *v > hi {
				return validation("%s must be between %d and %d: '%d'", what, lo, hi, *v)
			}
			*dst = int32p(*v)
		}
		if *dst == nil {
			*dst = int32p(def)
		}
		return nil
	}
	if err := set(&tg.HealthCheckIntervalSeconds, hc.Interval, defInterval, 5, 300, "Health check interval"); err != nil {
		return err
	}
	if err := set(&tg.HealthCheckTimeoutSeconds, hc.Timeout, defTimeout, 2, 120, "Health check timeout"); err != nil {
		return err
	}
	if err := set(&tg.HealthyThresholdCount, hc.Healthy, defHealthy, 2, 10, "Healthy threshold count"); err != nil {
		return err
	}
	if err := set(&tg.UnhealthyThresholdCount, hc.Unhealthy, defUnhealthy, 2, 10, "Unhealthy threshold count"); err != nil {
		return err
	}
	if *tg.HealthCheckTimeoutSeconds >= *tg.HealthCheckIntervalSeconds {
		return validation("Health check timeout '%d' must be smaller than the interval '%d'", *tg.HealthCheckTimeoutSeconds, *tg.HealthCheckIntervalSeconds)
	}
	if hc.Matcher != nil {
		if hc.Matcher.GrpcCode != "" {
			return errf(codeInvalidConfiguration, "gRPC health check codes need protocol version GRPC, which Gantry does not serve")
		}
		if !httpCheck {
			return validation("A health check matcher cannot be specified with the health check protocol 'TCP'")
		}
		if err := checkMatcher(hc.Matcher.HttpCode, string(tg.Protocol)); err != nil {
			return err
		}
		tg.Matcher = &elbv2api.Matcher{HttpCode: hc.Matcher.HttpCode}
	}
	if httpCheck && tg.Matcher == nil {
		code := "200"
		if nlb {
			code = "200-399"
		}
		tg.Matcher = &elbv2api.Matcher{HttpCode: code}
	}
	if !httpCheck {
		tg.Matcher = nil
	}
	return nil
}

// defaultTGAttributes are a new target group's attributes, as AWS answers
// DescribeTargetGroupAttributes for one of protocol and target type.
func defaultTGAttributes(protocol, targetType string) map[string]string {
	m := map[string]string{
		"deregistration_delay.timeout_seconds":                                           "300",
		"stickiness.enabled":                                                             "false",
		"load_balancing.cross_zone.enabled":                                              "use_load_balancer_configuration",
		"target_group_health.dns_failover.minimum_healthy_targets.count":                 "1",
		"target_group_health.dns_failover.minimum_healthy_targets.percentage":            "off",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":      "1",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
	}
	if protocol == "TCP" {
		m["stickiness.type"] = "source_ip"
		m["deregistration_delay.connection_termination.enabled"] = "false"
		m["proxy_protocol_v2.enabled"] = "false"
		m["preserve_client_ip.enabled"] = strconv.FormatBool(targetType == "instance")
		m["target_health_state.unhealthy.connection_termination.enabled"] = "true"
		m["target_health_state.unhealthy.draining_interval_seconds"] = "0"
		return m
	}
	m["stickiness.type"] = "lb_cookie"
	m["stickiness.lb_cookie.duration_seconds"] = "86400"
	m["stickiness.app_cookie.cookie_name"] = ""
	m["stickiness.app_cookie.duration_seconds"] = "86400"
	m["slow_start.duration_seconds"] = "0"
	m["load_balancing.algorithm.type"] = "round_robin"
	m["load_balancing.algorithm.anomaly_mitigation"] = "off"
	return m
}

// checkTGAttribute validates one target group attribute against the
// group's attributes after the change (all).
func checkTGAttribute(protocol, targetType, key, value string) error {
	if ok, err := checkHoldAttribute(key, value); ok {
		return err
	}
	if _, ok := defaultTGAttributes(protocol, targetType)[key]; !ok {
		return validation("Target group attribute key '%s' is not recognized", key)
	}
	bad := func() error {
		return validation("Target group attribute value '%s' is not valid for key '%s'", value, key)
	}
	intIn := func(lo, hi int) error {
		n, err := strconv.Atoi(value)
		if err != nil || n < lo || n > hi {
			return validation("Target group attribute '%s' must be between %d and %d: '%s'", key, lo, hi, value)
		}
		return nil
	}
	switch key {
	case "deregistration_delay.timeout_seconds":
		return intIn(0, 3600)
	case "slow_start.duration_seconds":
		if value == "0" {
			return nil
		}
		return intIn(30, 900)
	case "stickiness.lb_cookie.duration_seconds", "stickiness.app_cookie.duration_seconds":
		return intIn(1, 604800)
	case "stickiness.type":
		if protocol == "TCP" && value != "source_ip" || protocol != "TCP" && value != "lb_cookie" && value != "app_cookie" {
			return bad()
		}
		if value == "app_cookie" {
			return errf(codeInvalidConfiguration, "Gantry load balancers support stickiness type 'lb_cookie' only")
		}
		if value == "source_ip" {
			return errf(codeInvalidConfiguration, "Gantry load balancers do not support stickiness type 'source_ip'")
		}
	case "load_balancing.algorithm.type":
		switch value {
		case "round_robin", "least_outstanding_requests":
		case "weighted_random":
			return errf(codeInvalidConfiguration, "Gantry load balancers support the algorithms 'round_robin' and 'least_outstanding_requests'")
		default:
			return bad()
		}
	case "load_balancing.algorithm.anomaly_mitigation":
		if value != "off" && value != "on" {
			return bad()
		}
	case "load_balancing.cross_zone.enabled":
		if value != "true" && value != "false" && value != "use_load_balancer_configuration" {
			return bad()
		}
	case "target_group_health.dns_failover.minimum_healthy_targets.count",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count":
		if value == "off" {
			return nil
		}
		return intIn(1, maxTargetsPerTG)
	case "target_group_health.dns_failover.minimum_healthy_targets.percentage",
		"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage":
		if value == "off" {
			return nil
		}
		return intIn(1, 100)
	case "target_health_state.unhealthy.draining_interval_seconds":
		return intIn(0, 360000)
	case "stickiness.app_cookie.cookie_name":
	default:
		if strings.HasSuffix(key, ".enabled") && value != "true" && value != "false" {
			return bad()
		}
		if key == "stickiness.enabled" && value == "true" && protocol == "TCP" {
			return errf(codeInvalidConfiguration, "Gantry load balancers do not support stickiness on TCP target groups")
		}
		if key == "proxy_protocol_v2.enabled" && value == "true" {
			return errf(codeInvalidConfiguration, "Gantry load balancers do not send the proxy protocol")
		}
	}
	return nil
}

// CreateTargetGroup creates a target group (HTTP or TCP, targets of type
// instance or ip) with AWS's defaults for its protocol. A name in use
// with the same settings answers that group, as AWS does.
func (a *API) CreateTargetGroup(ctx context.Context, in *elbv2api.CreateTargetGroupInput) (*elbv2api.CreateTargetGroupOutput, error) {
	if err := checkTGName(in.Name); err != nil {
		return nil, err
	}
	tt := string(in.TargetType)
	switch tt {
	case "":
		tt = "instance"
	case "instance", "ip":
	case "lambda", "alb":
		return nil, errf(codeInvalidConfiguration, "Target type '%s' is not supported by Gantry (instance and ip are)", tt)
	default:
		return nil, enumError("targetType", tt, []string{"instance", "ip", "lambda", "alb"})
	}
	if in.Protocol == "" {
		return nil, validation("A protocol must be specified")
	}
	if err := checkProtocol("protocol", string(in.Protocol)); err != nil {
		return nil, err
	}
	if in.Port == nil {
		return nil, validation("A port must be specified")
	}
	if *in.Port < 1 || *in.Port > 65535 {
		return nil, validation("1 validation error detected: Value '%d' at 'port' failed to satisfy constraint: Member must have value between 1 and 65535", *in.Port)
	}
	if err := a.checkVPC(in.VpcId); err != nil {
		return nil, err
	}
	switch in.ProtocolVersion {
	case "":
	case "HTTP1":
		if in.Protocol != "HTTP" {
			return nil, validation("A protocol version can only be specified with the protocols HTTP and HTTPS")
		}
	case "HTTP2", "GRPC":
		return nil, errf(codeInvalidConfiguration, "Protocol version '%s' is not supported by Gantry (HTTP1 is)", in.ProtocolVersion)
	default:
		return nil, validation("Protocol version '%s' is not valid", in.ProtocolVersion)
	}
	switch in.IpAddressType {
	case "", "ipv4":
	case "ipv6":
		return nil, errf(codeInvalidConfiguration, "Gantry target groups take IPv4 targets")
	default:
		return nil, enumError("ipAddressType", string(in.IpAddressType), []string{"ipv4", "ipv6"})
	}
	if in.TargetControlPort != nil {
		return nil, errf(codeInvalidConfiguration, "Target control ports are not supported by Gantry")
	}
	if err := checkTags(in.Tags, true); err != nil {
		return nil, err
	}
	tg := elbv2api.TargetGroup{
		TargetGroupName: in.Name,
		Protocol:        in.Protocol,
		Port:            int32p(*in.Port),
		VpcId:           VPCID(a.Region, a.Account),
		TargetType:      elbv2api.TargetTypeEnum(tt),
		IpAddressType:   "ipv4",
	}
	if in.Protocol == "HTTP" {
		tg.ProtocolVersion = "HTTP1"
	}
	if err := applyHealthCheck(&tg, healthCheck{Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath,
		Enabled: in.HealthCheckEnabled, Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
		Healthy: in.HealthyThresholdCount, Unhealthy: in.UnhealthyThresholdCount, Matcher: in.Matcher}, true); err != nil {
		return nil, err
	}
	now := a.now()
	var out elbv2api.TargetGroup
	_, err := a.update(ctx, func(w *world) error {
		for _, r := range w.tgs {
			if r.TG.TargetGroupName != in.Name {
				continue
			}
			same := r.TG
			same.TargetGroupArn, same.LoadBalancerArns = "", nil
			if sameTG(same, tg) {
				out = w.targetGroupView(r)
				return nil
			}
			return errf(codeDuplicateTargetGroup, "A target group with the same name '%s' exists, but with different settings", in.Name)
		}
		if len(w.tgs) >= maxTargetGroups {
			return errf(codeTooManyTargetGroups, "The maximum number of target groups has been reached: %d", maxTargetGroups)
		}
		id := newID()
		r := &tgRecord{ID: id, TG: tg, Attributes: defaultTGAttributes(string(tg.Protocol), tt), Tags: tagsCopy(in.Tags), Created: now.UnixNano()}
		r.TG.TargetGroupArn = a.tgARN(in.Name, id)
		w.put(keyOf(kindTG, id), r)
		out = w.targetGroupView(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateTargetGroupOutput{TargetGroups: []elbv2api.TargetGroup{out}}, nil
}

// sameTG compares the settings of two target groups.
func sameTG(x, y elbv2api.TargetGroup) bool {
	eq := func(a, b *int32) bool { return a != nil && b != nil && *a == *b }
	return x.Protocol == y.Protocol && eq(x.Port, y.Port) && x.TargetType == y.TargetType &&
		x.HealthCheckProtocol == y.HealthCheckProtocol && x.HealthCheckPort == y.HealthCheckPort &&
		x.HealthCheckPath == y.HealthCheckPath && eq(x.HealthCheckIntervalSeconds, y.HealthCheckIntervalSeconds) &&
		eq(x.HealthCheckTimeoutSeconds, y.HealthCheckTimeoutSeconds) && eq(x.HealthyThresholdCount, y.HealthyThresholdCount) &&
		eq(x.UnhealthyThresholdCount, y.UnhealthyThresholdCount) &&
		(x.Matcher == nil) == (y.Matcher == nil) && (x.Matcher == nil || x.Matcher.HttpCode == y.Matcher.HttpCode) &&
		*x.HealthCheckEnabled == *y.HealthCheckEnabled
}

// ModifyTargetGroup changes a target group's health check.
func (a *API) ModifyTargetGroup(ctx context.Context, in *elbv2api.ModifyTargetGroupInput) (*elbv2api.ModifyTargetGroupOutput, error) {
	if err := checkARN("target group", in.TargetGroupArn); err != nil {
		return nil, err
	}
	var out elbv2api.TargetGroup
	_, err := a.update(ctx, func(w *world) error {
		r := w.tgByARN(in.TargetGroupArn)
		if r == nil {
			return errf(codeTargetGroupNotFound, "Target groups '%s' not found", in.TargetGroupArn)
		}
		if err := applyHealthCheck(&r.TG, healthCheck{Protocol: in.HealthCheckProtocol, Port: in.HealthCheckPort, Path: in.HealthCheckPath,
			Enabled: in.HealthCheckEnabled, Interval: in.HealthCheckIntervalSeconds, Timeout: in.HealthCheckTimeoutSeconds,
			Healthy: in.HealthyThresholdCount, Unhealthy: in.UnhealthyThresholdCount, Matcher: in.Matcher}, false); err != nil {
			return err
		}
		w.put(keyOf(kindTG, r.ID), r)
		out = w.targetGroupView(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyTargetGroupOutput{TargetGroups: []elbv2api.TargetGroup{out}}, nil
}

// DescribeTargetGroups lists target groups: all, those of a load
// balancer, or those named by ARN or by name.
func (a *API) DescribeTargetGroups(ctx context.Context, in *elbv2api.DescribeTargetGroupsInput) (*elbv2api.DescribeTargetGroupsOutput, error) {
	n := 0
	for _, given := range []bool{in.LoadBalancerArn != "", len(in.TargetGroupArns) > 0, len(in.Names) > 0} {
		if given {
			n++
		}
	}
	if n > 1 {
		return nil, validation("Load balancer ARN, target group ARNs and target group names cannot be specified at the same time")
	}
	for _, arn := range in.TargetGroupArns {
		if err := checkARN("target group", arn); err != nil {
			return nil, err
		}
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	var list []*tgRecord
	switch {
	case in.LoadBalancerArn != "":
		if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
			return nil, err
		}
		lb := w.lbByARN(in.LoadBalancerArn)
		if lb == nil {
			return nil, errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
		}
		uses := w.lbTargetGroups(lb.ID)
		for _, r := range w.tgList() {
			if slices.Contains(uses, r.TG.TargetGroupArn) {
				list = append(list, r)
			}
		}
	case len(in.TargetGroupArns) > 0:
		for _, arn := range in.TargetGroupArns {
			r := w.tgByARN(arn)
			if r == nil {
				return nil, errf(codeTargetGroupNotFound, "One or more target groups not found")
			}
			if !slices.Contains(list, r) {
				list = append(list, r)
			}
		}
	case len(in.Names) > 0:
		var missing []string
		for _, name := range in.Names {
			found := false
			for _, r := range w.tgList() {
				if r.TG.TargetGroupName == name {
					found = true
					if !slices.Contains(list, r) {
						list = append(list, r)
					}
				}
			}
			if !found {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, errf(codeTargetGroupNotFound, "Target groups '[%s]' not found", strings.Join(missing, ", "))
		}
	default:
		list = w.tgList()
	}
	pg, next, err := page(list, func(r *tgRecord) string { return sortKey(r.Created, r.ID) }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2api.DescribeTargetGroupsOutput{TargetGroups: []elbv2api.TargetGroup{}, NextMarker: next}
	for _, r := range pg {
		out.TargetGroups = append(out.TargetGroups, w.targetGroupView(r))
	}
	return out, nil
}

// DeleteTargetGroup deletes a target group and its targets; one a
// listener or rule forwards to is ResourceInUse. An unknown target group
// is no error, as AWS answers.
func (a *API) DeleteTargetGroup(ctx context.Context, in *elbv2api.DeleteTargetGroupInput) (*elbv2api.DeleteTargetGroupOutput, error) {
	if err := checkARN("target group", in.TargetGroupArn); err != nil {
		return nil, err
	}
	if svc, err := a.serviceUsing(ctx, in.TargetGroupArn); err != nil {
		return nil, err
	} else if svc != "" {
		return nil, errf(codeResourceInUse, "Target group '%s' is currently in use by ECS service '%s'", in.TargetGroupArn, svc)
	}
	_, err := a.update(ctx, func(w *world) error {
		r := w.tgByARN(in.TargetGroupArn)
		if r == nil {
			return nil
		}
		if len(w.tgLoadBalancers(r.TG.TargetGroupArn)) > 0 {
			return errf(codeResourceInUse, "Target group '%s' is currently in use by a listener or a rule", in.TargetGroupArn)
		}
		w.del(keyOf(kindTG, r.ID))
		w.delPrefix(keyOf(kindTarget, r.ID) + "/")
		w.delPrefix(healthPrefix(r.ID))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteTargetGroupOutput{}, nil
}

func tgAttributeList(m map[string]string) []elbv2api.TargetGroupAttribute {
	out := []elbv2api.TargetGroupAttribute{}
	for _, at := range attributeList(m) {
		out = append(out, elbv2api.TargetGroupAttribute(at))
	}
	return out
}

// DescribeTargetGroupAttributes answers a target group's attributes.
func (a *API) DescribeTargetGroupAttributes(ctx context.Context, in *elbv2api.DescribeTargetGroupAttributesInput) (*elbv2api.DescribeTargetGroupAttributesOutput, error) {
	if err := checkARN("target group", in.TargetGroupArn); err != nil {
		return nil, err
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	r := w.tgByARN(in.TargetGroupArn)
	if r == nil {
		return nil, errf(codeTargetGroupNotFound, "Target groups '%s' not found", in.TargetGroupArn)
	}
	return &elbv2api.DescribeTargetGroupAttributesOutput{Attributes: tgAttributeList(r.Attributes)}, nil
}

// ModifyTargetGroupAttributes changes attributes of a target group and
// answers all of them.
func (a *API) ModifyTargetGroupAttributes(ctx context.Context, in *elbv2api.ModifyTargetGroupAttributesInput) (*elbv2api.ModifyTargetGroupAttributesOutput, error) {
	if err := checkARN("target group", in.TargetGroupArn); err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, validation("At least one attribute must be specified")
	}
	var attrs map[string]string
	_, err := a.update(ctx, func(w *world) error {
		r := w.tgByARN(in.TargetGroupArn)
		if r == nil {
			return errf(codeTargetGroupNotFound, "Target groups '%s' not found", in.TargetGroupArn)
		}
		for _, at := range in.Attributes {
			if err := checkTGAttribute(string(r.TG.Protocol), string(r.TG.TargetType), at.Key, at.Value); err != nil {
				return err
			}
			r.Attributes[at.Key] = at.Value
		}
		w.put(keyOf(kindTG, r.ID), r)
		attrs = r.Attributes
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyTargetGroupAttributesOutput{Attributes: tgAttributeList(attrs)}, nil
}

// serviceUsing returns the ARN of an ECS service (not INACTIVE) whose
// loadBalancers name target group arn, or "".
func (a *API) serviceUsing(ctx context.Context, arn string) (string, error) {
	items, err := a.Store.List(ctx, record.PrefixOf("services"), "", 0)
	if err != nil {
		return "", fmt.Errorf("list services: %w", err)
	}
	for _, it := range items {
		var svc ecsapi.Service
		if err := it.Decode(&svc); err != nil || svc.Status == "INACTIVE" {
			continue
		}
		for _, lb := range svc.LoadBalancers {
			if lb.TargetGroupArn == arn {
				return svc.ServiceArn, nil
			}
		}
		// A task set's target groups (EXTERNAL controller) are the
		// service's too.
		for _, ts := range svc.TaskSets {
			for _, lb := range ts.LoadBalancers {
				if lb.TargetGroupArn == arn {
					return svc.ServiceArn, nil
				}
			}
		}
	}
	return "", nil
}
