package ecs

import (
	"regexp"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// arn builds arn:aws:ecs:REGION:ACCOUNT:RESOURCE.
func (s *API) arn(resource string) string {
	return "arn:aws:ecs:" + s.Region + ":" + s.Account + ":" + resource
}

// ClusterARN is the ARN of cluster name.
func (s *API) ClusterARN(name string) string { return s.arn("cluster/" + name) }

// TaskDefinitionARN is the ARN of family:revision.
func (s *API) TaskDefinitionARN(family string, rev int32) string {
	return s.arn("task-definition/" + family + ":" + itoa(int64(rev)))
}

// TaskARN is the ARN of task id in cluster.
func (s *API) TaskARN(cluster, id string) string { return s.arn("task/" + cluster + "/" + id) }

// ServiceARN is the ARN of service name in cluster.
func (s *API) ServiceARN(cluster, name string) string {
	return s.arn("service/" + cluster + "/" + name)
}

// ContainerInstanceARN is the ARN of container instance id in cluster.
func (s *API) ContainerInstanceARN(cluster, id string) string {
	return s.arn("container-instance/" + cluster + "/" + id)
}

// ContainerARN is the ARN of a container of a task.
func (s *API) ContainerARN(cluster, taskID, containerID string) string {
	return s.arn("container/" + cluster + "/" + taskID + "/" + containerID)
}

// DefaultCluster is the cluster of calls that name none.
const DefaultCluster = "default"

var clusterNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,255}$`)

// ParsedARN is an ECS ARN split into its parts.
type ParsedARN struct {
	Region, Account string
	// Type is the resource type: cluster, task, service, ...
	Type string
	// Path is what follows "TYPE/".
	Path string
}

// ParseARN splits an ECS ARN; ok is false if s is not one.
func ParseARN(s string) (ParsedARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ecs" {
		return ParsedARN{}, false
	}
	typ, path, ok := strings.Cut(parts[5], "/")
	if !ok {
		return ParsedARN{}, false
	}
	return ParsedARN{Region: parts[3], Account: parts[4], Type: typ, Path: path}, true
}

// clusterName resolves a cluster given by name or ARN ("" means default).
// A malformed identifier is InvalidParameterException; a well-formed ARN of
// another region or account names a cluster that cannot exist here, so it is
// ClusterNotFoundException.
func (s *API) clusterName(id string) (string, error) {
	if id == "" {
		return DefaultCluster, nil
	}
	if strings.HasPrefix(id, "arn:") {
		a, ok := ParseARN(id)
		if !ok || a.Type != "cluster" || !clusterNameRE.MatchString(a.Path) {
			return "", apierror.InvalidParameter("Invalid identifier: Identifier is for %s. Your identifier should be a valid cluster name or ARN.", id)
		}
		if a.Region != s.Region || a.Account != s.Account {
			return "", apierror.ClusterNotFound()
		}
		return a.Path, nil
	}
	if !clusterNameRE.MatchString(id) {
		return "", apierror.InvalidParameter("Invalid identifier: Unexpected format for cluster: %s. Your identifier should be a valid cluster name or ARN.", id)
	}
	return id, nil
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var buf [21]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
