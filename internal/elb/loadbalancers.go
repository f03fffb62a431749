package elb

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/elbv2api"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// checkLBName applies AWS's rules to a load balancer name.
func checkLBName(name string) error {
	switch {
	case name == "":
		return validation("A load balancer name must be specified")
	case len(name) > 32:
		return validation("Load balancer name '%s' cannot be longer than '32' characters", name)
	case !nameRE.MatchString(name):
		return validation("Load balancer name '%s' can only contain characters that are alphanumeric characters or hyphens(-)", name)
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return validation("Load balancer name '%s' cannot begin or end with '-' character", name)
	case strings.HasPrefix(name, "internal-"):
		return validation("Load balancer name '%s' cannot begin with 'internal-'", name)
	}
	return nil
}

func enumError(member, value string, values []string) error {
	return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
		value, member, strings.Join(values, ", "))
}

// defaultLBAttributes are a new load balancer's attributes, as AWS
// answers DescribeLoadBalancerAttributes for one.
func defaultLBAttributes(typ string) map[string]string {
	common := map[string]string{
		"deletion_protection.enabled": "false",
		"access_logs.s3.enabled":      "false",
		"access_logs.s3.bucket":       "",
		"access_logs.s3.prefix":       "",
		"ipv6.deny_all_igw_traffic":   "false",
	}
	if typ == "network" {
		common["load_balancing.cross_zone.enabled"] = "false"
		common["dns_record.client_routing_policy"] = "any_availability_zone"
		common["secondary_ips.auto_assigned.per_subnet"] = "0"
		return common
	}
	for k, v := range map[string]string{
		"idle_timeout.timeout_seconds":                             "60",
		"routing.http2.enabled":                                    "true",
		"routing.http.drop_invalid_header_fields.enabled":          "false",
		"routing.http.desync_mitigation_mode":                      "defensive",
		"routing.http.preserve_host_header.enabled":                "false",
		"routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
		"routing.http.xff_client_port.enabled":                     "false",
		"routing.http.xff_header_processing.mode":                  "append",
		"waf.fail_open.enabled":                                    "false",
		"client_keep_alive.seconds":                                "3600",
		"connection_logs.s3.enabled":                               "false",
		"connection_logs.s3.bucket":                                "",
		"connection_logs.s3.prefix":                                "",
		"load_balancing.cross_zone.enabled":                        "true",
		"zonal_shift.config.enabled":                               "false",
	} {
		common[k] = v
	}
	return common
}

// checkLBAttribute validates one attribute of a load balancer of typ.
func checkLBAttribute(typ, key, value string) error {
	if _, ok := defaultLBAttributes(typ)[key]; !ok {
		return validation("Load balancer attribute key '%s' is not recognized", key)
	}
	bad := func() error {
		return validation("Load balancer attribute value '%s' is not valid for key '%s'", value, key)
	}
	switch {
	case strings.HasSuffix(key, ".enabled"):
		if value != "true" && value != "false" {
			return bad()
		}
		if (key == "access_logs.s3.enabled" || key == "connection_logs.s3.enabled" || key == "health_check_logs.s3.enabled") && value == "true" {
			return errf(codeInvalidConfiguration, "Gantry cannot write access or connection logs to Amazon S3")
		}
	case key == "idle_timeout.timeout_seconds":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > 4000 {
			return validation("Idle timeout must be between 1 and 4000 seconds: '%s'", value)
		}
	case key == "secondary_ips.auto_assigned.per_subnet":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 7 {
			return bad()
		}
	case key == "client_keep_alive.seconds":
		n, err := strconv.Atoi(value)
		if err != nil || n < 60 || n > 604800 {
			return bad()
		}
	case key == "routing.http.desync_mitigation_mode":
		if !slices.Contains([]string{"monitor", "defensive", "strictest"}, value) {
			return bad()
		}
	case key == "routing.http.xff_header_processing.mode":
		if !slices.Contains([]string{"append", "preserve", "remove"}, value) {
			return bad()
		}
	case key == "dns_record.client_routing_policy":
		if !slices.Contains([]string{"availability_zone_affinity", "partial_availability_zone_affinity", "any_availability_zone"}, value) {
			return bad()
		}
	}
	return nil
}

// CreateLoadBalancer creates an application or network load balancer. A
// name already in use with the same type and scheme answers that load
// balancer, as AWS does; with other settings DuplicateLoadBalancerName.
func (a *API) CreateLoadBalancer(ctx context.Context, in *elbv2api.CreateLoadBalancerInput) (*elbv2api.CreateLoadBalancerOutput, error) {
	if err := checkLBName(in.Name); err != nil {
		return nil, err
	}
	typ := string(in.Type)
	switch typ {
	case "":
		typ = "application"
	case "application", "network":
	case "gateway":
		return nil, errf(codeInvalidConfiguration, "Gantry does not serve Gateway Load Balancers")
	default:
		return nil, enumError("type", typ, []string{"application", "network", "gateway"})
	}
	scheme := string(in.Scheme)
	switch scheme {
	case "":
		scheme = "internet-facing"
	case "internet-facing", "internal":
	default:
		return nil, enumError("scheme", scheme, []string{"internet-facing", "internal"})
	}
	ipType := string(in.IpAddressType)
	switch ipType {
	case "":
		ipType = "ipv4"
	case "ipv4", "dualstack":
	case "dualstack-without-public-ipv4":
		if typ != "application" || scheme != "internet-facing" {
			return nil, errf(codeInvalidConfiguration, "IP address type 'dualstack-without-public-ipv4' is only for internet-facing Application Load Balancers")
		}
	default:
		return nil, enumError("ipAddressType", ipType, []string{"ipv4", "dualstack", "dualstack-without-public-ipv4"})
	}
	if in.CustomerOwnedIpv4Pool != "" {
		return nil, errf(codeInvalidConfiguration, "Customer-owned IP address pools need AWS Outposts")
	}
	if err := checkTags(in.Tags, true); err != nil {
		return nil, err
	}
	azs, err := a.placement(ctx, typ, in.Subnets, in.SubnetMappings)
	if err != nil {
		return nil, err
	}
	sgs, err := a.securityGroups(typ, in.SecurityGroups)
	if err != nil {
		return nil, err
	}
	now := a.now()
	var out elbv2api.LoadBalancer
	_, err = a.update(ctx, func(w *world) error {
		for _, r := range w.lbs {
			if r.LB.LoadBalancerName != in.Name {
				continue
			}
			if string(r.LB.Type) == typ && string(r.LB.Scheme) == scheme {
				out = r.LB
				return nil
			}
			return errf(codeDuplicateLoadBalancer, "A load balancer with the same name '%s' exists, but with different settings", in.Name)
		}
		if len(w.lbs) >= maxLoadBalancers {
			return errf(codeTooManyLoadBalancers, "The maximum number of load balancers has been reached: %d", maxLoadBalancers)
		}
		id := newID()
		r := &lbRecord{ID: id, Attributes: defaultLBAttributes(typ), Tags: tagsCopy(in.Tags), Created: now.UnixNano()}
		r.LB = elbv2api.LoadBalancer{
			LoadBalancerArn:       a.lbARN(typ, in.Name, id),
			DNSName:               a.address(),
			CanonicalHostedZoneId: "Z" + strings.ToUpper(hexID("zone", a.Region))[:13],
			CreatedTime:           timestampMilli(now.UnixMilli()),
			LoadBalancerName:      in.Name,
			Scheme:                elbv2api.LoadBalancerSchemeEnum(scheme),
			VpcId:                 VPCID(a.Region, a.Account),
			State:                 &elbv2api.LoadBalancerState{Code: "active"},
			Type:                  elbv2api.LoadBalancerTypeEnum(typ),
			AvailabilityZones:     azs,
			SecurityGroups:        sgs,
			IpAddressType:         elbv2api.IpAddressType(ipType),
		}
		if typ == "network" && len(sgs) > 0 {
			r.LB.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic = "on"
		}
		w.put(keyOf(kindLB, id), r)
		out = r.LB
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateLoadBalancerOutput{LoadBalancers: []elbv2api.LoadBalancer{out}}, nil
}

// DescribeLoadBalancers lists load balancers: all (in creation order, by
// pages), or those named by ARN or by name.
func (a *API) DescribeLoadBalancers(ctx context.Context, in *elbv2api.DescribeLoadBalancersInput) (*elbv2api.DescribeLoadBalancersOutput, error) {
	if len(in.LoadBalancerArns) > 0 && len(in.Names) > 0 {
		return nil, validation("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	if len(in.LoadBalancerArns) > 20 {
		return nil, validation("A maximum of 20 load balancer ARNs can be specified")
	}
	if len(in.Names) > 20 {
		return nil, validation("A maximum of 20 load balancer names can be specified")
	}
	for _, arn := range in.LoadBalancerArns {
		if err := checkARN("load balancer", arn); err != nil {
			return nil, err
		}
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	var list []*lbRecord
	switch {
	case len(in.LoadBalancerArns) > 0:
		for _, arn := range in.LoadBalancerArns {
			r := w.lbByARN(arn)
			if r == nil {
				return nil, errf(codeLoadBalancerNotFound, "One or more load balancers not found")
			}
			if !slices.Contains(list, r) {
				list = append(list, r)
			}
		}
	case len(in.Names) > 0:
		var missing []string
		for _, n := range in.Names {
			i := slices.IndexFunc(w.lbList(), func(r *lbRecord) bool { return r.LB.LoadBalancerName == n })
			if i < 0 {
				missing = append(missing, n)
				continue
			}
			if r := w.lbList()[i]; !slices.Contains(list, r) {
				list = append(list, r)
			}
		}
		if len(missing) > 0 {
			return nil, errf(codeLoadBalancerNotFound, "Load balancers '[%s]' not found", strings.Join(missing, ", "))
		}
	default:
		list = w.lbList()
	}
	pg, next, err := page(list, func(r *lbRecord) string { return sortKey(r.Created, r.ID) }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2api.DescribeLoadBalancersOutput{LoadBalancers: []elbv2api.LoadBalancer{}, NextMarker: next}
	for _, r := range pg {
		out.LoadBalancers = append(out.LoadBalancers, r.LB)
	}
	return out, nil
}

// DeleteLoadBalancer deletes a load balancer with its listeners and rules
// (its target groups and their targets stay). An unknown load balancer is
// no error, as AWS answers; deletion protection refuses it.
func (a *API) DeleteLoadBalancer(ctx context.Context, in *elbv2api.DeleteLoadBalancerInput) (*elbv2api.DeleteLoadBalancerOutput, error) {
	if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
		return nil, err
	}
	_, err := a.update(ctx, func(w *world) error {
		r := w.lbByARN(in.LoadBalancerArn)
		if r == nil {
			return nil
		}
		if r.Attributes["deletion_protection.enabled"] == "true" {
			return errf(codeOperationNotPermitted, "Load balancer '%s' cannot be deleted because deletion protection is enabled", in.LoadBalancerArn)
		}
		for _, l := range w.listenersOf(r.ID) {
			w.deleteListener(l)
		}
		w.del(keyOf(kindLB, r.ID))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteLoadBalancerOutput{}, nil
}

// deleteListener records the deletion of a listener and its rules (one
// operation for all the rules, so that deleting a load balancer stays
// within an external etcd's default of 128 operations a transaction).
func (w *world) deleteListener(l *listenerRecord) {
	for _, r := range w.rulesOf(l.ID) {
		delete(w.rules, r.ID)
	}
	w.delPrefix(keyOf(kindRule, l.ID) + "/")
	w.del(keyOf(kindListener, l.ID))
	delete(w.listeners, l.ID)
}

func attributeList(m map[string]string) []elbv2api.LoadBalancerAttribute {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]elbv2api.LoadBalancerAttribute, len(keys))
	for i, k := range keys {
		out[i] = elbv2api.LoadBalancerAttribute{Key: k, Value: m[k]}
	}
	return out
}

// DescribeLoadBalancerAttributes answers a load balancer's attributes.
func (a *API) DescribeLoadBalancerAttributes(ctx context.Context, in *elbv2api.DescribeLoadBalancerAttributesInput) (*elbv2api.DescribeLoadBalancerAttributesOutput, error) {
	if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
		return nil, err
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	r := w.lbByARN(in.LoadBalancerArn)
	if r == nil {
		return nil, errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
	}
	return &elbv2api.DescribeLoadBalancerAttributesOutput{Attributes: attributeList(r.Attributes)}, nil
}

// ModifyLoadBalancerAttributes changes attributes of a load balancer and
// answers all of them.
func (a *API) ModifyLoadBalancerAttributes(ctx context.Context, in *elbv2api.ModifyLoadBalancerAttributesInput) (*elbv2api.ModifyLoadBalancerAttributesOutput, error) {
	if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, validation("At least one attribute must be specified")
	}
	if len(in.Attributes) > 20 {
		return nil, validation("A maximum of 20 attributes can be modified at once")
	}
	var attrs map[string]string
	_, err := a.update(ctx, func(w *world) error {
		r := w.lbByARN(in.LoadBalancerArn)
		if r == nil {
			return errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
		}
		for _, at := range in.Attributes {
			if err := checkLBAttribute(string(r.LB.Type), at.Key, at.Value); err != nil {
				return err
			}
			r.Attributes[at.Key] = at.Value
		}
		w.put(keyOf(kindLB, r.ID), r)
		attrs = r.Attributes
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyLoadBalancerAttributesOutput{Attributes: attributeList(attrs)}, nil
}

// SetSecurityGroups replaces the security groups of a load balancer.
func (a *API) SetSecurityGroups(ctx context.Context, in *elbv2api.SetSecurityGroupsInput) (*elbv2api.SetSecurityGroupsOutput, error) {
	if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
		return nil, err
	}
	var out elbv2api.SetSecurityGroupsOutput
	_, err := a.update(ctx, func(w *world) error {
		r := w.lbByARN(in.LoadBalancerArn)
		if r == nil {
			return errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
		}
		typ := string(r.LB.Type)
		if typ == "application" && len(in.SecurityGroups) == 0 {
			return validation("An Application Load Balancer must have at least one security group")
		}
		if typ == "network" && len(r.LB.SecurityGroups) == 0 && len(in.SecurityGroups) > 0 {
			return errf(codeInvalidConfiguration, "You cannot add security groups to a Network Load Balancer that was created without any")
		}
		sgs, err := a.securityGroups(typ, in.SecurityGroups)
		if err != nil {
			return err
		}
		r.LB.SecurityGroups = sgs
		w.put(keyOf(kindLB, r.ID), r)
		out.SecurityGroupIds = append([]string{}, sgs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetSubnets replaces the availability zones of a load balancer.
func (a *API) SetSubnets(ctx context.Context, in *elbv2api.SetSubnetsInput) (*elbv2api.SetSubnetsOutput, error) {
	if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
		return nil, err
	}
	if len(in.Subnets) == 0 && len(in.SubnetMappings) == 0 {
		return nil, validation("At least one subnet must be specified")
	}
	w0, err := a.load(ctx)
	if err != nil {
		return nil, err
	}
	r0 := w0.lbByARN(in.LoadBalancerArn)
	if r0 == nil {
		return nil, errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
	}
	azs, err := a.placement(ctx, string(r0.LB.Type), in.Subnets, in.SubnetMappings)
	if err != nil {
		return nil, err
	}
	var out elbv2api.SetSubnetsOutput
	_, err = a.update(ctx, func(w *world) error {
		r := w.lbByARN(in.LoadBalancerArn)
		if r == nil {
			return errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
		}
		r.LB.AvailabilityZones = azs
		w.put(keyOf(kindLB, r.ID), r)
		out = elbv2api.SetSubnetsOutput{AvailabilityZones: azs, IpAddressType: r.LB.IpAddressType}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetIpAddressType changes the IP address type of a load balancer.
func (a *API) SetIpAddressType(ctx context.Context, in *elbv2api.SetIpAddressTypeInput) (*elbv2api.SetIpAddressTypeOutput, error) {
	if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
		return nil, err
	}
	switch in.IpAddressType {
	case "ipv4", "dualstack", "dualstack-without-public-ipv4":
	default:
		return nil, enumError("ipAddressType", string(in.IpAddressType), []string{"ipv4", "dualstack", "dualstack-without-public-ipv4"})
	}
	_, err := a.update(ctx, func(w *world) error {
		r := w.lbByARN(in.LoadBalancerArn)
		if r == nil {
			return errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
		}
		if in.IpAddressType == "dualstack-without-public-ipv4" && (r.LB.Type != "application" || r.LB.Scheme != "internet-facing") {
			return errf(codeInvalidConfiguration, "IP address type 'dualstack-without-public-ipv4' is only for internet-facing Application Load Balancers")
		}
		r.LB.IpAddressType = in.IpAddressType
		w.put(keyOf(kindLB, r.ID), r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.SetIpAddressTypeOutput{IpAddressType: in.IpAddressType}, nil
}

// DescribeAccountLimits answers the quotas Gantry applies.
func (a *API) DescribeAccountLimits(ctx context.Context, in *elbv2api.DescribeAccountLimitsInput) (*elbv2api.DescribeAccountLimitsOutput, error) {
	limits := []elbv2api.Limit{
		{Name: "application-load-balancers", Max: fmt.Sprint(maxLoadBalancers)},
		{Name: "network-load-balancers", Max: fmt.Sprint(maxLoadBalancers)},
		{Name: "target-groups", Max: fmt.Sprint(maxTargetGroups)},
		{Name: "listeners-per-application-load-balancer", Max: fmt.Sprint(maxListenersPerLB)},
		{Name: "listeners-per-network-load-balancer", Max: fmt.Sprint(maxListenersPerLB)},
		{Name: "rules-per-application-load-balancer", Max: fmt.Sprint(maxRulesPerALB)},
		{Name: "targets-per-application-load-balancer", Max: fmt.Sprint(maxTargetsPerALB)},
		{Name: "targets-per-target-group", Max: fmt.Sprint(maxTargetsPerTG)},
		{Name: "target-groups-per-application-load-balancer", Max: fmt.Sprint(maxUniqueTGsPerALB)},
		{Name: "target-groups-per-action-on-application-load-balancer", Max: fmt.Sprint(maxTGsPerAction)},
	}
	if in.PageSize != nil && (*in.PageSize < 1 || *in.PageSize > maxPageSize) {
		return nil, validation("1 validation error detected: Value '%d' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 400", *in.PageSize)
	}
	return &elbv2api.DescribeAccountLimitsOutput{Limits: limits}, nil
}
