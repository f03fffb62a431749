package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// maxServiceLoadBalancers is how many target groups a service may name.
const maxServiceLoadBalancers = 5

// TargetGroupInfo is what CreateService checks of a target group that a
// service's loadBalancers name.
type TargetGroupInfo struct {
	// TargetType is instance or ip (alb and lambda are refused).
	TargetType string
	// LoadBalancerArns are the load balancers whose listeners or rules
	// forward to it.
	LoadBalancerArns []string
}

// ErrTargetGroupNotFound is what a TargetGroups lookup returns for an ARN
// that names no target group.
var ErrTargetGroupNotFound = errors.New("target group not found")

// TargetGroups looks up the target groups of Elastic Load Balancing, for
// the validation of a service's loadBalancers. The application provides it
// (over internal/elb) so that ecs imports no other service's operations.
type TargetGroups interface {
	// TargetGroup returns what a service needs to know of the target group
	// of arn, or ErrTargetGroupNotFound.
	TargetGroup(ctx context.Context, arn string) (TargetGroupInfo, error)
}

// checkLoadBalancers validates a service's loadBalancers against its task
// definition and the target groups, as ECS does: each names a target group
// that exists and is associated with a load balancer, of the target type
// the task definition's network mode needs (ip for awsvpc, instance for
// bridge and host), and a container of the task definition with that
// container port; at most five; no Classic Load Balancer names. Their
// advancedConfiguration is checked with the deployment strategy
// (checkAdvancedConfiguration).
func (s *API) checkLoadBalancers(ctx context.Context, lbs []ecsapi.LoadBalancer, td *ecsapi.TaskDefinition, role string) error {
	if len(lbs) == 0 {
		if role != "" {
			return apierror.InvalidParameter("You cannot specify an IAM role for services that do not use a load balancer.")
		}
		return nil
	}
	if len(lbs) > maxServiceLoadBalancers {
		return apierror.InvalidParameter("loadBalancers can have at most %d items.", maxServiceLoadBalancers)
	}
	if s.TargetGroups == nil {
		return apierror.UnsupportedFeature("Load balancers are not available: this server runs without Elastic Load Balancing.")
	}
	seen := map[string]bool{}
	for _, lb := range lbs {
		switch {
		case lb.LoadBalancerName != "":
			return apierror.InvalidParameter("Classic Load Balancers are not supported by Gantry: give a targetGroupArn instead of loadBalancerName %s.", lb.LoadBalancerName)
		case lb.TargetGroupArn == "":
			return apierror.InvalidParameter("targetGroupArn must be specified for each load balancer.")
		case lb.ContainerName == "":
			return apierror.InvalidParameter("containerName must be specified for each load balancer.")
		case lb.ContainerPort == nil:
			return apierror.InvalidParameter("containerPort must be specified for each load balancer.")
		}
		key := lb.TargetGroupArn + "|" + lb.ContainerName + "|" + fmt.Sprint(*lb.ContainerPort)
		if seen[key] {
			return apierror.InvalidParameter("The load balancer configuration for target group %s, container %s and port %d is given twice.", lb.TargetGroupArn, lb.ContainerName, *lb.ContainerPort)
		}
		seen[key] = true
		if !strings.HasPrefix(lb.TargetGroupArn, "arn:") || !strings.Contains(lb.TargetGroupArn, ":targetgroup/") {
			return apierror.InvalidParameter("Invalid target group ARN: %s.", lb.TargetGroupArn)
		}
		tg, err := s.TargetGroups.TargetGroup(ctx, lb.TargetGroupArn)
		if errors.Is(err, ErrTargetGroupNotFound) {
			return apierror.InvalidParameter("Unable to find target group %s.", lb.TargetGroupArn)
		}
		if err != nil {
			return fmt.Errorf("target group %s: %w", lb.TargetGroupArn, err)
		}
		if len(tg.LoadBalancerArns) == 0 {
			return apierror.InvalidParameter("The target group with targetGroupArn %s does not have an associated load balancer.", lb.TargetGroupArn)
		}
		mode := td.NetworkMode
		if mode == "" {
			mode = "bridge"
		}
		want := "instance"
		if mode == "awsvpc" {
			want = "ip"
		}
		if tg.TargetType != want {
			return apierror.InvalidParameter("The provided target group %s has target type %s, which is incompatible with the %s network mode specified in the task definition.", lb.TargetGroupArn, tg.TargetType, mode)
		}
		if err := checkLBContainer(td, lb.ContainerName, *lb.ContainerPort); err != nil {
			return err
		}
	}
	return nil
}

// checkLBContainer checks that the task definition has the container and
// that it maps the container port.
func checkLBContainer(td *ecsapi.TaskDefinition, name string, port int32) error {
	for _, c := range td.ContainerDefinitions {
		if c.Name != name {
			continue
		}
		for _, pm := range c.PortMappings {
			if pm.ContainerPort != nil && *pm.ContainerPort == port && (pm.Protocol == "" || pm.Protocol == "tcp") {
				return nil
			}
		}
		return apierror.InvalidParameter("The container %s did not have a container port %d defined.", name, port)
	}
	return apierror.InvalidParameter("The container %s does not exist in the task definition.", name)
}

// sameLoadBalancers reports whether two loadBalancers lists are the same,
// also when a blue/green deployment has since swapped the production and
// alternate target groups of a (the service controller does so when the
// green revision becomes production).
func sameLoadBalancers(a, b []ecsapi.LoadBalancer) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	if string(x) == string(y) {
		return true
	}
	swapped := make([]ecsapi.LoadBalancer, len(a))
	for i, lb := range a {
		swapped[i] = lb
		if ac := lb.AdvancedConfiguration; ac != nil {
			c := *ac
			swapped[i].TargetGroupArn, c.AlternateTargetGroupArn = ac.AlternateTargetGroupArn, lb.TargetGroupArn
			swapped[i].AdvancedConfiguration = &c
		}
	}
	z, _ := json.Marshal(swapped)
	return string(z) == string(y)
}

// behindLoadBalancer reports whether a task of group, started by
// startedBy, belongs to a service with loadBalancers, or to a task set
// with loadBalancers: stopping it then deregisters its targets first.
func (s *API) behindLoadBalancer(ctx context.Context, cluster, group, startedBy string) (bool, error) {
	name, ok := strings.CutPrefix(group, "service:")
	if !ok {
		return false, nil
	}
	var svc ecsapi.Service
	if _, err := s.Store.Get(ctx, serviceKey(cluster, name), &svc); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("read service %s: %w", name, err)
	}
	if svc.Status == ServiceInactive {
		return false, nil
	}
	for i := range svc.TaskSets {
		if ts := &svc.TaskSets[i]; ts.Id == startedBy && len(ts.LoadBalancers) > 0 {
			return true, nil
		}
	}
	return len(svc.LoadBalancers) > 0, nil
}

// FinishDeactivation ends the deactivation of a task (its targets are
// deregistered and drained): its agent is told it is STOPPED and sends
// its containers SIGTERM. A task that is not deactivating is left alone;
// store.ErrNotFound if there is no such task.
func (s *API) FinishDeactivation(ctx context.Context, cluster, taskArn string) error {
	id, err := s.taskRef(cluster, taskArn)
	if err != nil {
		return err
	}
	key := taskKey(cluster, id)
	for attempt := 0; attempt < 50; attempt++ {
		var rec taskRecord
		rev, err := s.Store.Get(ctx, key, &rec)
		if err != nil {
			return err
		}
		if !rec.Deactivating {
			return nil
		}
		rec.Deactivating = false
		rec.Task.Version++
		b, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		resp, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, rev)}, store.OpPut(key, b))
		if err != nil {
			return fmt.Errorf("finish deactivation of %s: %w", id, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("finish deactivation of %s: %w", id, store.ErrConflict)
}

// changeLoadBalancers validates a service's new loadBalancers against the
// task definition it will run (td, or its current one) and puts them on
// svc, as ECS does for services with the ROLLING strategy: the new
// deployment this asks for (true) registers its tasks in the new target
// groups, while the old deployments' tasks stay in the old ones until they
// stop (the service controller reads them from the deployments'
// revisions). A service that shifts traffic between target group pairs
// keeps its load balancers.
func (s *API) changeLoadBalancers(ctx context.Context, svc *ecsapi.Service, lbs []ecsapi.LoadBalancer, td *ecsapi.TaskDefinition, dc *ecsapi.DeploymentConfiguration) (bool, error) {
	if shiftsTraffic(dc.Strategy) || (svc.DeploymentConfiguration != nil && shiftsTraffic(svc.DeploymentConfiguration.Strategy)) {
		return false, apierror.UnsupportedFeature("Changing the load balancers of a service with the %s deployment strategy is not supported by Gantry: create a new service.", dc.Strategy)
	}
	if isExternal(svc) {
		return false, apierror.InvalidParameter("loadBalancers cannot be updated for services using the EXTERNAL deployment controller: create a new task set instead.")
	}
	if td == nil {
		var err error
		if td, err = s.taskDefForRun(ctx, svc.TaskDefinition); err != nil {
			return false, err
		}
	}
	if err := s.checkLoadBalancers(ctx, lbs, td, ""); err != nil {
		return false, err
	}
	svc.LoadBalancers = append([]ecsapi.LoadBalancer{}, lbs...)
	return true, nil
}

// DeploymentLoadBalancers returns the loadBalancers of the revision of
// deployment id of a service: those its tasks were registered with.
// store.ErrNotFound if the deployment has no record.
func (s *API) DeploymentLoadBalancers(ctx context.Context, cluster, service, id string) ([]ecsapi.LoadBalancer, error) {
	var r serviceDeploymentRecord
	if _, err := s.Store.Get(ctx, serviceDeploymentKey(cluster, service, deploymentNumber(id)), &r); err != nil {
		return nil, err
	}
	return r.Revision.LoadBalancers, nil
}
