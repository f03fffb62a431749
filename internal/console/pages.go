package console

import (
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func (h *Handler) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"assets/{name}", h.serveAsset)
	m.HandleFunc("GET "+Prefix+"signin", h.signInForm)
	m.HandleFunc("POST "+Prefix+"signin", h.signIn)
	m.HandleFunc("POST "+Prefix+"signout", h.signOut)
	m.HandleFunc("GET "+Prefix+"{$}", h.page("clusters", h.clustersPage))
	m.HandleFunc("GET "+Prefix+"clusters/{cluster}", h.page("cluster", h.clusterPage))
	m.HandleFunc("GET "+Prefix+"clusters/{cluster}/services/{service}", h.page("service", h.servicePage))
	m.HandleFunc("GET "+Prefix+"clusters/{cluster}/tasks/{task}", h.page("task", h.taskPage))
	m.HandleFunc("GET "+Prefix+"clusters/{cluster}/instances/{instance}", h.page("instance", h.instancePage))
	m.HandleFunc("GET "+Prefix+"taskdefs", h.page("taskdefs", h.taskDefsPage))
	m.HandleFunc("GET "+Prefix+"taskdefs/{family}", h.page("family", h.familyPage))
	m.HandleFunc("GET "+Prefix+"taskdefs/{family}/{revision}", h.page("taskdef", h.taskDefPage))
	m.HandleFunc("GET "+Prefix+"loadbalancers", h.page("loadbalancers", h.loadBalancersPage))
	m.HandleFunc("GET "+Prefix+"loadbalancers/{name}", h.page("loadbalancer", h.loadBalancerPage))
	m.HandleFunc("GET "+Prefix+"targetgroups/{name}", h.page("targetgroup", h.targetGroupPage))
	m.HandleFunc("GET "+Prefix+"logs", h.page("logs", h.logGroupsPage))
	m.HandleFunc("GET "+Prefix+"logs/group", h.page("loggroup", h.logGroupPage))
	m.HandleFunc("GET "+Prefix+"metrics", h.page("metrics", h.metricsPage))
	m.HandleFunc("GET "+Prefix+"alarms", h.page("alarms", h.alarmsPage))
	m.HandleFunc("GET "+Prefix+"repositories", h.page("repositories", h.repositoriesPage))
	m.HandleFunc("GET "+Prefix+"repositories/{name...}", h.page("repository", h.repositoryPage))
	m.HandleFunc("POST "+Prefix+"do/{action}", h.action)
	m.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		s := h.session(r)
		if s == nil {
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		h.render(w, r, s, "error", &view{Title: "Not found", NoLive: true, Data: map[string]string{"Code": "NotFound", "Message": "There is no console page at " + r.URL.Path + "."}})
	})
	h.mux = m
}

// call runs op as the session's key and returns its output as *O.
func call[O any](h *Handler, r *http.Request, s *session, service, op string, in any) (*O, error) {
	out, err := h.backend.Invoke(r.Context(), r, s.key, service, op, in)
	if err != nil {
		return nil, err
	}
	o, ok := out.(*O)
	if !ok || o == nil {
		return nil, fmt.Errorf("console: %s %s returned %T", service, op, out)
	}
	return o, nil
}

// can reports whether the session's key may call op with in.
func (h *Handler) can(r *http.Request, s *session, op string, in any) bool {
	return h.backend.Allowed(r.Context(), r, s.key, "ecs", op, in) == nil
}

func i32(v int32) *int32 { return &v }

// pageSize is how many services, tasks or instances a list shows at once.
const pageSize = 100

// clusterRow is one cluster on the clusters page.
type clusterRow struct {
	ecsapi.Cluster
	CPU, Memory capacity
}

// capacity is a resource's registered and remaining units.
type capacity struct{ Registered, Remaining int64 }

// Used is what the tasks placed hold.
func (c capacity) Used() int64 { return c.Registered - c.Remaining }

func (h *Handler) clustersPage(r *http.Request, s *session) (*view, error) {
	var arns []string
	token := ""
	for {
		out, err := call[ecsapi.ListClustersResponse](h, r, s, "ecs", "ListClusters", &ecsapi.ListClustersRequest{NextToken: token, MaxResults: i32(100)})
		if err != nil {
			return nil, err
		}
		arns = append(arns, out.ClusterArns...)
		if token = out.NextToken; token == "" || len(arns) >= 1000 {
			break
		}
	}
	var rows []clusterRow
	for chunk := range slices.Chunk(arns, 100) {
		out, err := call[ecsapi.DescribeClustersResponse](h, r, s, "ecs", "DescribeClusters", &ecsapi.DescribeClustersRequest{Clusters: chunk})
		if err != nil {
			return nil, err
		}
		for _, c := range out.Clusters {
			row := clusterRow{Cluster: c}
			if c.RegisteredContainerInstancesCount > 0 {
				insts, err := h.instances(r, s, c.ClusterName, "")
				if err == nil {
					for _, ci := range insts.Items {
						row.CPU.add(ci, "CPU")
						row.Memory.add(ci, "MEMORY")
					}
				}
			}
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b clusterRow) int { return cmp.Compare(a.ClusterName, b.ClusterName) })
	return &view{Title: "Clusters", Data: rows}, nil
}

func (c *capacity) add(ci ecsapi.ContainerInstance, name string) {
	c.Registered += resource(ci.RegisteredResources, name)
	c.Remaining += resource(ci.RemainingResources, name)
}

func resource(rs []ecsapi.Resource, name string) int64 {
	for _, r := range rs {
		if r.Name == name {
			switch r.Type {
			case "LONG":
				return r.LongValue
			case "DOUBLE":
				return int64(r.DoubleValue)
			}
			return int64(r.IntegerValue)
		}
	}
	return 0
}

// listPage is one page of a list with the token of the next.
type listPage[T any] struct {
	Items []T
	Next  string
}

func (h *Handler) instances(r *http.Request, s *session, cluster, token string) (*listPage[ecsapi.ContainerInstance], error) {
	out, err := call[ecsapi.ListContainerInstancesResponse](h, r, s, "ecs", "ListContainerInstances",
		&ecsapi.ListContainerInstancesRequest{Cluster: cluster, NextToken: token, MaxResults: i32(pageSize)})
	if err != nil {
		return nil, err
	}
	p := &listPage[ecsapi.ContainerInstance]{Next: out.NextToken}
	if len(out.ContainerInstanceArns) == 0 {
		return p, nil
	}
	d, err := call[ecsapi.DescribeContainerInstancesResponse](h, r, s, "ecs", "DescribeContainerInstances",
		&ecsapi.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: out.ContainerInstanceArns})
	if err != nil {
		return nil, err
	}
	p.Items = d.ContainerInstances
	return p, nil
}

func (h *Handler) services(r *http.Request, s *session, cluster, token string) (*listPage[ecsapi.Service], error) {
	out, err := call[ecsapi.ListServicesResponse](h, r, s, "ecs", "ListServices",
		&ecsapi.ListServicesRequest{Cluster: cluster, NextToken: token, MaxResults: i32(pageSize)})
	if err != nil {
		return nil, err
	}
	p := &listPage[ecsapi.Service]{Next: out.NextToken}
	for chunk := range slices.Chunk(out.ServiceArns, 10) {
		d, err := call[ecsapi.DescribeServicesResponse](h, r, s, "ecs", "DescribeServices",
			&ecsapi.DescribeServicesRequest{Cluster: cluster, Services: chunk})
		if err != nil {
			return nil, err
		}
		p.Items = append(p.Items, d.Services...)
	}
	slices.SortFunc(p.Items, func(a, b ecsapi.Service) int { return cmp.Compare(a.ServiceName, b.ServiceName) })
	return p, nil
}

func (h *Handler) tasks(r *http.Request, s *session, in *ecsapi.ListTasksRequest) (*listPage[ecsapi.Task], error) {
	in.MaxResults = i32(pageSize)
	out, err := call[ecsapi.ListTasksResponse](h, r, s, "ecs", "ListTasks", in)
	if err != nil {
		return nil, err
	}
	p := &listPage[ecsapi.Task]{Next: out.NextToken}
	if len(out.TaskArns) == 0 {
		return p, nil
	}
	d, err := call[ecsapi.DescribeTasksResponse](h, r, s, "ecs", "DescribeTasks",
		&ecsapi.DescribeTasksRequest{Cluster: in.Cluster, Tasks: out.TaskArns, Include: []ecsapi.TaskField{"TAGS"}})
	if err != nil {
		return nil, err
	}
	p.Items = d.Tasks
	slices.SortStableFunc(p.Items, func(a, b ecsapi.Task) int { return cmp.Compare(a.TaskArn, b.TaskArn) })
	return p, nil
}

// clusterData is the cluster page's.
type clusterData struct {
	Cluster   ecsapi.Cluster
	Services  *listPage[ecsapi.Service]
	Tasks     *listPage[ecsapi.Task]
	Instances *listPage[ecsapi.ContainerInstance]
	// Stopped: the task list shows stopped tasks.
	Stopped  bool
	Families []string
}

func (h *Handler) clusterPage(r *http.Request, s *session) (*view, error) {
	name := r.PathValue("cluster")
	q := r.URL.Query()
	dc, err := call[ecsapi.DescribeClustersResponse](h, r, s, "ecs", "DescribeClusters", &ecsapi.DescribeClustersRequest{Clusters: []string{name}})
	if err != nil {
		return nil, err
	}
	if len(dc.Clusters) == 0 {
		return nil, clusterNotFound(name)
	}
	d := &clusterData{Cluster: dc.Clusters[0], Stopped: q.Get("tasks") == "STOPPED"}
	name = d.Cluster.ClusterName
	if d.Services, err = h.services(r, s, name, q.Get("services_token")); err != nil {
		return nil, err
	}
	lt := &ecsapi.ListTasksRequest{Cluster: name, NextToken: q.Get("tasks_token")}
	if d.Stopped {
		lt.DesiredStatus = "STOPPED"
	}
	if d.Tasks, err = h.tasks(r, s, lt); err != nil {
		return nil, err
	}
	if d.Instances, err = h.instances(r, s, name, q.Get("instances_token")); err != nil {
		return nil, err
	}
	if fams, err := call[ecsapi.ListTaskDefinitionFamiliesResponse](h, r, s, "ecs", "ListTaskDefinitionFamilies",
		&ecsapi.ListTaskDefinitionFamiliesRequest{Status: "ACTIVE", MaxResults: i32(100)}); err == nil {
		d.Families = fams.Families
	}
	v := &view{Title: "Cluster " + name, Crumbs: []crumb{{"Clusters", Prefix}}, Data: d, Can: map[string]bool{
		"CreateService": h.can(r, s, "CreateService", &ecsapi.CreateServiceRequest{Cluster: name}),
		"RunTask":       h.can(r, s, "RunTask", &ecsapi.RunTaskRequest{Cluster: name}),
	}}
	return v, nil
}

// serviceData is the service page's.
type serviceData struct {
	Cluster string
	Service ecsapi.Service
	Tasks   *listPage[ecsapi.Task]
	// InProgress is the ARN of the service deployment under way, if any.
	InProgress string
	Events     []ecsapi.ServiceEvent
	// Targets are the service's target groups with their targets'
	// health; Scaling its autoscaling; Charts its CPU and memory.
	Targets []targetGroupHealth
	Scaling *scaling
	Charts  template.HTML
}

// CircuitBreaker describes the deployment circuit breaker's setting.
func (d *serviceData) CircuitBreaker() string {
	dc := d.Service.DeploymentConfiguration
	if dc == nil || dc.DeploymentCircuitBreaker == nil || !dc.DeploymentCircuitBreaker.Enable {
		return "off"
	}
	if dc.DeploymentCircuitBreaker.Rollback {
		return "on, with rollback"
	}
	return "on, without rollback"
}

func (h *Handler) servicePage(r *http.Request, s *session) (*view, error) {
	cluster, name := r.PathValue("cluster"), r.PathValue("service")
	ds, err := call[ecsapi.DescribeServicesResponse](h, r, s, "ecs", "DescribeServices",
		&ecsapi.DescribeServicesRequest{Cluster: cluster, Services: []string{name}, Include: []ecsapi.ServiceField{"TAGS"}})
	if err != nil {
		return nil, err
	}
	if len(ds.Services) == 0 {
		return nil, serviceNotFound(name)
	}
	d := &serviceData{Cluster: cluster, Service: ds.Services[0]}
	d.Events = d.Service.Events
	if len(d.Events) > 25 {
		d.Events = d.Events[:25]
	}
	if d.Tasks, err = h.tasks(r, s, &ecsapi.ListTasksRequest{Cluster: cluster, ServiceName: d.Service.ServiceName, NextToken: r.URL.Query().Get("tasks_token")}); err != nil {
		return nil, err
	}
	if l, err := call[ecsapi.ListServiceDeploymentsResponse](h, r, s, "ecs", "ListServiceDeployments",
		&ecsapi.ListServiceDeploymentsRequest{Cluster: cluster, Service: d.Service.ServiceName, Status: []ecsapi.ServiceDeploymentStatus{"PENDING", "IN_PROGRESS"}}); err == nil {
		for _, b := range l.ServiceDeployments {
			d.InProgress = b.ServiceDeploymentArn
		}
	}
	svc := d.Service.ServiceName
	var tgs []string
	for _, lb := range d.Service.LoadBalancers {
		if lb.TargetGroupArn != "" && !slices.Contains(tgs, lb.TargetGroupArn) {
			tgs = append(tgs, lb.TargetGroupArn)
		}
	}
	d.Targets = h.targetHealth(r, s, tgs)
	cname := cmp.Or(shortARN(d.Service.ClusterArn), cluster)
	d.Scaling = h.serviceScaling(r, s, cname, svc)
	d.Charts = h.serviceCharts(r, s, cname, svc)
	v := &view{Title: "Service " + svc, Crumbs: []crumb{{"Clusters", Prefix}, {cluster, Prefix + "clusters/" + cluster}}, Data: d, Can: map[string]bool{
		"UpdateService":         h.can(r, s, "UpdateService", &ecsapi.UpdateServiceRequest{Cluster: cluster, Service: svc}),
		"DeleteService":         h.can(r, s, "DeleteService", &ecsapi.DeleteServiceRequest{Cluster: cluster, Service: svc}),
		"StopServiceDeployment": d.InProgress != "" && h.can(r, s, "StopServiceDeployment", &ecsapi.StopServiceDeploymentRequest{ServiceDeploymentArn: d.InProgress}),
		"StopTask":              h.can(r, s, "StopTask", &ecsapi.StopTaskRequest{Cluster: cluster}),
	}}
	return v, nil
}

// taskData is the task page's.
type taskData struct {
	Cluster string
	Task    ecsapi.Task
	// Host is the host name the page was reached by, for port links.
	Host string
	Logs []containerLog
}

// containerLog is a container's recent log lines (awslogs).
type containerLog struct {
	Container, Group, Stream string
	Events                   []logLine
	Err                      string
}

type logLine struct {
	Time    *ecsapi.Timestamp
	Message string
}

func (h *Handler) taskPage(r *http.Request, s *session) (*view, error) {
	cluster, id := r.PathValue("cluster"), r.PathValue("task")
	dt, err := call[ecsapi.DescribeTasksResponse](h, r, s, "ecs", "DescribeTasks",
		&ecsapi.DescribeTasksRequest{Cluster: cluster, Tasks: []string{id}, Include: []ecsapi.TaskField{"TAGS"}})
	if err != nil {
		return nil, err
	}
	if len(dt.Tasks) == 0 {
		return nil, invalid("The task %s was not found in the cluster %s.", id, cluster)
	}
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	d := &taskData{Cluster: cluster, Task: dt.Tasks[0], Host: host}
	d.Logs = h.taskLogs(r, s, &d.Task)
	v := &view{Title: "Task " + shortARN(d.Task.TaskArn), Crumbs: []crumb{{"Clusters", Prefix}, {cluster, Prefix + "clusters/" + cluster}}, Data: d, Can: map[string]bool{
		"StopTask": d.Task.DesiredStatus != "STOPPED" && h.can(r, s, "StopTask", &ecsapi.StopTaskRequest{Cluster: cluster, Task: d.Task.TaskArn}),
	}}
	if g := d.Task.Group; strings.HasPrefix(g, "service:") {
		v.Crumbs = append(v.Crumbs, crumb{g[len("service:"):], Prefix + "clusters/" + cluster + "/services/" + g[len("service:"):]})
	}
	return v, nil
}

// instanceData is the container instance page's.
type instanceData struct {
	Cluster     string
	Instance    ecsapi.ContainerInstance
	CPU, Memory capacity
	Tasks       *listPage[ecsapi.Task]
}

func (h *Handler) instancePage(r *http.Request, s *session) (*view, error) {
	cluster, id := r.PathValue("cluster"), r.PathValue("instance")
	di, err := call[ecsapi.DescribeContainerInstancesResponse](h, r, s, "ecs", "DescribeContainerInstances",
		&ecsapi.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: []string{id}, Include: []ecsapi.ContainerInstanceField{"TAGS"}})
	if err != nil {
		return nil, err
	}
	if len(di.ContainerInstances) == 0 {
		return nil, invalid("The container instance %s was not found in the cluster %s.", id, cluster)
	}
	d := &instanceData{Cluster: cluster, Instance: di.ContainerInstances[0]}
	d.CPU.add(d.Instance, "CPU")
	d.Memory.add(d.Instance, "MEMORY")
	if d.Tasks, err = h.tasks(r, s, &ecsapi.ListTasksRequest{Cluster: cluster, ContainerInstance: d.Instance.ContainerInstanceArn}); err != nil {
		return nil, err
	}
	slices.SortFunc(d.Instance.Attributes, func(a, b ecsapi.Attribute) int { return cmp.Compare(a.Name, b.Name) })
	v := &view{Title: "Container instance " + shortARN(d.Instance.ContainerInstanceArn), Crumbs: []crumb{{"Clusters", Prefix}, {cluster, Prefix + "clusters/" + cluster}}, Data: d, Can: map[string]bool{
		"UpdateContainerInstancesState": h.can(r, s, "UpdateContainerInstancesState", &ecsapi.UpdateContainerInstancesStateRequest{Cluster: cluster, ContainerInstances: []string{d.Instance.ContainerInstanceArn}}),
	}}
	return v, nil
}
