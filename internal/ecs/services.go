package ecs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/cql"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// The service operations store the desired state of a service (its
// definition and deployments) as an ecsapi.Service at serviceKey. The
// service controller (package controller/service) reads it, starts and
// stops tasks through RunTask and StopTask, and writes back the observed
// counts, the deployments' progress and the events, through the exported
// helpers at the end of this file.

// MaxServiceEvents is how many events a service keeps, newest first.
const MaxServiceEvents = 100

// newDeploymentID returns an ECS-style deployment ID: ecs-svc/ and 19
// digits. Tasks of the deployment are started by this ID.
func newDeploymentID() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(8e18))
	return fmt.Sprintf("ecs-svc/%d", n.Int64()+1e18)
}

// ServiceRef names a service: its cluster and name. An empty Name stands
// for every service of the cluster.
type ServiceRef struct {
	Cluster, Name string
}

// String is cluster/name.
func (r ServiceRef) String() string { return r.Cluster + "/" + r.Name }

// serviceRef resolves a service given by name or ARN in cluster.
func (s *API) serviceRef(cluster, ref string) (string, error) {
	if strings.HasPrefix(ref, "arn:") {
		a, ok := ParseARN(ref)
		if !ok || a.Type != "service" {
			return "", apierror.InvalidParameter("Invalid identifier: Identifier is for %s. Your identifier should be a valid service name or ARN.", ref)
		}
		parts := strings.Split(a.Path, "/")
		if len(parts) == 2 && parts[0] != cluster {
			return "", apierror.InvalidParameter("Service %s does not belong to cluster %s.", ref, cluster)
		}
		return parts[len(parts)-1], nil
	}
	if !serviceNameRE.MatchString(ref) {
		return "", apierror.InvalidParameter("Invalid identifier: Unexpected format for service: %s.", ref)
	}
	return ref, nil
}

// serviceTokenKey keeps the clientToken of the CreateService call that
// created a service, so that a retry of that call succeeds.
func serviceTokenKey(cluster, name string) string { return store.Key("servicetokens", cluster, name) }

// newDeployment is a new PRIMARY deployment of svc's current definition.
func (s *API) newDeployment(svc *ecsapi.Service) ecsapi.Deployment {
	now := ecsapiNow(s.now())
	id := newDeploymentID()
	return ecsapi.Deployment{
		Id:                       id,
		Status:                   DeploymentPrimary,
		TaskDefinition:           svc.TaskDefinition,
		DesiredCount:             svc.DesiredCount,
		CreatedAt:                now,
		UpdatedAt:                now,
		LaunchType:               svc.LaunchType,
		CapacityProviderStrategy: svc.CapacityProviderStrategy,
		NetworkConfiguration:     svc.NetworkConfiguration,
		RolloutState:             RolloutInProgress,
		RolloutStateReason:       "ECS deployment " + id + " in progress.",
	}
}

// CreateService creates a service that runs and maintains desiredCount
// tasks of a task definition (REPLICA), or one task on every container
// instance that meets its constraints (DAEMON). The service controller
// starts the tasks.
func (s *API) CreateService(ctx context.Context, in *ecsapi.CreateServiceRequest) (*ecsapi.CreateServiceResponse, error) {
	cl, crev, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if err := validateServiceName(in.ServiceName); err != nil {
		return nil, err
	}
	if in.ClientToken != "" && !clientTokenRE.MatchString(in.ClientToken) {
		return nil, apierror.InvalidParameter("clientToken may contain up to 36 ASCII characters in the range 33-126.")
	}
	if err := checkDeploymentController(in.DeploymentController); err != nil {
		return nil, err
	}
	if in.LaunchType == "EXTERNAL" && len(in.LoadBalancers) > 0 {
		// As ECS Anywhere.
		return nil, apierror.InvalidParameter("Load balancers are not supported for services with the EXTERNAL launch type.")
	}
	// The platform version is checked below, once the launch type is known.
	if err := unsupportedServiceMembers(in.ServiceRegistries, in.ServiceConnectConfiguration,
		in.VolumeConfigurations, in.VpcLatticeConfigurations, ""); err != nil {
		return nil, err
	}
	strategy := string(in.SchedulingStrategy)
	switch strategy {
	case "":
		strategy = SchedulingReplica
	case SchedulingReplica, SchedulingDaemon:
	default:
		return nil, apierror.InvalidParameter("Invalid schedulingStrategy %s.", strategy)
	}
	desired := int32(0)
	switch {
	case strategy == SchedulingReplica && in.DesiredCount == nil:
		return nil, apierror.InvalidParameter("desiredCount is required for a service with the REPLICA scheduling strategy.")
	case strategy == SchedulingReplica:
		desired = *in.DesiredCount
		if desired < 0 {
			return nil, apierror.InvalidParameter("desiredCount must be at least 0.")
		}
	case in.DesiredCount != nil && *in.DesiredCount != 0:
		return nil, apierror.InvalidParameter("The DAEMON scheduling strategy does not support a desiredCount: the service runs one task on each container instance.")
	}
	external := isExternalController(in.DeploymentController)
	var lt ecsapi.LaunchType
	var cps []ecsapi.CapacityProviderStrategyItem
	td := &ecsapi.TaskDefinition{}
	if external {
		// The task sets carry what the service's deployments would.
		if err := checkExternalCreate(in, strategy); err != nil {
			return nil, err
		}
		if err := validateTags(in.Tags); err != nil {
			return nil, err
		}
	} else {
		if lt, cps, err = serviceLaunch(cl, in.LaunchType, in.CapacityProviderStrategy); err != nil {
			return nil, err
		}
		if len(cps) > 0 && strategy == SchedulingDaemon {
			return nil, apierror.InvalidParameter("The DAEMON scheduling strategy does not support a capacity provider strategy: specify a launch type instead.")
		}
		if in.TaskDefinition == "" {
			return nil, apierror.InvalidParameter("TaskDefinition can not be blank.")
		}
		if td, err = s.taskDefForRun(ctx, in.TaskDefinition); err != nil {
			return nil, err
		}
		if lt == launchTypeFargate || fargateStrategy(cps) {
			if err := checkFargateRun(td, in.PlatformVersion); err != nil {
				return nil, err
			}
		} else if err := unsupportedServiceMembers(nil, nil, nil, nil, in.PlatformVersion); err != nil {
			return nil, err
		}
		if err := s.validateRun(&runOptions{td: td, launchType: string(lt), tags: in.Tags}); err != nil {
			return nil, err
		}
		if err := checkNetworkConfiguration(in.NetworkConfiguration, td); err != nil {
			return nil, err
		}
	}
	if err := s.checkLoadBalancers(ctx, in.LoadBalancers, td, in.Role); err != nil {
		return nil, err
	}
	if err := s.checkServicePlacement(strategy, in.PlacementConstraints, in.PlacementStrategy); err != nil {
		return nil, err
	}
	dc, err := mergeDeploymentConfiguration(nil, in.DeploymentConfiguration, strategy)
	if err != nil {
		return nil, err
	}
	if err := s.checkAdvancedConfiguration(ctx, in.LoadBalancers, dc.Strategy); err != nil {
		return nil, err
	}
	if err := checkPropagateTags(in.PropagateTags); err != nil {
		return nil, err
	}
	if err := checkGracePeriod(in.HealthCheckGracePeriodSeconds); err != nil {
		return nil, err
	}
	rebalancing := in.AvailabilityZoneRebalancing
	if rebalancing == "" {
		rebalancing = "ENABLED"
	}
	propagate := in.PropagateTags
	if propagate == "" {
		propagate = "NONE"
	}
	svc := ecsapi.Service{
		ServiceArn:                    s.ServiceARN(cl.ClusterName, in.ServiceName),
		ServiceName:                   in.ServiceName,
		ClusterArn:                    cl.ClusterArn,
		Status:                        ServiceActive,
		DesiredCount:                  desired,
		LaunchType:                    lt,
		CapacityProviderStrategy:      cps,
		TaskDefinition:                td.TaskDefinitionArn,
		DeploymentConfiguration:       dc,
		DeploymentController:          &ecsapi.DeploymentController{Type: controllerType(in.DeploymentController)},
		PlacementConstraints:          in.PlacementConstraints,
		PlacementStrategy:             in.PlacementStrategy,
		NetworkConfiguration:          in.NetworkConfiguration,
		HealthCheckGracePeriodSeconds: in.HealthCheckGracePeriodSeconds,
		SchedulingStrategy:            ecsapi.SchedulingStrategy(strategy),
		CreatedAt:                     ecsapiNow(s.now()),
		CreatedBy:                     caller.CallerFrom(ctx).Principal,
		RoleArn:                       "arn:aws:iam::" + s.Account + ":role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
		EnableECSManagedTags:          in.EnableECSManagedTags,
		EnableExecuteCommand:          in.EnableExecuteCommand,
		PropagateTags:                 propagate,
		AvailabilityZoneRebalancing:   rebalancing,
		Tags:                          in.Tags,
		Events:                        []ecsapi.ServiceEvent{},
		LoadBalancers:                 append([]ecsapi.LoadBalancer{}, in.LoadBalancers...),
		ServiceRegistries:             []ecsapi.ServiceRegistry{},
	}
	if svc.PlacementConstraints == nil {
		svc.PlacementConstraints = []ecsapi.PlacementConstraint{}
	}
	if svc.PlacementStrategy == nil {
		svc.PlacementStrategy = []ecsapi.PlacementStrategy{}
	}
	if strategy == SchedulingDaemon {
		if svc.DesiredCount, err = s.daemonCount(ctx, cl.ClusterName, lt, in.PlacementConstraints); err != nil {
			return nil, err
		}
	}
	if external {
		// Task sets run an EXTERNAL service's tasks: it has no deployments.
		svc.Deployments = []ecsapi.Deployment{}
		svc.TaskSets = []ecsapi.TaskSet{}
	} else {
		svc.Deployments = []ecsapi.Deployment{s.newDeployment(&svc)}
	}
	key := serviceKey(cl.ClusterName, in.ServiceName)
	for attempt := 0; attempt < 20; attempt++ {
		var cur ecsapi.Service
		rev, err := s.Store.Get(ctx, key, &cur)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err == nil && cur.Status != ServiceInactive {
			// A retry of the same request (same clientToken) gets the
			// service it created.
			if in.ClientToken != "" {
				resp, err := s.Store.Range(ctx, store.Range{From: serviceTokenKey(cl.ClusterName, in.ServiceName)})
				if err != nil {
					return nil, fmt.Errorf("read client token: %w", err)
				}
				if len(resp.Items) == 1 && string(resp.Items[0].Value) == in.ClientToken {
					out := serviceView(&cur, true)
					return &ecsapi.CreateServiceResponse{Service: &out}, nil
				}
			}
			return nil, apierror.InvalidParameter("Creation of service was not idempotent.")
		}
		b, err := json.Marshal(&svc)
		if err != nil {
			return nil, err
		}
		cmp := store.Absent(key)
		if rev != 0 {
			cmp = store.ModRevisionIs(key, rev)
		}
		token := store.OpDelete(serviceTokenKey(cl.ClusterName, in.ServiceName))
		if in.ClientToken != "" {
			token = store.OpPut(serviceTokenKey(cl.ClusterName, in.ServiceName), []byte(in.ClientToken))
		}
		resp, err := s.Store.Txn(ctx, []store.Cmp{cmp, store.ModRevisionIs(clusterKey(cl.ClusterName), crev)}, store.OpPut(key, b), token)
		if err != nil {
			return nil, fmt.Errorf("create service %s: %w", in.ServiceName, err)
		}
		if resp.Succeeded {
			s.syncAfterWrite(ctx, cl.ClusterName, in.ServiceName)
			out := serviceView(&svc, true)
			return &ecsapi.CreateServiceResponse{Service: &out}, nil
		}
		if cl, crev, err = s.activeCluster(ctx, in.Cluster); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("create service %s: %w", in.ServiceName, store.ErrConflict)
}

// daemonCount is how many instances a new DAEMON service starts on: the
// ACTIVE ones with a connected agent, of its launch type (external ones for
// EXTERNAL), that meet its memberOf constraints. The controller keeps it
// current afterwards.
func (s *API) daemonCount(ctx context.Context, cluster string, lt ecsapi.LaunchType, cons []ecsapi.PlacementConstraint) (int32, error) {
	cands, err := s.candidates(ctx, cluster)
	if err != nil {
		return 0, err
	}
	var exprs []*cql.Expr
	for _, c := range cons {
		if c.Type == "memberOf" {
			e, err := cql.Parse(c.Expression)
			if err != nil {
				return 0, apierror.InvalidParameter("Invalid placement constraint expression: %v", err)
			}
			exprs = append(exprs, e)
		}
	}
	n := int32(0)
	for _, c := range cands {
		ci := c.Rec.Instance
		ci.AgentConnected = c.Connected
		ok := ci.Status == instanceActive && c.Connected && strings.HasPrefix(ci.Ec2InstanceId, "mi-") == (lt == "EXTERNAL")
		for _, e := range exprs {
			ok = ok && e.Eval(cql.InstanceTarget{Instance: &ci})
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// UpdateService changes a service. A new task definition, a new network
// configuration or forceNewDeployment starts a new deployment: it becomes
// PRIMARY and the previous one ACTIVE, and the controller replaces the
// tasks within the deployment configuration's percentages. A new
// desiredCount, placement or deployment configuration applies to the
// current deployment.
func (s *API) UpdateService(ctx context.Context, in *ecsapi.UpdateServiceRequest) (*ecsapi.UpdateServiceResponse, error) {
	cl, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceRef(cl.ClusterName, in.Service)
	if err != nil {
		return nil, err
	}
	if err := checkDeploymentController(in.DeploymentController); err != nil {
		return nil, err
	}
	if err := unsupportedServiceMembers(in.ServiceRegistries, in.ServiceConnectConfiguration,
		in.VolumeConfigurations, in.VpcLatticeConfigurations, in.PlatformVersion); err != nil {
		return nil, err
	}
	if err := checkPropagateTags(in.PropagateTags); err != nil {
		return nil, err
	}
	if err := checkGracePeriod(in.HealthCheckGracePeriodSeconds); err != nil {
		return nil, err
	}
	var td *ecsapi.TaskDefinition
	if in.TaskDefinition != "" {
		if td, err = s.taskDefForRun(ctx, in.TaskDefinition); err != nil {
			return nil, err
		}
		if err := s.validateRun(&runOptions{td: td, launchType: "EC2"}); err != nil {
			return nil, err
		}
	}
	out, err := store.Mutate(ctx, s.Store, serviceKey(cl.ClusterName, name), func(svc *ecsapi.Service, exists bool) error {
		if !exists {
			return apierror.ServiceNotFound()
		}
		if svc.Status != ServiceActive {
			return apierror.ServiceNotActive()
		}
		lbChange := in.LoadBalancers != nil && !sameLoadBalancers(svc.LoadBalancers, in.LoadBalancers)
		strategy := string(svc.SchedulingStrategy)
		if in.DeploymentController != nil && in.DeploymentController.Type != controllerType(svc.DeploymentController) {
			return apierror.InvalidParameter("Updating the deployment controller of a service from %s to %s is not supported by Gantry.",
				controllerType(svc.DeploymentController), in.DeploymentController.Type)
		}
		if isExternal(svc) {
			if err := checkExternalUpdate(in); err != nil {
				return err
			}
		}
		if in.DesiredCount != nil {
			if strategy == SchedulingDaemon {
				return apierror.InvalidParameter("The DAEMON scheduling strategy does not support a desiredCount: the service runs one task on each container instance.")
			}
			if *in.DesiredCount < 0 {
				return apierror.InvalidParameter("desiredCount must be at least 0.")
			}
			svc.DesiredCount = *in.DesiredCount
		}
		cons, strat := svc.PlacementConstraints, svc.PlacementStrategy
		if in.PlacementConstraints != nil {
			cons = in.PlacementConstraints
		}
		if in.PlacementStrategy != nil {
			strat = in.PlacementStrategy
		}
		if err := s.checkServicePlacement(strategy, cons, strat); err != nil {
			return err
		}
		svc.PlacementConstraints, svc.PlacementStrategy = cons, strat
		dc, err := mergeDeploymentConfiguration(svc.DeploymentConfiguration, in.DeploymentConfiguration, strategy)
		if err != nil {
			return err
		}
		newDeployment := false
		if lbChange {
			if newDeployment, err = s.changeLoadBalancers(ctx, svc, in.LoadBalancers, td, dc); err != nil {
				return err
			}
		}
		if err := s.checkAdvancedConfiguration(ctx, svc.LoadBalancers, dc.Strategy); err != nil {
			return err
		}
		svc.DeploymentConfiguration = dc
		if in.HealthCheckGracePeriodSeconds != nil {
			svc.HealthCheckGracePeriodSeconds = in.HealthCheckGracePeriodSeconds
		}
		if in.EnableECSManagedTags != nil {
			svc.EnableECSManagedTags = *in.EnableECSManagedTags
		}
		if in.EnableExecuteCommand != nil {
			svc.EnableExecuteCommand = *in.EnableExecuteCommand
		}
		if in.PropagateTags != "" {
			svc.PropagateTags = in.PropagateTags
		}
		if in.AvailabilityZoneRebalancing != "" {
			svc.AvailabilityZoneRebalancing = in.AvailabilityZoneRebalancing
		}
		deploy := in.ForceNewDeployment || newDeployment
		if td != nil {
			if td.TaskDefinitionArn != svc.TaskDefinition {
				deploy = true
			}
			svc.TaskDefinition = td.TaskDefinitionArn
		}
		if len(in.CapacityProviderStrategy) > 0 {
			if strategy == SchedulingDaemon {
				return apierror.InvalidParameter("The DAEMON scheduling strategy does not support a capacity provider strategy.")
			}
			if err := checkStrategyForCluster(in.CapacityProviderStrategy, cl.CapacityProviders, "capacityProviderStrategy"); err != nil {
				return err
			}
			cur, _ := json.Marshal(svc.CapacityProviderStrategy)
			upd, _ := json.Marshal(in.CapacityProviderStrategy)
			if string(cur) != string(upd) || svc.LaunchType != "" {
				// As ECS: a new strategy, or leaving a launch type for
				// one, is a new deployment.
				deploy = true
			}
			svc.CapacityProviderStrategy, svc.LaunchType = in.CapacityProviderStrategy, ""
		}
		if in.NetworkConfiguration != nil {
			cur, _ := json.Marshal(svc.NetworkConfiguration)
			upd, _ := json.Marshal(in.NetworkConfiguration)
			if string(cur) != string(upd) {
				deploy = true
			}
			svc.NetworkConfiguration = in.NetworkConfiguration
		}
		if in.NetworkConfiguration != nil || td != nil {
			check := td
			if check == nil {
				if check, err = s.taskDefForRun(ctx, svc.TaskDefinition); err != nil {
					return err
				}
			}
			if err := checkNetworkConfiguration(svc.NetworkConfiguration, check); err != nil {
				return err
			}
			for _, lb := range svc.LoadBalancers {
				if lb.ContainerPort != nil {
					if err := checkLBContainer(check, lb.ContainerName, *lb.ContainerPort); err != nil {
						return err
					}
				}
			}
		}
		if deploy {
			for i := range svc.Deployments {
				svc.Deployments[i].Status = DeploymentActive
			}
			svc.Deployments = append([]ecsapi.Deployment{s.newDeployment(svc)}, svc.Deployments...)
		} else if len(svc.Deployments) > 0 && strategy == SchedulingReplica {
			svc.Deployments[0].DesiredCount = svc.DesiredCount
			svc.Deployments[0].UpdatedAt = ecsapiNow(s.now())
		}
		if isExternal(svc) {
			refreshTaskSets(svc, ecsapiNow(s.now()))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.syncAfterWrite(ctx, cl.ClusterName, name)
	view := serviceView(out, true)
	return &ecsapi.UpdateServiceResponse{Service: &view}, nil
}

// DeleteService deletes a service: it goes DRAINING, the controller stops
// its tasks, and it becomes INACTIVE once they are all stopping or stopped.
// Without force, a REPLICA service must first be scaled to zero.
func (s *API) DeleteService(ctx context.Context, in *ecsapi.DeleteServiceRequest) (*ecsapi.DeleteServiceResponse, error) {
	cl, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceRef(cl.ClusterName, in.Service)
	if err != nil {
		return nil, err
	}
	force := in.Force != nil && *in.Force
	out, err := store.Mutate(ctx, s.Store, serviceKey(cl.ClusterName, name), func(svc *ecsapi.Service, exists bool) error {
		if !exists {
			return apierror.ServiceNotFound()
		}
		if svc.Status != ServiceActive {
			return apierror.ServiceNotActive()
		}
		if !force && string(svc.SchedulingStrategy) == SchedulingReplica && svc.DesiredCount > 0 {
			return apierror.InvalidParameter("The service cannot be stopped while it is scaled above 0.")
		}
		svc.Status = ServiceDraining
		svc.DesiredCount = 0
		for i := range svc.Deployments {
			svc.Deployments[i].DesiredCount = 0
		}
		now := ecsapiNow(s.now())
		for i := range svc.TaskSets {
			svc.TaskSets[i].Status, svc.TaskSets[i].UpdatedAt = TaskSetDraining, now
		}
		refreshTaskSets(svc, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	view := serviceView(out, true)
	return &ecsapi.DeleteServiceResponse{Service: &view}, nil
}

// DescribeServices returns up to 10 services by name or ARN, whatever their
// status; unknown ones are failures with reason MISSING.
func (s *API) DescribeServices(ctx context.Context, in *ecsapi.DescribeServicesRequest) (*ecsapi.DescribeServicesResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.clusterExists(ctx, cluster); err != nil {
		return nil, err
	}
	if len(in.Services) == 0 || len(in.Services) > maxServicesPerCall {
		return nil, apierror.InvalidParameter("services must contain between 1 and %d items.", maxServicesPerCall)
	}
	withTags := false
	for _, f := range in.Include {
		if f != "TAGS" {
			return nil, apierror.InvalidParameter("Invalid include value %s.", f)
		}
		withTags = true
	}
	out := &ecsapi.DescribeServicesResponse{Services: []ecsapi.Service{}, Failures: []ecsapi.Failure{}}
	for _, ref := range in.Services {
		name, err := s.serviceRef(cluster, ref)
		if err != nil {
			return nil, err
		}
		var svc ecsapi.Service
		if _, err := s.Store.Get(ctx, serviceKey(cluster, name), &svc); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.ServiceARN(cluster, name), Reason: "MISSING"})
				continue
			}
			return nil, err
		}
		out.Services = append(out.Services, serviceView(&svc, withTags))
	}
	return out, nil
}

// ListServices lists the ARNs of the ACTIVE services of a cluster,
// optionally of one launch type or scheduling strategy.
func (s *API) ListServices(ctx context.Context, in *ecsapi.ListServicesRequest) (*ecsapi.ListServicesResponse, error) {
	cluster, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	if _, err := s.clusterExists(ctx, cluster); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 10, 100)
	if err != nil {
		return nil, err
	}
	switch in.LaunchType {
	case "", "EC2", "EXTERNAL", "FARGATE", "MANAGED_INSTANCES":
	default:
		return nil, apierror.InvalidParameter("Invalid launchType %s.", in.LaunchType)
	}
	switch in.SchedulingStrategy {
	case "", SchedulingReplica, SchedulingDaemon:
	default:
		return nil, apierror.InvalidParameter("Invalid schedulingStrategy %s.", in.SchedulingStrategy)
	}
	switch in.ResourceManagementType {
	case "", "CUSTOMER", "ECS":
	default:
		return nil, apierror.InvalidParameter("Invalid resourceManagementType %s.", in.ResourceManagementType)
	}
	scope := strings.Join([]string{"services", cluster, string(in.LaunchType), string(in.SchedulingStrategy), string(in.ResourceManagementType)}, "|")
	arns, next, err := listARNs(ctx, s, prefixOf("services", cluster), scope, in.NextToken, limit,
		func(svc *ecsapi.Service) bool {
			if svc.Status != ServiceActive {
				return false
			}
			if in.LaunchType != "" && serviceLaunchType(svc) != in.LaunchType {
				return false
			}
			if in.SchedulingStrategy != "" && svc.SchedulingStrategy != in.SchedulingStrategy {
				return false
			}
			if in.ResourceManagementType == "ECS" {
				return false
			}
			return true
		}, func(svc *ecsapi.Service) string { return svc.ServiceArn })
	if err != nil {
		return nil, err
	}
	return &ecsapi.ListServicesResponse{ServiceArns: arns, NextToken: next}, nil
}

// ListServicesByNamespace lists the services of a Service Connect
// namespace. Gantry has no Service Connect, so no namespace exists.
func (s *API) ListServicesByNamespace(ctx context.Context, in *ecsapi.ListServicesByNamespaceRequest) (*ecsapi.ListServicesByNamespaceResponse, error) {
	if _, err := pageSize(in.MaxResults, 10, 100); err != nil {
		return nil, err
	}
	return nil, apierror.New(apierror.CodeNamespaceNotFound, "Namespace %s not found: Gantry does not support Service Connect namespaces.", in.Namespace)
}

// serviceView is the service as the API shows it: tags only when asked
// for, empty lists rather than absent ones.
func serviceView(svc *ecsapi.Service, withTags bool) ecsapi.Service {
	v := *svc
	if !withTags {
		v.Tags = nil
	} else if v.Tags == nil {
		v.Tags = []ecsapi.Tag{}
	}
	if v.Events == nil {
		v.Events = []ecsapi.ServiceEvent{}
	}
	if v.Deployments == nil {
		v.Deployments = []ecsapi.Deployment{}
	}
	if isExternal(&v) {
		externalServiceView(&v, withTags)
	}
	// ECS's newer members: the PRIMARY deployment's service deployment,
	// and the revisions the service runs (one per deployment).
	if head := v.ServiceArn; len(v.Deployments) > 0 && strings.Contains(head, ":service/") {
		base := strings.Replace(head, ":service/", ":service-deployment/", 1) + "/"
		revBase := strings.Replace(head, ":service/", ":service-revision/", 1) + "/"
		v.CurrentServiceDeployment = base + deploymentNumber(v.Deployments[0].Id)
		v.CurrentServiceRevisions = make([]ecsapi.ServiceCurrentRevisionSummary, 0, len(v.Deployments))
		for _, d := range v.Deployments {
			v.CurrentServiceRevisions = append(v.CurrentServiceRevisions, ecsapi.ServiceCurrentRevisionSummary{Arn: revBase + deploymentNumber(d.Id),
				RequestedTaskCount: d.DesiredCount, RunningTaskCount: d.RunningCount, PendingTaskCount: d.PendingCount})
		}
	}
	return v
}

// Helpers for the service controller.

// ServiceRecord reads service name of cluster and the revision of its
// record. store.ErrNotFound if there is none.
func (s *API) ServiceRecord(ctx context.Context, cluster, name string) (*ecsapi.Service, int64, error) {
	var svc ecsapi.Service
	rev, err := s.Store.Get(ctx, serviceKey(cluster, name), &svc)
	if err != nil {
		return nil, 0, err
	}
	return &svc, rev, nil
}

// WriteServiceRecordIf writes svc as the record of its service if the
// record is still at rev and every guard holds (the service controller
// guards on its leadership: store.Leadership.Guard). It returns the new
// revision, or store.ErrConflict.
func (s *API) WriteServiceRecordIf(ctx context.Context, cluster string, svc *ecsapi.Service, rev int64, guards ...store.Cmp) (int64, error) {
	b, err := json.Marshal(svc)
	if err != nil {
		return 0, err
	}
	key := serviceKey(cluster, svc.ServiceName)
	cmps := append([]store.Cmp{store.ModRevisionIs(key, rev)}, guards...)
	resp, err := s.Store.Txn(ctx, cmps, store.OpPut(key, b))
	if err != nil {
		return 0, fmt.Errorf("write service %s: %w", svc.ServiceName, err)
	}
	if !resp.Succeeded {
		return 0, store.ErrConflict
	}
	s.syncAfterWrite(ctx, cluster, svc.ServiceName)
	return resp.Revision, nil
}

// MutateServiceRecord applies fn to the record of a service, retrying on
// conflicting writes. store.ErrNotFound if the service does not exist.
func (s *API) MutateServiceRecord(ctx context.Context, cluster, name string, fn func(*ecsapi.Service) error) error {
	_, err := store.Mutate(ctx, s.Store, serviceKey(cluster, name), func(svc *ecsapi.Service, exists bool) error {
		if !exists {
			return store.ErrNotFound
		}
		return fn(svc)
	})
	return err
}

// ServiceRefs lists every service that is not INACTIVE, in every cluster.
func (s *API) ServiceRefs(ctx context.Context) ([]ServiceRef, error) {
	items, err := s.Store.List(ctx, store.Key("services")+"/", "", 0)
	if err != nil {
		return nil, err
	}
	var out []ServiceRef
	for _, it := range items {
		var svc ecsapi.Service
		if err := it.Decode(&svc); err != nil {
			return nil, err
		}
		if svc.Status == ServiceInactive {
			continue
		}
		if ref, ok := refOfKey(it.Key); ok {
			out = append(out, ref)
		}
	}
	return out, nil
}

// refOfKey reads <kind>/<cluster>/<name> under store.Prefix.
func refOfKey(key string) (ServiceRef, bool) {
	parts := strings.Split(strings.TrimPrefix(key, store.Prefix), "/")
	if len(parts) != 3 {
		return ServiceRef{}, false
	}
	return ServiceRef{Cluster: parts[1], Name: parts[2]}, true
}

// WatchServiceChanges calls fn, until ctx ends, with the service that each
// change of the store may concern: a service record, a task of a service
// (its group is service:NAME), or (Name empty) every service of a cluster
// whose container instances or agent connections changed. It first calls
// fn with every service that is not INACTIVE, and again whenever the watch
// had to start over (store.Follow): no change falls between a list and the
// watch. It returns ctx.Err().
func (s *API) WatchServiceChanges(ctx context.Context, fn func(ServiceRef)) error {
	// statuses are the instances' statuses as last seen, to tell a
	// status change from other writes without the watch reading every
	// previous value.
	statuses := map[string]string{}
	return s.Store.Follow(ctx, store.Follow{
		Prefix: store.Prefix,
		Lists:  []string{prefixOf("services")},
		Logger: s.Logger,
		Load: func(_ int64, items []store.Item) {
			clear(statuses)
			for _, it := range items {
				var svc struct {
					Status string `json:"status"`
				}
				if json.Unmarshal(it.Value, &svc) != nil || svc.Status == ServiceInactive {
					continue
				}
				if ref, ok := refOfKey(it.Key); ok {
					fn(ref)
				}
			}
		},
		Apply: func(resp store.WatchResponse) {
			for i := range resp.Events {
				ev := &resp.Events[i]
				key := ev.Key
				kind, _, _ := strings.Cut(strings.TrimPrefix(key, store.Prefix), "/")
				switch kind {
				case "services":
					if ref, ok := refOfKey(key); ok {
						fn(ref)
					}
				case "tasks":
					// Only a service's tasks matter: skip the others undecoded.
					if ev.Deleted || !bytes.Contains(ev.Value, []byte(`"group":"service:`)) {
						continue
					}
					var rec struct {
						Task struct {
							Group string `json:"group"`
						} `json:"task"`
					}
					ref, ok := refOfKey(key)
					if !ok || json.Unmarshal(ev.Value, &rec) != nil {
						continue
					}
					if name, ok := strings.CutPrefix(rec.Task.Group, "service:"); ok {
						fn(ServiceRef{Cluster: ref.Cluster, Name: name})
					}
				case "instances":
					// Placements change an instance's record all the time;
					// only a new, removed or re-statused instance matters.
					if ref, ok := refOfKey(key); ok && instanceStatusChanged(statuses, ev) {
						fn(ServiceRef{Cluster: ref.Cluster})
					}
				case "connected":
					// An agent connecting (a new lease) or disconnecting.
					if ref, ok := refOfKey(key); ok && (ev.Deleted || ev.Version == 1) {
						fn(ServiceRef{Cluster: ref.Cluster})
					}
				}
			}
		},
	})
}

// instanceStatusChanged reports whether a watch event of an instance
// record created or removed it or changed its status from the one in
// statuses (which it updates).
func instanceStatusChanged(statuses map[string]string, ev *store.Event) bool {
	key := ev.Key
	if ev.Deleted {
		delete(statuses, key)
		return true
	}
	var cur struct {
		Instance struct {
			Status string `json:"status"`
		} `json:"containerInstance"`
	}
	if json.Unmarshal(ev.Value, &cur) != nil {
		return true
	}
	prev, ok := statuses[key]
	statuses[key] = cur.Instance.Status
	return !ok || prev != cur.Instance.Status
}

// ServiceTaskTags returns the tags a new task of svc gets from
// propagateTags: the service's tags (SERVICE) or those of its task
// definition (TASK_DEFINITION).
func (s *API) ServiceTaskTags(ctx context.Context, svc *ecsapi.Service, taskDefinition string) ([]ecsapi.Tag, error) {
	switch svc.PropagateTags {
	case "SERVICE":
		return svc.Tags, nil
	case "TASK_DEFINITION":
		a, ok := ParseARN(taskDefinition)
		if !ok {
			return nil, nil
		}
		family, rev, _ := strings.Cut(a.Path, ":")
		var rec taskDefRecord
		n := int32(0)
		for _, c := range rev {
			n = n*10 + int32(c-'0')
		}
		if _, err := s.Store.Get(ctx, taskDefKey(family, n), &rec); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil
			}
			return nil, err
		}
		return rec.Tags, nil
	}
	return nil, nil
}
