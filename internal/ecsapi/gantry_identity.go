package ecsapi

// GantryIssueInstanceCredentialsRequest asks for a container instance's own
// access key (agent identity). The caller is the agent that registered the
// instance, with its join key (a key allowed ecs:RegisterContainerInstance
// on the cluster) or with the instance's current key (rotation).
type GantryIssueInstanceCredentialsRequest struct {
	Cluster           string `json:"cluster,omitempty"`
	ContainerInstance string `json:"containerInstance" required:"true"`
}

// GantryIssueInstanceCredentialsResponse is the instance's new key. The
// key it replaces, if any, stays valid for GraceSeconds more.
type GantryIssueInstanceCredentialsResponse struct {
	AccessKeyId     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	// Principal is the ARN requests signed with the key act as: the
	// container instance's.
	Principal string `json:"principal"`
	// RotateAfterSeconds is when the agent should ask for the next key.
	RotateAfterSeconds int64 `json:"rotateAfterSeconds"`
	// GraceSeconds is how long the replaced key stays valid.
	GraceSeconds int64 `json:"graceSeconds"`
}
