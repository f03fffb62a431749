package authz

import (
	"reflect"
	"strings"
)

// iamPrefixes maps a SigV4 signing name to the service prefix of IAM
// actions, where they differ.
var iamPrefixes = map[string]string{
	"monitoring": "cloudwatch",
}

// Action returns the IAM action of operation op of the service signed as
// signingName: "ecs:RunTask", "cloudwatch:PutMetricData".
func Action(signingName, op string) string {
	if p, ok := iamPrefixes[signingName]; ok {
		return p + ":" + op
	}
	return signingName + ":" + op
}

// ecsKind is the ECS resource type an operation acts on, where looking at
// which members its input has would choose another (the Service
// Authorization Reference's resource types).
var ecsKind = map[string]string{
	"SubmitTaskStateChange":         "cluster",
	"SubmitContainerStateChange":    "cluster",
	"SubmitAttachmentStateChanges":  "cluster",
	"RegisterContainerInstance":     "cluster",
	"DeregisterContainerInstance":   "cluster",
	"ListServices":                  "cluster",
	"ListContainerInstances":        "cluster",
	"PutAttributes":                 "cluster",
	"DeleteAttributes":              "cluster",
	"ListAttributes":                "cluster",
	"ListTasks":                     "container-instance",
	"GantryPollTasks":               "container-instance",
	"GantryPutLogEvents":            "container-instance",
	"GantryPutTaskMetrics":          "container-instance",
	"GantrySubmitTaskState":         "task",
	"ListServicesByNamespace":       "*",
	"ListClusters":                  "*",
	"ListTaskDefinitions":           "*",
	"ListTaskDefinitionFamilies":    "*",
	"RegisterTaskDefinition":        "*",
	"ListAccountSettings":           "*",
	"PutAccountSetting":             "*",
	"PutAccountSettingDefault":      "*",
	"DeleteAccountSetting":          "*",
	"DiscoverPollEndpoint":          "*",
	"GantryDiscoverPollEndpoints":   "*",
	"DescribeCapacityProviders":     "*",
	"CreateCapacityProvider":        "*",
	"DescribeServiceDeployments":    "*",
	"ListServiceDeployments":        "*",
	"DescribeServiceRevisions":      "*",
	"UpdateContainerInstancesState": "container-instance",
	"UpdateTaskSet":                 "task-set",
	"DeleteTaskSet":                 "task-set",
}

// Resources returns the ARNs of what operation op of the service signed as
// signingName acts on, as the input in (a pointer to its input struct)
// names them, and the cluster ARN for the ecs:cluster condition key ("" when
// the input names none). Where the resource cannot be told from the input
// it returns ["*"].
func Resources(region, account, signingName, op string, in any) (resources []string, cluster string) {
	v := reflect.ValueOf(in)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return []string{"*"}, ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return []string{"*"}, ""
	}
	a := arns{prefix: "arn:aws:" + signingName + ":" + region + ":" + account + ":"}
	switch signingName {
	case "ecs":
		return a.ecs(op, v)
	case "logs":
		if g := str(v, "LogGroupName"); g != "" {
			return []string{a.prefix + "log-group:" + g}, ""
		}
		if g := str(v, "LogGroupIdentifier"); g != "" {
			if strings.HasPrefix(g, "arn:") {
				return []string{strings.TrimSuffix(g, ":*")}, ""
			}
			return []string{a.prefix + "log-group:" + g}, ""
		}
	case "ecr":
		if r := str(v, "RepositoryName"); r != "" {
			return []string{a.prefix + "repository/" + r}, ""
		}
	case "monitoring":
		a.prefix = "arn:aws:cloudwatch:" + region + ":" + account + ":"
		if n := str(v, "AlarmName"); n != "" {
			return []string{a.prefix + "alarm:" + n}, ""
		}
		if ns := list(v, "AlarmNames"); len(ns) > 0 {
			out := make([]string, len(ns))
			for i, n := range ns {
				out[i] = a.prefix + "alarm:" + n
			}
			return out, ""
		}
	}
	// Elastic Load Balancing and the rest name their resources by ARN.
	if out := arnMembers(v); len(out) > 0 {
		return out, ""
	}
	return []string{"*"}, ""
}

// arnMembers returns the values of the top-level members whose names end
// in Arn or Arns (ResourceArn, LoadBalancerArn, TargetGroupArns...).
func arnMembers(v reflect.Value) []string {
	var out []string
	ti := infoOf(v.Type())
	for _, i := range ti.arns {
		if s := v.Field(i).String(); strings.HasPrefix(s, "arn:") {
			out = append(out, s)
		}
	}
	for _, i := range ti.arnsL {
		for j := range v.Field(i).Len() {
			if s := v.Field(i).Index(j).String(); strings.HasPrefix(s, "arn:") {
				out = append(out, s)
			}
		}
	}
	return out
}

type arns struct{ prefix string }

// cluster returns the ARN of a cluster given by name or ARN ("default"
// when empty).
func (a arns) cluster(c string) string {
	if strings.HasPrefix(c, "arn:") {
		return c
	}
	if c == "" {
		c = "default"
	}
	return a.prefix + "cluster/" + c
}

// clusterName returns the name in a cluster ARN or name.
func clusterName(c string) string {
	if i := strings.LastIndex(c, "cluster/"); strings.HasPrefix(c, "arn:") && i >= 0 {
		return c[i+len("cluster/"):]
	}
	if c == "" {
		return "default"
	}
	return c
}

// child returns the ARN of a kind/cluster/id resource given by ID or ARN.
func (a arns) child(kind, cluster, id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	return a.prefix + kind + "/" + clusterName(cluster) + "/" + id
}

func (a arns) taskDefinition(td string) string {
	if strings.HasPrefix(td, "arn:") {
		return td
	}
	if !strings.Contains(td, ":") {
		// A family alone means its latest ACTIVE revision; policies name
		// revisions as family:N or family:*.
		td += ":*"
	}
	return a.prefix + "task-definition/" + td
}

func (a arns) ecs(op string, v reflect.Value) ([]string, string) {
	hasCluster := hasField(v, "Cluster")
	c := str(v, "Cluster")
	var clusterARN string
	if hasCluster {
		clusterARN = a.cluster(c)
	}
	kind, ok := ecsKind[op]
	if !ok {
		switch {
		case str(v, "ResourceArn") != "":
			kind = "resource"
		case has(v, "Services") || has(v, "Service") || has(v, "ServiceName"):
			kind = "service"
		case has(v, "Tasks") || has(v, "Task"):
			kind = "task"
		case has(v, "ContainerInstances") || has(v, "ContainerInstance"):
			kind = "container-instance"
		case has(v, "TaskDefinition"):
			kind = "task-definition"
		case hasField(v, "Clusters"):
			kind = "clusters"
		case has(v, "ClusterName"):
			c = str(v, "ClusterName")
			clusterARN = a.cluster(c)
			kind = "cluster"
		case hasCluster:
			kind = "cluster"
		default:
			kind = "*"
		}
	}
	var out []string
	switch kind {
	case "resource":
		out = []string{str(v, "ResourceArn")}
	case "service":
		names := list(v, "Services")
		if n := str(v, "Service"); n != "" {
			names = append(names, n)
		}
		if n := str(v, "ServiceName"); n != "" && len(names) == 0 {
			names = append(names, n)
		}
		for _, n := range names {
			out = append(out, a.child("service", c, n))
		}
	case "task":
		ids := list(v, "Tasks")
		if t := str(v, "Task"); t != "" {
			ids = append(ids, t)
		}
		for _, id := range ids {
			out = append(out, a.child("task", c, id))
		}
	case "container-instance":
		ids := list(v, "ContainerInstances")
		if ci := str(v, "ContainerInstance"); ci != "" {
			ids = append(ids, ci)
		}
		for _, id := range ids {
			out = append(out, a.child("container-instance", c, id))
		}
		if len(out) == 0 && clusterARN != "" {
			out = []string{clusterARN}
		}
	case "task-set":
		// task-set/CLUSTER/SERVICE/ecs-svc/N, as the Service
		// Authorization Reference names it.
		if ts := str(v, "TaskSet"); strings.HasPrefix(ts, "arn:") {
			out = []string{ts}
		} else if ts != "" {
			svc := str(v, "Service")
			if i := strings.LastIndex(svc, "/"); strings.HasPrefix(svc, "arn:") && i >= 0 {
				svc = svc[i+1:]
			}
			out = []string{a.prefix + "task-set/" + clusterName(c) + "/" + svc + "/" + ts}
		}
	case "task-definition":
		if td := str(v, "TaskDefinition"); td != "" {
			out = []string{a.taskDefinition(td)}
		}
	case "clusters":
		for _, n := range list(v, "Clusters") {
			out = append(out, a.cluster(n))
		}
		if len(out) == 0 {
			out = []string{a.cluster("")}
		}
	case "cluster":
		if clusterARN != "" {
			out = []string{clusterARN}
		}
	}
	if len(out) == 0 {
		out = []string{"*"}
	}
	return out, clusterARN
}

// str returns the string member name of v, "" when there is none.
func str(v reflect.Value, name string) string {
	f, ok := field(v, name)
	if !ok || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

// list returns the []string member name of v.
func list(v reflect.Value, name string) []string {
	f, ok := field(v, name)
	if !ok || f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.String || f.Len() == 0 {
		return nil
	}
	out := make([]string, f.Len())
	for i := range out {
		out[i] = f.Index(i).String()
	}
	return out
}

// hasField reports whether v's type has a member name.
func hasField(v reflect.Value, name string) bool {
	_, ok := field(v, name)
	return ok
}

// has reports whether v has a member name with a value.
func has(v reflect.Value, name string) bool {
	f, ok := field(v, name)
	return ok && !f.IsZero()
}
