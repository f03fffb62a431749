package elb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/record"
)

// hexID is 17 hex digits derived from parts: the form of today's EC2 IDs.
func hexID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])[:17]
}

// VPCID is the ID of the default VPC of account in region: the only VPC
// Gantry has.
func VPCID(region, account string) string { return "vpc-" + hexID("vpc", region, account) }

// SubnetID is the ID of the default VPC's subnet in availability zone az.
func SubnetID(region, account, az string) string {
	return "subnet-" + hexID("subnet", region, account, az)
}

// DefaultSecurityGroupID is the ID of the default VPC's default security
// group.
func DefaultSecurityGroupID(region, account string) string {
	return "sg-" + hexID("sg", region, account)
}

var (
	subnetIDRE = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	sgIDRE     = regexp.MustCompile(`^sg-[0-9a-f]{8}([0-9a-f]{9})?$`)
	vpcIDRE    = regexp.MustCompile(`^vpc-[0-9a-f]{8}([0-9a-f]{9})?$`)
)

// subnet is a subnet of the default VPC.
type subnet struct{ ID, Zone string }

// subnets returns the default VPC's subnets: one per zone of REGION+a..c
// and of the zones the container instances report, in zone order.
func (a *API) subnets(ctx context.Context) ([]subnet, error) {
	zones := []string{a.Region + "a", a.Region + "b", a.Region + "c"}
	p := record.PrefixOf("instances")
	items, err := a.Store.List(ctx, p, "", 0)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		var rec record.Instance
		if err := it.Decode(&rec); err != nil {
			continue
		}
		for _, at := range rec.Instance.Attributes {
			if at.Name == "ecs.availability-zone" && at.Value != "" && !slices.Contains(zones, at.Value) {
				zones = append(zones, at.Value)
			}
		}
	}
	slices.Sort(zones)
	out := make([]subnet, len(zones))
	for i, z := range zones {
		out[i] = subnet{ID: SubnetID(a.Region, a.Account, z), Zone: z}
	}
	return out, nil
}

// placement resolves the Subnets / SubnetMappings of CreateLoadBalancer
// and SetSubnets into availability zones, applying AWS's rules: known
// subnets, one per zone, two zones at least for an application load
// balancer. Neither given picks every subnet of the default VPC.
func (a *API) placement(ctx context.Context, typ string, ids []string, mappings []elbv2api.SubnetMapping) ([]elbv2api.AvailabilityZone, error) {
	if len(ids) > 0 && len(mappings) > 0 {
		return nil, validation("You can specify subnets or subnet mappings, but not both")
	}
	for _, m := range mappings {
		if m.SubnetId == "" {
			return nil, validation("A subnet ID must be specified in each subnet mapping")
		}
		if m.AllocationId != "" && typ != "network" {
			return nil, errf(codeInvalidConfiguration, "Elastic IP addresses can only be specified for Network Load Balancers")
		}
		ids = append(ids, m.SubnetId)
	}
	all, err := a.subnets(ctx)
	if err != nil {
		return nil, err
	}
	var chosen []subnet
	if len(ids) == 0 {
		chosen = all
	} else {
		zones := map[string]bool{}
		for _, id := range ids {
			if !subnetIDRE.MatchString(id) {
				return nil, validation("The subnet ID '%s' is not valid", id)
			}
			i := slices.IndexFunc(all, func(s subnet) bool { return s.ID == id })
			if i < 0 {
				return nil, errf(codeSubnetNotFound, "The subnet ID '%s' is not valid", id)
			}
			if zones[all[i].Zone] {
				return nil, errf(codeInvalidConfiguration, "A load balancer cannot be attached to multiple subnets in the same Availability Zone")
			}
			zones[all[i].Zone] = true
			chosen = append(chosen, all[i])
		}
	}
	if typ == "application" && len(chosen) < 2 {
		return nil, validation("At least two subnets in two different Availability Zones must be specified")
	}
	slices.SortFunc(chosen, func(x, y subnet) int { return strings.Compare(x.Zone, y.Zone) })
	out := make([]elbv2api.AvailabilityZone, len(chosen))
	for i, s := range chosen {
		out[i] = elbv2api.AvailabilityZone{ZoneName: s.Zone, SubnetId: s.ID, LoadBalancerAddresses: []elbv2api.LoadBalancerAddress{}}
		if typ == "network" {
			out[i].LoadBalancerAddresses = []elbv2api.LoadBalancerAddress{{IpAddress: a.address()}}
		}
	}
	return out, nil
}

// securityGroups checks security group IDs; an application load balancer
// without any gets the default VPC's default group.
func (a *API) securityGroups(typ string, ids []string) ([]string, error) {
	if typ == "gateway" && len(ids) > 0 {
		return nil, validation("Security groups are not supported for load balancers with type 'gateway'")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !sgIDRE.MatchString(id) {
			return nil, errf(codeInvalidSecurityGroup, "Invalid security group '%s'", id)
		}
		if seen[id] {
			return nil, validation("Duplicate security group '%s'", id)
		}
		seen[id] = true
	}
	if len(ids) > 5 {
		return nil, validation("A load balancer can have at most 5 security groups")
	}
	if len(ids) == 0 && typ == "application" {
		return []string{DefaultSecurityGroupID(a.Region, a.Account)}, nil
	}
	return ids, nil
}

// checkVPC checks a VpcId member: the default VPC, or empty.
func (a *API) checkVPC(id string) error {
	if id == "" || id == VPCID(a.Region, a.Account) {
		return nil
	}
	if !vpcIDRE.MatchString(id) {
		return validation("The VPC ID '%s' is not valid", id)
	}
	return validation("The VPC ID '%s' is not found; Gantry has one VPC: %s", id, VPCID(a.Region, a.Account))
}

// instance is a container instance as a target resolves it.
type instance struct {
	Zone string
	Host string
}

// instances returns the container instances by ec2InstanceId and by
// container instance ID.
func (a *API) instances(ctx context.Context) (map[string]instance, error) {
	items, err := a.Store.List(ctx, record.PrefixOf("instances"), "", 0)
	if err != nil {
		return nil, fmt.Errorf("list container instances: %w", err)
	}
	out := map[string]instance{}
	for _, it := range items {
		var rec record.Instance
		if err := it.Decode(&rec); err != nil {
			continue
		}
		ci := rec.Instance
		if ci.Status == record.InstanceInactive {
			continue
		}
		in := instance{Host: a.instanceHost()}
		for _, at := range ci.Attributes {
			switch at.Name {
			case "ecs.availability-zone":
				in.Zone = at.Value
			case "gantry.host-address":
				if at.Value != "" {
					in.Host = at.Value
				}
			}
		}
		out[record.IDOf(ci.ContainerInstanceArn)] = in
		if ci.Ec2InstanceId != "" {
			out[ci.Ec2InstanceId] = in
		}
	}
	return out, nil
}
