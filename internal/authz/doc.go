// Package authz decides, after SigV4 has said who signed a request and the
// router which operation it names, whether the caller may make the call.
//
// A key of --credentials-file with a policy document may do what its policy
// allows, as IAM evaluates identity-based policies (internal/iampolicy): the
// action is "<prefix>:<Operation>" with the service's IAM prefix (ecs,
// elasticloadbalancing, logs, cloudwatch, application-autoscaling, ecr), the
// resources are the ARNs the input names where Gantry can tell them
// (Resources), else "*", and every resource must be allowed. A key without
// a policy is an administrator. A refused call gets AccessDeniedException
// with AWS's message and never reaches the operation.
//
// Agent identity: an instance key (issued to a container instance when it
// registers) may make only the agent's operations, and only for its own
// instance and the tasks assigned to it (Instances answers which).
package authz
