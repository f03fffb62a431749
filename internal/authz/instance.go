package authz

import "context"

// Instance is a container instance whose own key signed a request.
type Instance struct {
	// Cluster and ContainerInstance are the ARNs of the instance.
	Cluster           string
	ContainerInstance string
}

// Instances knows the container instances' own keys and what they may
// touch.
type Instances interface {
	// Instance returns the instance whose key akid is, if it is one.
	Instance(akid string) (Instance, bool)
	// TaskOwner returns the ARN of the container instance task (an ARN
	// or ID in cluster) is assigned to, or "" when it is unknown.
	TaskOwner(ctx context.Context, cluster, task string) (string, error)
}

func (a *Authorizer) authorizeInstance(ctx context.Context, c *Call, inst Instance) error {
	return nil
}
