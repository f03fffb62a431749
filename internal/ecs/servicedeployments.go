package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Service deployments and service revisions (ListServiceDeployments,
// DescribeServiceDeployments, DescribeServiceRevisions,
// StopServiceDeployment) are ECS's newer view of the deployments a service
// record carries. Each deployment (ecs-svc/ID) of a service gets one
// record, under servicedeployments/CLUSTER/SERVICE/ID, holding its service
// deployment and its target service revision (Gantry makes one revision per
// deployment; both ARNs end in ID). The record outlives the deployment in
// the service record, so the history stays listable.
//
// syncDeployments derives the records from the service record: after every
// write of a service (the operations' and the service controller's) and,
// as a repair should a server have stopped between the two writes, before
// every read. A record's status moves forward only: once SUCCESSFUL,
// STOPPED, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED it stays.

// MaxServiceDeployments is how many deployments a service's history keeps;
// beyond it the oldest finished ones are dropped.
const MaxServiceDeployments = 100

// serviceDeploymentRecord is the stored history of one deployment.
type serviceDeploymentRecord struct {
	Deployment ecsapi.ServiceDeployment `json:"serviceDeployment"`
	Revision   ecsapi.ServiceRevision   `json:"serviceRevision"`
	// DeploymentID is the deployment's ID in the service record.
	DeploymentID string `json:"deploymentId"`
	// RollbackTo is the ID of the deployment a rollback returned to.
	RollbackTo string `json:"rollbackTo,omitempty"`
}

// Service deployment statuses.
const (
	sdInProgress         = "IN_PROGRESS"
	sdSuccessful         = "SUCCESSFUL"
	sdStopped            = "STOPPED"
	sdRollbackInProgress = "ROLLBACK_IN_PROGRESS"
	sdRollbackSuccessful = "ROLLBACK_SUCCESSFUL"
	sdRollbackFailed     = "ROLLBACK_FAILED"
	sdRollbackRequested  = "ROLLBACK_REQUESTED"
)

func sdTerminal(st ecsapi.ServiceDeploymentStatus) bool {
	switch st {
	case sdSuccessful, sdStopped, sdRollbackSuccessful, sdRollbackFailed:
		return true
	}
	return false
}

// isRollbackReason reports whether reason is the rolloutStateReason of a
// deployment rolled back to, by the circuit breaker, StopServiceDeployment
// or the deployment alarms (the service controller's "ECS deployment
// alarms: rolling back to deploymentId ID.").
func isRollbackReason(reason string) bool {
	return strings.HasPrefix(reason, rollbackPrefix) || strings.HasPrefix(reason, alarmsRollbackPrefix)
}

// Reasons the service controller gives a deployment its alarms failed
// ("ECS deployment alarms: alarm(s) A, B in ALARM state.") and one they
// rolled back to.
const (
	alarmsFailedPrefix   = "ECS deployment alarms: alarm(s) "
	alarmsFailedSuffix   = " in ALARM state."
	alarmsRollbackPrefix = "ECS deployment alarms: rolling back to deploymentId "
)

// deploymentAlarms is the alarms member of the service deployment of d, a
// deployment of a service with deployment configuration dc: DISABLED
// without enabled alarms; MONITORING while the deployment is in progress
// (and, as ECS, while its alarms are watched); MONITORING_COMPLETE once it
// completed; TRIGGERED, naming the alarms in ALARM, when they failed it.
func deploymentAlarms(dc *ecsapi.DeploymentConfiguration, d *ecsapi.Deployment) *ecsapi.ServiceDeploymentAlarms {
	out := &ecsapi.ServiceDeploymentAlarms{Status: "DISABLED", AlarmNames: []string{}, TriggeredAlarmNames: []string{}}
	if dc == nil || dc.Alarms == nil || !dc.Alarms.Enable {
		return out
	}
	out.AlarmNames = append(out.AlarmNames, dc.Alarms.AlarmNames...)
	out.Status = "MONITORING"
	switch {
	case d.RolloutState == RolloutCompleted:
		out.Status = "MONITORING_COMPLETE"
	case d.RolloutState == RolloutFailed && strings.HasPrefix(d.RolloutStateReason, alarmsFailedPrefix):
		out.Status = "TRIGGERED"
		list := strings.TrimSuffix(strings.TrimPrefix(d.RolloutStateReason, alarmsFailedPrefix), alarmsFailedSuffix)
		named := map[string]bool{}
		for _, n := range strings.Split(list, ", ") {
			named[n] = true
		}
		for _, n := range dc.Alarms.AlarmNames {
			if named[n] || (strings.Contains(n, ", ") && strings.Contains(list, n)) {
				out.TriggeredAlarmNames = append(out.TriggeredAlarmNames, n)
			}
		}
	}
	return out
}

// bgStageRE matches the rolloutStateReason the service controller gives
// the PRIMARY deployment of a blue/green, linear or canary deployment
// under way ("ECS deployment ID in progress: STAGE P% since TIME."), from
// which the service deployment's lifecycleStage is read.
var bgStageRE = regexp.MustCompile(`^(ECS deployment \S+ in progress): ([A-Z_]+) [0-9.]+% since \S+\.$`)

// rollbackPrefix starts the rolloutStateReason of a deployment the
// circuit breaker or StopServiceDeployment rolled back to.
const rollbackPrefix = "ECS deployment circuit breaker: rolling back to deploymentId "

func serviceDeploymentKey(cluster, service, id string) string {
	return store.Key("servicedeployments", cluster, service, id)
}

// deploymentNumber is the part of a deployment ID after ecs-svc/.
func deploymentNumber(id string) string { return id[strings.LastIndex(id, "/")+1:] }

// ServiceDeploymentARN is the ARN of the service deployment of deployment
// id of a service.
func (s *API) ServiceDeploymentARN(cluster, service, id string) string {
	return s.arn("service-deployment/" + cluster + "/" + service + "/" + deploymentNumber(id))
}

// ServiceRevisionARN is the ARN of the service revision of deployment id.
func (s *API) ServiceRevisionARN(cluster, service, id string) string {
	return s.arn("service-revision/" + cluster + "/" + service + "/" + deploymentNumber(id))
}

// parseHistoryARN splits a service-deployment or service-revision ARN of
// type typ into its cluster, service and ID; ok is false when it is not
// one of this account and region.
func (s *API) parseHistoryARN(arn, typ string) (cluster, service, id string, ok bool) {
	a, ok := ParseARN(arn)
	if !ok || a.Type != typ || a.Region != s.Region || a.Account != s.Account {
		return "", "", "", false
	}
	parts := strings.Split(a.Path, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// breakerThreshold is the circuit breaker's threshold for desired tasks
// (the service controller's): half, at least 3, at most 200.
func breakerThreshold(desired int32) int32 {
	n := int32(math.Ceil(float64(desired) * 0.5))
	return min(max(n, 3), 200)
}

// syncDeployments brings the deployment records of service name of cluster
// up to date with its record. It returns the records by deployment ID.
func (s *API) syncDeployments(ctx context.Context, cluster, name string) (map[string]*serviceDeploymentRecord, error) {
	var svc ecsapi.Service
	if _, err := s.Store.Get(ctx, serviceKey(cluster, name), &svc); err != nil {
		return nil, err
	}
	p := prefixOf("servicedeployments", cluster, name)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("read deployments of %s: %w", name, err)
	}
	recs := map[string]*serviceDeploymentRecord{}
	mods := map[string]int64{}
	for _, it := range resp.Items {
		var r serviceDeploymentRecord
		if err := json.Unmarshal(it.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", it.Key, err)
		}
		recs[r.DeploymentID], mods[r.DeploymentID] = &r, it.ModRev
	}
	changed := map[string]bool{}
	present := map[string]bool{}
	now := ecsapiNow(s.now())
	for i := range svc.Deployments {
		d := &svc.Deployments[i]
		present[d.Id] = true
		r := recs[d.Id]
		if r == nil {
			r = s.newDeploymentRecord(cluster, &svc, i)
			if len(r.Deployment.SourceServiceRevisions) == 0 {
				// The deployments it replaced have already left the
				// service record (the controller drops those without
				// tasks): the latest one before it is its source.
				var prev *serviceDeploymentRecord
				for _, o := range recs {
					oc, dc := o.Deployment.CreatedAt, d.CreatedAt
					if oc != nil && dc != nil && oc.Before(dc.Time) && (prev == nil || oc.After(prev.Deployment.CreatedAt.Time)) {
						prev = o
					}
				}
				if prev != nil {
					r.Deployment.SourceServiceRevisions = append(r.Deployment.SourceServiceRevisions,
						ecsapi.ServiceRevisionSummary{Arn: prev.Revision.ServiceRevisionArn})
				}
			}
			recs[d.Id] = r
			changed[d.Id] = true
		}
		before, _ := json.Marshal(r)
		s.updateDeploymentRecord(r, &svc, i, now)
		if after, _ := json.Marshal(r); string(after) != string(before) {
			changed[d.Id] = true
		}
	}
	for id, r := range recs {
		if present[id] || sdTerminal(r.Deployment.Status) {
			continue
		}
		before := r.Deployment.Status
		switch {
		case r.RollbackTo != "":
			for _, d := range svc.Deployments {
				if d.Id == r.RollbackTo {
					setRollbackOutcome(r, d.RolloutState, now)
				}
			}
		default:
			// Gone from the service without finishing: replaced.
			r.Deployment.Status = sdStopped
			r.Deployment.StatusReason = "The service deployment was replaced by a newer deployment."
			r.Deployment.StoppedAt, r.Deployment.FinishedAt, r.Deployment.UpdatedAt = now, now, now
		}
		if r.Deployment.Status != before {
			changed[id] = true
		}
	}
	// Keep the history bounded: the oldest finished deployments beyond
	// MaxServiceDeployments go.
	var done []*serviceDeploymentRecord
	for id, r := range recs {
		if !present[id] && sdTerminal(r.Deployment.Status) && !changed[id] {
			done = append(done, r)
		}
	}
	if excess := len(recs) - MaxServiceDeployments; excess > 0 && len(done) > 0 {
		slices.SortFunc(done, func(a, b *serviceDeploymentRecord) int {
			return a.Deployment.CreatedAt.Compare(b.Deployment.CreatedAt.Time)
		})
		for _, r := range done[:min(excess, len(done))] {
			key := serviceDeploymentKey(cluster, name, deploymentNumber(r.DeploymentID))
			if _, err := s.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, mods[r.DeploymentID])}, store.OpDelete(key)); err != nil {
				return nil, fmt.Errorf("drop deployment %s: %w", r.DeploymentID, err)
			}
			delete(recs, r.DeploymentID)
		}
	}
	for id := range changed {
		r := recs[id]
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		key := serviceDeploymentKey(cluster, name, deploymentNumber(id))
		cmp := store.Absent(key)
		if m, ok := mods[id]; ok {
			cmp = store.ModRevisionIs(key, m)
		}
		if _, err := s.Store.Txn(ctx, []store.Cmp{cmp}, store.OpPut(key, b)); err != nil {
			return nil, fmt.Errorf("write deployment %s: %w", id, err)
		}
		// A lost race means another sync wrote from a record as new or
		// newer; the next sync settles it either way.
	}
	return recs, nil
}

// newDeploymentRecord starts the history of deployment i of svc: its
// revision is the service's configuration with the deployment's task
// definition; its sources are the service's other deployments then.
func (s *API) newDeploymentRecord(cluster string, svc *ecsapi.Service, i int) *serviceDeploymentRecord {
	d := &svc.Deployments[i]
	svcArn := s.ServiceARN(cluster, svc.ServiceName)
	rev := ecsapi.ServiceRevision{
		ServiceRevisionArn: s.ServiceRevisionARN(cluster, svc.ServiceName, d.Id), ServiceArn: svcArn, ClusterArn: s.ClusterARN(cluster),
		TaskDefinition: d.TaskDefinition, CapacityProviderStrategy: d.CapacityProviderStrategy, LaunchType: d.LaunchType,
		PlatformVersion: d.PlatformVersion, PlatformFamily: d.PlatformFamily, LoadBalancers: svc.LoadBalancers,
		ServiceRegistries: svc.ServiceRegistries, NetworkConfiguration: d.NetworkConfiguration, CreatedAt: d.CreatedAt,
		ContainerImages: []ecsapi.ContainerImage{},
	}
	sd := ecsapi.ServiceDeployment{
		ServiceDeploymentArn: s.ServiceDeploymentARN(cluster, svc.ServiceName, d.Id), ServiceArn: svcArn, ClusterArn: s.ClusterARN(cluster),
		CreatedAt: d.CreatedAt, StartedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Status: sdInProgress,
		DeploymentConfiguration: svc.DeploymentConfiguration,
		Alarms:                  &ecsapi.ServiceDeploymentAlarms{Status: "DISABLED", AlarmNames: []string{}, TriggeredAlarmNames: []string{}},
		SourceServiceRevisions:  []ecsapi.ServiceRevisionSummary{},
	}
	for j := range svc.Deployments {
		if j != i {
			o := &svc.Deployments[j]
			sd.SourceServiceRevisions = append(sd.SourceServiceRevisions, ecsapi.ServiceRevisionSummary{
				Arn: s.ServiceRevisionARN(cluster, svc.ServiceName, o.Id), RequestedTaskCount: o.DesiredCount,
				RunningTaskCount: o.RunningCount, PendingTaskCount: o.PendingCount})
		}
	}
	return &serviceDeploymentRecord{Deployment: sd, Revision: rev, DeploymentID: d.Id}
}

// updateDeploymentRecord sets r's status, counts and circuit breaker from
// deployment i of svc, unless r has finished.
func (s *API) updateDeploymentRecord(r *serviceDeploymentRecord, svc *ecsapi.Service, i int, now *ecsapi.Timestamp) {
	d := &svc.Deployments[i]
	sd := &r.Deployment
	sd.TargetServiceRevision = &ecsapi.ServiceRevisionSummary{Arn: r.Revision.ServiceRevisionArn,
		RequestedTaskCount: d.DesiredCount, RunningTaskCount: d.RunningCount, PendingTaskCount: d.PendingCount}
	cb := &ecsapi.ServiceDeploymentCircuitBreaker{Status: "DISABLED", FailureCount: d.FailedTasks, Threshold: breakerThreshold(svc.DesiredCount)}
	if dc := svc.DeploymentConfiguration; dc != nil && dc.DeploymentCircuitBreaker != nil && dc.DeploymentCircuitBreaker.Enable {
		cb.Status = "MONITORING"
		if d.RolloutState == RolloutCompleted {
			cb.Status = "MONITORING_COMPLETE"
		}
		if d.RolloutState == "FAILED" && strings.HasPrefix(d.RolloutStateReason, "ECS deployment circuit breaker") {
			cb.Status = "TRIGGERED"
		}
	}
	if sdTerminal(sd.Status) {
		return
	}
	sd.DeploymentCircuitBreaker = cb
	sd.Alarms = deploymentAlarms(svc.DeploymentConfiguration, d)
	switch {
	case d.RolloutState == RolloutCompleted:
		sd.Status, sd.StatusReason = sdSuccessful, d.RolloutStateReason
		sd.FinishedAt, sd.UpdatedAt = d.UpdatedAt, d.UpdatedAt
		if sd.LifecycleStage != "" {
			// A traffic-shifting deployment ends with its clean-up.
			sd.LifecycleStage = "CLEAN_UP"
		}
	case d.RolloutState == "FAILED":
		primary := &svc.Deployments[0]
		if i > 0 && isRollbackReason(primary.RolloutStateReason) {
			if r.RollbackTo == "" {
				r.RollbackTo = primary.Id
				sd.Rollback = &ecsapi.Rollback{Reason: d.RolloutStateReason, StartedAt: primary.UpdatedAt,
					ServiceRevisionArn: s.ServiceRevisionARN(deploymentCluster(r), svc.ServiceName, primary.Id)}
			}
			setRollbackOutcome(r, primary.RolloutState, now)
			sd.StatusReason = d.RolloutStateReason
			return
		}
		sd.Status, sd.StatusReason = sdStopped, d.RolloutStateReason
		sd.StoppedAt, sd.FinishedAt, sd.UpdatedAt = d.UpdatedAt, d.UpdatedAt, d.UpdatedAt
	case i > 0:
		// An IN_PROGRESS deployment that is no longer PRIMARY was replaced.
		sd.Status = sdStopped
		sd.StatusReason = "The service deployment was replaced by a newer deployment."
		sd.StoppedAt, sd.FinishedAt, sd.UpdatedAt = now, now, now
	default:
		if sd.Status != sdRollbackRequested {
			sd.Status = sdInProgress
		}
		sd.StatusReason = d.RolloutStateReason
		if m := bgStageRE.FindStringSubmatch(d.RolloutStateReason); m != nil {
			sd.StatusReason = m[1] + "."
			sd.LifecycleStage = ecsapi.ServiceDeploymentLifecycleStage(m[2])
		}
		sd.UpdatedAt = d.UpdatedAt
	}
}

// deploymentCluster is the cluster of r, from its ARN.
func deploymentCluster(r *serviceDeploymentRecord) string {
	a, _ := ParseARN(r.Deployment.ServiceDeploymentArn)
	c, _, _ := strings.Cut(a.Path, "/")
	return c
}

// setRollbackOutcome sets the status of a rolled-back deployment from the
// rollout state of the deployment it returned to.
func setRollbackOutcome(r *serviceDeploymentRecord, back ecsapi.DeploymentRolloutState, now *ecsapi.Timestamp) {
	sd := &r.Deployment
	switch back {
	case RolloutCompleted:
		sd.Status = sdRollbackSuccessful
		sd.FinishedAt, sd.UpdatedAt = now, now
	case "FAILED":
		sd.Status = sdRollbackFailed
		sd.FinishedAt, sd.UpdatedAt = now, now
	default:
		sd.Status = sdRollbackInProgress
	}
}

// syncAfterWrite syncs the deployment records of a service after a write of
// its record; a failure is logged (the next read repairs it).
func (s *API) syncAfterWrite(ctx context.Context, cluster, name string) {
	if _, err := s.syncDeployments(ctx, cluster, name); err != nil && s.Logger != nil {
		s.Logger.Warn("sync service deployments", "cluster", cluster, "service", name, "error", err)
	}
}

// ListServiceDeployments lists a service's deployments, newest first,
// filtered by status and creation time, a page at a time (maxResults 1 to
// 100, 20 by default).
func (s *API) ListServiceDeployments(ctx context.Context, in *ecsapi.ListServiceDeploymentsRequest) (*ecsapi.ListServiceDeploymentsResponse, error) {
	cl, _, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	name, err := s.serviceRef(cl.ClusterName, in.Service)
	if err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 20, 100)
	if err != nil {
		return nil, err
	}
	want := map[ecsapi.ServiceDeploymentStatus]bool{}
	for _, st := range in.Status {
		if !slices.Contains(ecsapi.ServiceDeploymentStatus("").Values(), st) {
			return nil, apierror.InvalidParameter("Invalid status %s.", st)
		}
		want[st] = true
	}
	recs, err := s.syncDeployments(ctx, cl.ClusterName, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierror.ServiceNotFound()
	}
	if err != nil {
		return nil, err
	}
	var all []*serviceDeploymentRecord
	for _, r := range recs {
		sd := &r.Deployment
		if len(want) > 0 && !want[sd.Status] {
			continue
		}
		if c := in.CreatedAt; c != nil && sd.CreatedAt != nil {
			if c.After != nil && !sd.CreatedAt.After(c.After.Time) || c.Before != nil && !sd.CreatedAt.Before(c.Before.Time) {
				continue
			}
		}
		all = append(all, r)
	}
	// Newest first; the ID breaks ties and orders the pages.
	slices.SortFunc(all, func(a, b *serviceDeploymentRecord) int {
		if c := b.Deployment.CreatedAt.Compare(a.Deployment.CreatedAt.Time); c != 0 {
			return c
		}
		return strings.Compare(b.DeploymentID, a.DeploymentID)
	})
	scope := "servicedeployments|" + cl.ClusterName + "|" + name + "|" + fmt.Sprint(in.Status) + "|" + fmt.Sprint(in.CreatedAt != nil)
	after, err := decodeToken(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	start := 0
	if after != "" {
		start = len(all)
		for i, r := range all {
			if r.DeploymentID == after {
				start = i + 1
				break
			}
		}
	}
	out := &ecsapi.ListServiceDeploymentsResponse{ServiceDeployments: []ecsapi.ServiceDeploymentBrief{}}
	for i := start; i < len(all) && len(out.ServiceDeployments) < limit; i++ {
		sd := &all[i].Deployment
		out.ServiceDeployments = append(out.ServiceDeployments, ecsapi.ServiceDeploymentBrief{
			ServiceDeploymentArn: sd.ServiceDeploymentArn, ServiceArn: sd.ServiceArn, ClusterArn: sd.ClusterArn,
			StartedAt: sd.StartedAt, CreatedAt: sd.CreatedAt, FinishedAt: sd.FinishedAt,
			TargetServiceRevisionArn: all[i].Revision.ServiceRevisionArn, Status: sd.Status, StatusReason: sd.StatusReason})
		if len(out.ServiceDeployments) == limit && i+1 < len(all) {
			out.NextToken = encodeToken(all[i].DeploymentID, scope)
		}
	}
	return out, nil
}

// historyRecords returns the records that ARNs of type typ name, syncing
// each service once; unknown ones are failures with reason MISSING.
func (s *API) historyRecords(ctx context.Context, arns []string, typ string) ([]*serviceDeploymentRecord, []ecsapi.Failure, error) {
	if len(arns) == 0 {
		return nil, nil, apierror.InvalidParameter("The list of ARNs cannot be empty.")
	}
	if len(arns) > 20 {
		return nil, nil, apierror.InvalidParameter("The list of ARNs can contain at most 20 items.")
	}
	synced := map[string]map[string]*serviceDeploymentRecord{}
	var recs []*serviceDeploymentRecord
	failures := []ecsapi.Failure{}
	for _, arn := range arns {
		cluster, service, id, ok := s.parseHistoryARN(arn, typ)
		if !ok {
			if _, parsed := ParseARN(arn); !parsed || !strings.Contains(arn, ":"+typ+"/") {
				return nil, nil, apierror.InvalidParameter("Invalid ARN %s: it is not a %s ARN.", arn, typ)
			}
			failures = append(failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		k := cluster + "/" + service
		byID, ok := synced[k]
		if !ok {
			var err error
			byID, err = s.syncDeployments(ctx, cluster, service)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, nil, err
			}
			synced[k] = byID
		}
		var found *serviceDeploymentRecord
		for _, r := range byID {
			if deploymentNumber(r.DeploymentID) == id {
				found = r
			}
		}
		if found == nil {
			failures = append(failures, ecsapi.Failure{Arn: arn, Reason: "MISSING"})
			continue
		}
		recs = append(recs, found)
	}
	return recs, failures, nil
}

// DescribeServiceDeployments describes up to 20 service deployments by
// ARN; unknown ones are failures with reason MISSING.
func (s *API) DescribeServiceDeployments(ctx context.Context, in *ecsapi.DescribeServiceDeploymentsRequest) (*ecsapi.DescribeServiceDeploymentsResponse, error) {
	recs, failures, err := s.historyRecords(ctx, in.ServiceDeploymentArns, "service-deployment")
	if err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeServiceDeploymentsResponse{ServiceDeployments: []ecsapi.ServiceDeployment{}, Failures: failures}
	for _, r := range recs {
		out.ServiceDeployments = append(out.ServiceDeployments, r.Deployment)
	}
	return out, nil
}

// DescribeServiceRevisions describes up to 20 service revisions by ARN;
// unknown ones are failures with reason MISSING.
func (s *API) DescribeServiceRevisions(ctx context.Context, in *ecsapi.DescribeServiceRevisionsRequest) (*ecsapi.DescribeServiceRevisionsResponse, error) {
	recs, failures, err := s.historyRecords(ctx, in.ServiceRevisionArns, "service-revision")
	if err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeServiceRevisionsResponse{ServiceRevisions: []ecsapi.ServiceRevision{}, Failures: failures}
	for _, r := range recs {
		out.ServiceRevisions = append(out.ServiceRevisions, r.Revision)
	}
	return out, nil
}

// StopServiceDeployment stops an IN_PROGRESS service deployment by rolling
// back (stopType ROLLBACK, the default) to the service's last COMPLETED
// deployment, as the circuit breaker does. ABORT is refused: Gantry has no
// deployment to abort to other than a rollback. A deployment that is not
// in progress is a ConflictException; an unknown one
// ServiceDeploymentNotFoundException.
func (s *API) StopServiceDeployment(ctx context.Context, in *ecsapi.StopServiceDeploymentRequest) (*ecsapi.StopServiceDeploymentResponse, error) {
	switch in.StopType {
	case "", "ROLLBACK":
	case "ABORT":
		return nil, apierror.InvalidParameter("stopType ABORT is not supported: Gantry stops a deployment by rolling back (ROLLBACK).")
	default:
		return nil, apierror.InvalidParameter("Invalid stopType %s: use ROLLBACK.", in.StopType)
	}
	cluster, service, id, ok := s.parseHistoryARN(in.ServiceDeploymentArn, "service-deployment")
	if !ok {
		if !strings.Contains(in.ServiceDeploymentArn, ":service-deployment/") {
			return nil, apierror.InvalidParameter("Invalid ARN %s: it is not a service-deployment ARN.", in.ServiceDeploymentArn)
		}
		return nil, apierror.New("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
	}
	notFound := apierror.New("ServiceDeploymentNotFoundException", "The service deployment does not exist.")
	_, err := store.Mutate(ctx, s.Store, serviceKey(cluster, service), func(svc *ecsapi.Service, exists bool) error {
		if !exists {
			return notFound
		}
		idx := -1
		for i, d := range svc.Deployments {
			if deploymentNumber(d.Id) == id {
				idx = i
			}
		}
		if idx < 0 {
			var r serviceDeploymentRecord
			if _, err := s.Store.Get(ctx, serviceDeploymentKey(cluster, service, id), &r); err == nil {
				return apierror.New("ConflictException", "The service deployment is not in progress, so it cannot be stopped.")
			}
			return notFound
		}
		d := &svc.Deployments[idx]
		if idx != 0 || d.RolloutState != RolloutInProgress || isRollbackReason(d.RolloutStateReason) {
			return apierror.New("ConflictException", "The service deployment is not in progress, so it cannot be stopped.")
		}
		back := -1
		for i := 1; i < len(svc.Deployments); i++ {
			if svc.Deployments[i].RolloutState == RolloutCompleted {
				back = i
				break
			}
		}
		if back < 0 {
			return apierror.New("ConflictException", "The service has no completed deployment to roll back to.")
		}
		now := ecsapiNow(s.now())
		failed := svc.Deployments[0]
		failed.Status = DeploymentActive
		failed.RolloutState = "FAILED"
		failed.RolloutStateReason = "Service deployment stopped by user request (rollback)."
		failed.UpdatedAt = now
		b := svc.Deployments[back]
		b.Status = DeploymentPrimary
		b.RolloutState = RolloutInProgress
		b.RolloutStateReason = rollbackPrefix + b.Id + "."
		b.DesiredCount = svc.DesiredCount
		b.UpdatedAt = now
		rest := append([]ecsapi.Deployment{failed}, svc.Deployments[1:back]...)
		rest = append(rest, svc.Deployments[back+1:]...)
		svc.Deployments = append([]ecsapi.Deployment{b}, rest...)
		svc.TaskDefinition = b.TaskDefinition
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.syncAfterWrite(ctx, cluster, service)
	return &ecsapi.StopServiceDeploymentResponse{ServiceDeploymentArn: in.ServiceDeploymentArn}, nil
}
