package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// Cluster statuses, spelled as ECS spells them.
const (
	clusterActive   = "ACTIVE"
	clusterInactive = "INACTIVE"
)

// InactiveClusterRetention is how long a deleted cluster stays describable
// with status INACTIVE. ECS keeps INACTIVE clusters "for a period of time"
// and says not to rely on it; Gantry attaches the INACTIVE record to an etcd
// lease of this TTL, so etcd itself forgets it, on any server, with no
// janitor. Re-creating the cluster detaches the record from the lease.
const InactiveClusterRetention = time.Hour

// maxDescribeClusters is the most clusters one DescribeClusters names.
const maxDescribeClusters = 100

// errClusterInactive is what ECS answers when a call names a deleted cluster
// that is still known.
func errClusterInactive() error {
	return apierror.InvalidParameter("The specified cluster is inactive. Specify an active cluster and try again.")
}

// CreateCluster creates a cluster, named "default" when no name is given. As
// in ECS it is idempotent: creating a name that is ACTIVE returns that
// cluster unchanged, and a deleted (INACTIVE) name is created anew. A
// containerInsights setting not given comes from the caller's effective
// account setting.
func (s *API) CreateCluster(ctx context.Context, in *ecsapi.CreateClusterRequest) (*ecsapi.CreateClusterResponse, error) {
	name := in.ClusterName
	if name == "" {
		name = DefaultCluster
	}
	if !clusterNameRE.MatchString(name) {
		return nil, apierror.InvalidParameter("Cluster name can only contain up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.")
	}
	if err := validateNewCluster(in); err != nil {
		return nil, err
	}
	var err error
	providers := in.CapacityProviders
	if len(providers) > 0 || len(in.DefaultCapacityProviderStrategy) > 0 {
		if providers, _, err = s.checkClusterProviders(ctx, name, providers, in.DefaultCapacityProviderStrategy, "defaultCapacityProviderStrategy"); err != nil {
			return nil, err
		}
	}
	settings, err := s.clusterSettingsWithDefault(ctx, in.Settings)
	if err != nil {
		return nil, err
	}
	fresh := ecsapi.Cluster{
		ClusterArn:                      s.ClusterARN(name),
		ClusterName:                     name,
		Status:                          clusterActive,
		CapacityProviders:               providers,
		DefaultCapacityProviderStrategy: in.DefaultCapacityProviderStrategy,
		Configuration:                   in.Configuration,
		Settings:                        settings,
		Tags:                            in.Tags,
		ServiceConnectDefaults:          serviceConnectDefaults(in.ServiceConnectDefaults),
	}
	errExists := errors.New("cluster exists")
	var existing ecsapi.Cluster
	c, err := store.Mutate(ctx, s.Store, clusterKey(name), func(cur *ecsapi.Cluster, exists bool) error {
		if exists && cur.Status == clusterActive {
			existing = *cur
			return errExists
		}
		*cur = fresh
		return nil
	})
	if errors.Is(err, errExists) {
		c, err = &existing, nil
	}
	if err != nil {
		return nil, err
	}
	view, err := s.clusterView(ctx, c, allClusterFields())
	if err != nil {
		return nil, err
	}
	return &ecsapi.CreateClusterResponse{Cluster: view}, nil
}

// DescribeClusters describes up to 100 clusters by name or ARN ("default"
// when none are named). Unknown ones are failures with reason MISSING;
// deleted ones are described with status INACTIVE while they are kept.
// Settings, configuration, tags, statistics and attachments are present only
// when include names them.
func (s *API) DescribeClusters(ctx context.Context, in *ecsapi.DescribeClustersRequest) (*ecsapi.DescribeClustersResponse, error) {
	ids := in.Clusters
	if len(ids) == 0 {
		ids = []string{DefaultCluster}
	}
	if len(ids) > maxDescribeClusters {
		return nil, apierror.InvalidParameter("clusters can have at most %d items.", maxDescribeClusters)
	}
	fields, err := parseClusterFields(in.Include)
	if err != nil {
		return nil, err
	}
	out := &ecsapi.DescribeClustersResponse{}
	seen := map[string]bool{}
	for _, id := range ids {
		name, err := s.clusterName(id)
		if err != nil {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.failureClusterARN(id), Reason: "MISSING"})
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		var c ecsapi.Cluster
		if _, err := s.Store.Get(ctx, clusterKey(name), &c); errors.Is(err, store.ErrNotFound) {
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: s.ClusterARN(name), Reason: "MISSING"})
			continue
		} else if err != nil {
			return nil, err
		}
		view, err := s.clusterView(ctx, &c, fields)
		if err != nil {
			return nil, err
		}
		out.Clusters = append(out.Clusters, *view)
	}
	return out, nil
}

// failureClusterARN is the ARN a DescribeClusters failure names for an
// identifier that resolves to no cluster here.
func (s *API) failureClusterARN(id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	return s.ClusterARN(id)
}

// ListClusters lists the ARNs of the ACTIVE clusters in name order, at most
// maxResults (1..100, default 100) a page.
func (s *API) ListClusters(ctx context.Context, in *ecsapi.ListClustersRequest) (*ecsapi.ListClustersResponse, error) {
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	items, next, err := s.scanPage(ctx, prefixOf("clusters"), "clusters", in.NextToken, limit, func(it store.Item) (bool, error) {
		var c ecsapi.Cluster
		if err := it.Decode(&c); err != nil {
			return false, err
		}
		// The Fargate pool's hidden cluster is nobody's (fargate.go).
		return c.Status == clusterActive && c.ClusterName != FargatePoolCluster, nil
	})
	if err != nil {
		return nil, err
	}
	out := &ecsapi.ListClustersResponse{ClusterArns: []string{}}
	for _, it := range items {
		out.ClusterArns = append(out.ClusterArns, s.ClusterARN(strings.TrimPrefix(it.Key, prefixOf("clusters"))))
	}
	if next != "" {
		out.NextToken = next
	}
	return out, nil
}

// UpdateCluster changes a cluster's settings (merged by name), its
// configuration (replaced) and its Service Connect default namespace (an
// empty namespace removes it).
func (s *API) UpdateCluster(ctx context.Context, in *ecsapi.UpdateClusterRequest) (*ecsapi.UpdateClusterResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	if err := validateClusterConfiguration(in.Configuration); err != nil {
		return nil, err
	}
	if err := validateServiceConnectDefaults(in.ServiceConnectDefaults, true); err != nil {
		return nil, err
	}
	view, err := s.updateCluster(ctx, in.Cluster, func(c *ecsapi.Cluster) {
		c.Settings = mergeClusterSettings(c.Settings, in.Settings)
		if in.Configuration != nil {
			c.Configuration = in.Configuration
		}
		if in.ServiceConnectDefaults != nil {
			c.ServiceConnectDefaults = serviceConnectDefaults(in.ServiceConnectDefaults)
		}
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateClusterResponse{Cluster: view}, nil
}

// UpdateClusterSettings changes a cluster's settings, merged by name.
func (s *API) UpdateClusterSettings(ctx context.Context, in *ecsapi.UpdateClusterSettingsRequest) (*ecsapi.UpdateClusterSettingsResponse, error) {
	if err := validateClusterSettings(in.Settings); err != nil {
		return nil, err
	}
	view, err := s.updateCluster(ctx, in.Cluster, func(c *ecsapi.Cluster) {
		c.Settings = mergeClusterSettings(c.Settings, in.Settings)
	})
	if err != nil {
		return nil, err
	}
	return &ecsapi.UpdateClusterSettingsResponse{Cluster: view}, nil
}

// updateCluster applies change to the ACTIVE cluster id under a revision
// guard and returns the cluster as written, with every member.
func (s *API) updateCluster(ctx context.Context, id string, change func(*ecsapi.Cluster)) (*ecsapi.Cluster, error) {
	name, err := s.clusterName(id)
	if err != nil {
		return nil, err
	}
	c, err := store.Mutate(ctx, s.Store, clusterKey(name), func(cur *ecsapi.Cluster, exists bool) error {
		if err := checkActive(cur, exists); err != nil {
			return err
		}
		change(cur)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.clusterView(ctx, c, allClusterFields())
}

// checkActive is the error for a cluster record that is absent or deleted.
func checkActive(c *ecsapi.Cluster, exists bool) error {
	if !exists {
		return apierror.ClusterNotFound()
	}
	if c.Status != clusterActive {
		return errClusterInactive()
	}
	return nil
}

// activeCluster resolves a cluster name or ARN ("" is default) to its ACTIVE
// record and the record's mod revision. ClusterNotFoundException if unknown,
// InvalidParameterException if deleted. Operations that add to a cluster
// should guard their write on the revision, as DeleteCluster does.
func (s *API) activeCluster(ctx context.Context, id string) (*ecsapi.Cluster, int64, error) {
	name, err := s.clusterName(id)
	if err != nil {
		return nil, 0, err
	}
	var c ecsapi.Cluster
	rev, err := s.Store.Get(ctx, clusterKey(name), &c)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, 0, err
	}
	if err := checkActive(&c, err == nil); err != nil {
		return nil, 0, err
	}
	return &c, rev, nil
}

// activeClusterAt is activeCluster for the operations that only need the
// cluster's name, such as RunTasks: it decodes only the name, status and
// capacity providers, and also returns the etcd revision of the read, to
// which the placement views then catch up (one read for both).
func (s *API) activeClusterAt(ctx context.Context, id string) (name string, crev, rev int64, err error) {
	cl, err := s.activeClusterInfo(ctx, id)
	return cl.name, cl.crev, cl.rev, err
}

// clusterInfo is what placement reads of a cluster record.
type clusterInfo struct {
	name string
	// crev is the record's mod revision, rev the revision of the read.
	crev, rev       int64
	providers       []string
	defaultStrategy []ecsapi.CapacityProviderStrategyItem
}

// activeClusterInfo is activeClusterAt with the cluster's capacity
// providers and default strategy.
func (s *API) activeClusterInfo(ctx context.Context, id string) (clusterInfo, error) {
	var out clusterInfo
	name, err := s.clusterName(id)
	if err != nil {
		return out, err
	}
	out.name = name
	resp, err := s.Store.Range(ctx, store.Range{From: clusterKey(name)})
	if err != nil {
		return out, fmt.Errorf("get cluster %s: %w", name, err)
	}
	var c struct {
		Status          string                                `json:"status"`
		Providers       []string                              `json:"capacityProviders"`
		DefaultStrategy []ecsapi.CapacityProviderStrategyItem `json:"defaultCapacityProviderStrategy"`
	}
	exists := len(resp.Items) > 0
	if exists {
		if err := json.Unmarshal(resp.Items[0].Value, &c); err != nil {
			return out, fmt.Errorf("decode cluster %s: %w", name, err)
		}
		out.crev = resp.Items[0].ModRev
	}
	if err := checkActive(&ecsapi.Cluster{Status: c.Status}, exists); err != nil {
		return out, err
	}
	out.rev, out.providers, out.defaultStrategy = resp.Revision, c.Providers, c.DefaultStrategy
	return out, nil
}

// DeleteCluster marks a cluster INACTIVE. As ECS, it refuses while container
// instances are registered (ACTIVE or DRAINING), while services are not yet
// INACTIVE, or while tasks are not STOPPED, checked in that order. The check
// and the write are one etcd transaction, so nothing can be added to the
// cluster between them. Deleting an INACTIVE cluster returns it unchanged.
func (s *API) DeleteCluster(ctx context.Context, in *ecsapi.DeleteClusterRequest) (*ecsapi.DeleteClusterResponse, error) {
	name, err := s.clusterName(in.Cluster)
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 20; attempt++ {
		var c ecsapi.Cluster
		crev, err := s.Store.Get(ctx, clusterKey(name), &c)
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierror.ClusterNotFound()
		}
		if err != nil {
			return nil, err
		}
		if c.Status != clusterActive {
			view, err := s.clusterView(ctx, &c, allClusterFields())
			return &ecsapi.DeleteClusterResponse{Cluster: view}, err
		}
		u, rev, err := s.clusterUsage(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := u.deleteBlocker(); err != nil {
			return nil, err
		}
		c.Status = clusterInactive
		done, err := s.commitClusterDelete(ctx, &c, crev, rev)
		if err != nil {
			return nil, err
		}
		if done {
			view, err := s.clusterView(ctx, &c, allClusterFields())
			return &ecsapi.DeleteClusterResponse{Cluster: view}, err
		}
	}
	return nil, fmt.Errorf("delete cluster %s: %w", name, store.ErrConflict)
}

// commitClusterDelete writes the INACTIVE cluster c, leased for
// InactiveClusterRetention, if the cluster record is still at crev and no
// instance, task or service of the cluster changed after usageRev. It
// reports whether it wrote.
func (s *API) commitClusterDelete(ctx context.Context, c *ecsapi.Cluster, crev, usageRev int64) (bool, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return false, fmt.Errorf("encode cluster %s: %w", c.ClusterName, err)
	}
	lease, err := s.Store.Grant(ctx, InactiveClusterRetention)
	if err != nil {
		return false, fmt.Errorf("grant lease for cluster %s: %w", c.ClusterName, err)
	}
	key := clusterKey(c.ClusterName)
	cmps := []store.Cmp{store.ModRevisionIs(key, crev)}
	for _, kind := range []string{"instances", "tasks", "services"} {
		cmps = append(cmps, store.UnchangedSince(prefixOf(kind, c.ClusterName), usageRev))
	}
	resp, err := s.Store.Txn(ctx, cmps, store.OpPutLeased(key, b, lease))
	if err != nil {
		return false, fmt.Errorf("delete cluster %s: %w", c.ClusterName, err)
	}
	if !resp.Succeeded {
		_ = s.Store.Revoke(ctx, lease)
	}
	return resp.Succeeded, nil
}

// clusterFields says which optional members a cluster view carries.
type clusterFields struct {
	settings, configurations, tags, statistics, attachments bool
}

// allClusterFields is what the mutating calls return: the whole record.
func allClusterFields() clusterFields {
	return clusterFields{settings: true, configurations: true, tags: true, attachments: true}
}

// parseClusterFields reads DescribeClusters' include list.
func parseClusterFields(include []ecsapi.ClusterField) (clusterFields, error) {
	var f clusterFields
	for _, v := range include {
		switch v {
		case "SETTINGS":
			f.settings = true
		case "CONFIGURATIONS":
			f.configurations = true
		case "TAGS":
			f.tags = true
		case "STATISTICS":
			f.statistics = true
		case "ATTACHMENTS":
			f.attachments = true
		default:
			return f, apierror.InvalidParameter("include should be one of [ATTACHMENTS,CONFIGURATIONS,SETTINGS,STATISTICS,TAGS]")
		}
	}
	return f, nil
}

// clusterView is the cluster as a response carries it: the record's members
// that f asks for, and counts computed from the cluster's instances, tasks
// and services (zero for an INACTIVE cluster).
func (s *API) clusterView(ctx context.Context, c *ecsapi.Cluster, f clusterFields) (*ecsapi.Cluster, error) {
	v := &ecsapi.Cluster{
		ClusterArn:                      c.ClusterArn,
		ClusterName:                     c.ClusterName,
		Status:                          c.Status,
		CapacityProviders:               c.CapacityProviders,
		DefaultCapacityProviderStrategy: c.DefaultCapacityProviderStrategy,
		ServiceConnectDefaults:          c.ServiceConnectDefaults,
		AttachmentsStatus:               c.AttachmentsStatus,
	}
	var u clusterUsage
	if c.Status == clusterActive {
		var err error
		if u, err = s.clusterCounts(ctx, c.ClusterName); err != nil {
			return nil, err
		}
	}
	v.RegisteredContainerInstancesCount = u.instances
	v.RunningTasksCount = u.total(func(l launchCounts) int32 { return l.running })
	v.PendingTasksCount = u.total(func(l launchCounts) int32 { return l.pending })
	v.ActiveServicesCount = u.total(func(l launchCounts) int32 { return l.activeServices })
	if f.settings {
		v.Settings = c.Settings
	}
	if f.configurations {
		v.Configuration = c.Configuration
	}
	if f.tags {
		v.Tags = c.Tags
	}
	if f.attachments {
		v.Attachments = c.Attachments
	}
	if f.statistics {
		v.Statistics = u.statistics()
	}
	return v, nil
}

// launchCounts counts tasks and services of one launch type.
type launchCounts struct {
	running, pending, activeServices, drainingServices int32
}

// clusterUsage is what a cluster holds, read at one etcd revision.
type clusterUsage struct {
	// instances counts container instances ACTIVE or DRAINING.
	instances int32
	// liveServices counts services not yet INACTIVE.
	liveServices int32
	// liveTasks counts tasks not yet STOPPED.
	liveTasks int32
	byLaunch  map[ecsapi.LaunchType]*launchCounts
}

func (u *clusterUsage) of(lt ecsapi.LaunchType) *launchCounts {
	if u.byLaunch == nil {
		u.byLaunch = map[ecsapi.LaunchType]*launchCounts{}
	}
	if u.byLaunch[lt] == nil {
		u.byLaunch[lt] = &launchCounts{}
	}
	return u.byLaunch[lt]
}

func (u *clusterUsage) total(get func(launchCounts) int32) int32 {
	var n int32
	for _, l := range u.byLaunch {
		n += get(*l)
	}
	return n
}

// deleteBlocker is the error DeleteCluster answers for what u holds, if any.
func (u *clusterUsage) deleteBlocker() error {
	switch {
	case u.instances > 0:
		return apierror.ClusterContainsInstances()
	case u.liveServices > 0:
		return apierror.ClusterContainsServices()
	case u.liveTasks > 0:
		return apierror.ClusterContainsTasks()
	}
	return nil
}

// statistics is DescribeClusters' STATISTICS list: task and service counts
// by launch type, every name always present, in the order ECS sends them.
func (u *clusterUsage) statistics() []ecsapi.KeyValuePair {
	type stat struct {
		name string
		lt   ecsapi.LaunchType
		get  func(launchCounts) int32
	}
	running := func(l launchCounts) int32 { return l.running }
	pending := func(l launchCounts) int32 { return l.pending }
	active := func(l launchCounts) int32 { return l.activeServices }
	draining := func(l launchCounts) int32 { return l.drainingServices }
	stats := []stat{
		{"runningEC2TasksCount", "EC2", running},
		{"runningFargateTasksCount", "FARGATE", running},
		{"pendingEC2TasksCount", "EC2", pending},
		{"pendingFargateTasksCount", "FARGATE", pending},
		{"runningExternalTasksCount", "EXTERNAL", running},
		{"pendingExternalTasksCount", "EXTERNAL", pending},
		{"runningManagedInstancesTasksCount", "MANAGED_INSTANCES", running},
		{"pendingManagedInstancesTasksCount", "MANAGED_INSTANCES", pending},
		{"activeEC2ServiceCount", "EC2", active},
		{"activeFargateServiceCount", "FARGATE", active},
		{"drainingEC2ServiceCount", "EC2", draining},
		{"drainingFargateServiceCount", "FARGATE", draining},
		{"activeExternalServiceCount", "EXTERNAL", active},
		{"drainingExternalServiceCount", "EXTERNAL", draining},
		{"activeManagedInstancesServiceCount", "MANAGED_INSTANCES", active},
		{"drainingManagedInstancesServiceCount", "MANAGED_INSTANCES", draining},
	}
	out := make([]ecsapi.KeyValuePair, 0, len(stats))
	for _, st := range stats {
		var n int32
		if l := u.byLaunch[st.lt]; l != nil {
			n = st.get(*l)
		}
		out = append(out, ecsapi.KeyValuePair{Name: st.name, Value: itoa(int64(n))})
	}
	return out
}

// clusterUsage reads the instances, tasks and services of cluster name at
// one etcd revision, which it returns.
func (s *API) clusterUsage(ctx context.Context, name string) (clusterUsage, int64, error) {
	var u clusterUsage
	list := func(kind string, rev int64) (store.RangeResult, error) {
		p := prefixOf(kind, name)
		return s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p), Rev: rev})
	}
	resp, err := list("instances", 0)
	if err != nil {
		return u, 0, fmt.Errorf("list instances of %s: %w", name, err)
	}
	rev := resp.Revision
	for _, kv := range resp.Items {
		var r instanceRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return u, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if st := r.Instance.Status; st == "ACTIVE" || st == "DRAINING" {
			u.instances++
		}
	}
	if resp, err = list("tasks", rev); err != nil {
		return u, 0, fmt.Errorf("list tasks of %s: %w", name, err)
	}
	for _, kv := range resp.Items {
		var r taskRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return u, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		u.addTask(&r.Task)
	}
	if resp, err = list("services", rev); err != nil {
		return u, 0, fmt.Errorf("list services of %s: %w", name, err)
	}
	for _, kv := range resp.Items {
		var svc ecsapi.Service
		if err := json.Unmarshal(kv.Value, &svc); err != nil {
			return u, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		u.addService(&svc)
	}
	return u, rev, nil
}

// clusterCounts is what cluster name holds, for DescribeClusters: its
// instances and tasks counted by the placement views (which keep a few
// members of every task, so no task record is decoded), its services read
// from the store with only the members the counts need decoded. Unlike
// clusterUsage, the parts are not read at one revision; each reflects
// every write committed before the call.
func (s *API) clusterCounts(ctx context.Context, name string) (clusterUsage, error) {
	var u clusterUsage
	views, err := s.placementViews(ctx)
	if err != nil {
		return u, err
	}
	instances, tasks := views.ClusterCounts(ctx, name)
	u.instances = instances
	for lt, n := range tasks {
		l := u.of(ecsapi.LaunchType(lt))
		l.running += n.Running
		l.pending += n.Pending
		u.liveTasks += n.Live
	}
	p := prefixOf("services", name)
	resp, err := s.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return u, fmt.Errorf("list services of %s: %w", name, err)
	}
	for _, kv := range resp.Items {
		var svc countedService
		if err := json.Unmarshal(kv.Value, &svc); err != nil {
			return u, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		u.addService(&ecsapi.Service{Status: svc.Status, LaunchType: svc.LaunchType, CapacityProviderStrategy: svc.CapacityProviderStrategy})
	}
	return u, nil
}

// countedService is the part of a service record a cluster's counts read;
// its events, deployments and task sets, most of the record, are skipped.
type countedService struct {
	Status                   string                                `json:"status"`
	LaunchType               ecsapi.LaunchType                     `json:"launchType"`
	CapacityProviderStrategy []ecsapi.CapacityProviderStrategyItem `json:"capacityProviderStrategy"`
	Events                   skipJSON                              `json:"events"`
	Deployments              skipJSON                              `json:"deployments"`
	TaskSets                 skipJSON                              `json:"taskSets"`
}

// skipJSON decodes any JSON value to nothing.
type skipJSON struct{}

// UnmarshalJSON ignores b.
func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

func (u *clusterUsage) addTask(t *ecsapi.Task) {
	if t.LastStatus != "STOPPED" {
		u.liveTasks++
	}
	l := u.of(taskLaunchType(t))
	switch t.LastStatus {
	case "RUNNING":
		l.running++
	case "PENDING":
		l.pending++
	}
}

func (u *clusterUsage) addService(svc *ecsapi.Service) {
	if svc.Status != "INACTIVE" {
		u.liveServices++
	}
	l := u.of(serviceLaunchType(svc))
	switch svc.Status {
	case "ACTIVE":
		l.activeServices++
	case "DRAINING":
		l.drainingServices++
	}
}

// taskLaunchType is the launch type a task counts under: its own, else
// FARGATE for the Fargate capacity providers, else EC2.
func taskLaunchType(t *ecsapi.Task) ecsapi.LaunchType {
	return ecsapi.LaunchType(state.LaunchBucket(string(t.LaunchType), t.CapacityProviderName))
}

// serviceLaunchType is the launch type a service counts under.
func serviceLaunchType(svc *ecsapi.Service) ecsapi.LaunchType {
	if svc.LaunchType != "" {
		return svc.LaunchType
	}
	for _, item := range svc.CapacityProviderStrategy {
		if strings.HasPrefix(item.CapacityProvider, "FARGATE") {
			return "FARGATE"
		}
	}
	return "EC2"
}

// validateNewCluster checks the members of a CreateCluster request other
// than its name.
func validateNewCluster(in *ecsapi.CreateClusterRequest) error {
	if err := validateTags(in.Tags); err != nil {
		return err
	}
	if err := validateClusterSettings(in.Settings); err != nil {
		return err
	}
	if err := validateClusterConfiguration(in.Configuration); err != nil {
		return err
	}
	return validateServiceConnectDefaults(in.ServiceConnectDefaults, false)
}

// validateClusterSettings accepts containerInsights set to enabled,
// disabled or enhanced, the only cluster setting ECS has.
func validateClusterSettings(settings []ecsapi.ClusterSetting) error {
	for _, st := range settings {
		if st.Name != "containerInsights" {
			return apierror.InvalidParameter("Invalid setting 'name'")
		}
		switch st.Value {
		case "enabled", "disabled", "enhanced":
		default:
			return apierror.InvalidParameter("Invalid setting 'value'")
		}
	}
	return nil
}

// validateClusterConfiguration checks the execute command logging mode and
// that OVERRIDE comes with a log configuration.
func validateClusterConfiguration(c *ecsapi.ClusterConfiguration) error {
	if c == nil || c.ExecuteCommandConfiguration == nil {
		return nil
	}
	ec := c.ExecuteCommandConfiguration
	switch ec.Logging {
	case "", "NONE", "DEFAULT":
	case "OVERRIDE":
		if ec.LogConfiguration == nil {
			return apierror.InvalidParameter("The logConfiguration must be specified when logging is OVERRIDE.")
		}
	default:
		return apierror.InvalidParameter("Invalid value for logging: %s. Valid values are NONE, DEFAULT, OVERRIDE.", ec.Logging)
	}
	return nil
}

// validateServiceConnectDefaults checks a namespace name: up to 1024
// characters, none of > < " /, except in an ARN. An empty namespace removes
// the default, which only UpdateCluster allows.
func validateServiceConnectDefaults(d *ecsapi.ClusterServiceConnectDefaultsRequest, update bool) error {
	if d == nil {
		return nil
	}
	ns := d.Namespace
	if ns == "" && !update {
		return apierror.InvalidParameter("1 validation error detected: Value null at 'serviceConnectDefaults.namespace' failed to satisfy constraint: Member must not be null")
	}
	if strings.HasPrefix(ns, "arn:") {
		return nil
	}
	if len(ns) > 1024 || strings.ContainsAny(ns, `<>"/`) {
		return apierror.InvalidParameter("Invalid namespace name: %s. It can have up to 1024 characters and can't include >, <, \" or /.", ns)
	}
	return nil
}

// serviceConnectDefaults is the stored form of a requested default
// namespace: nil when the request removes it.
func serviceConnectDefaults(d *ecsapi.ClusterServiceConnectDefaultsRequest) *ecsapi.ClusterServiceConnectDefaults {
	if d == nil || d.Namespace == "" {
		return nil
	}
	return &ecsapi.ClusterServiceConnectDefaults{Namespace: d.Namespace}
}

// mergeClusterSettings returns cur with each of upd set by name.
func mergeClusterSettings(cur, upd []ecsapi.ClusterSetting) []ecsapi.ClusterSetting {
	out := append([]ecsapi.ClusterSetting(nil), cur...)
	for _, u := range upd {
		found := false
		for i := range out {
			if out[i].Name == u.Name {
				out[i].Value, found = u.Value, true
			}
		}
		if !found {
			out = append(out, u)
		}
	}
	return out
}

// clusterSettingsWithDefault returns the settings of a new cluster: those
// given, and containerInsights from the caller's effective account setting
// when not given.
func (s *API) clusterSettingsWithDefault(ctx context.Context, given []ecsapi.ClusterSetting) ([]ecsapi.ClusterSetting, error) {
	settings := mergeClusterSettings(nil, given)
	for _, st := range settings {
		if st.Name == "containerInsights" {
			return settings, nil
		}
	}
	principal, err := s.settingPrincipal(ctx, "")
	if err != nil {
		// A caller outside the account has no settings of its own here.
		principal = s.rootPrincipal()
	}
	eff, err := s.effectiveSetting(ctx, principal, "containerInsights")
	if err != nil {
		return nil, err
	}
	return append(settings, ecsapi.ClusterSetting{Name: "containerInsights", Value: eff.Value}), nil
}
