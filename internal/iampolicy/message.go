package iampolicy

// DeniedMessage returns the message AWS gives with AccessDeniedException
// when identity-based policies refuse a call:
//
//	User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:cluster/prod because no identity-based policy allows the ecs:RunTask action
//
// for ImplicitDeny, and for ExplicitDeny
//
//	User: ... is not authorized to perform: ecs:RunTask on resource: ... with an explicit deny in an identity-based policy
//
// principal is the caller's ARN ("User:" is AWS's label for users and role
// sessions alike). It returns "" for Allow.
func DeniedMessage(principal, action, resource string, d Decision) string {
	head := "User: " + principal + " is not authorized to perform: " + action + " on resource: " + resource
	switch d {
	case ImplicitDeny:
		return head + " because no identity-based policy allows the " + action + " action"
	case ExplicitDeny:
		return head + " with an explicit deny in an identity-based policy"
	}
	return ""
}

// DeniedByResourcePolicyMessage returns the message AWS gives with
// AccessDeniedException when a resource-based policy (an ECR repository
// policy) refuses a call with an explicit Deny:
//
//	User: ... is not authorized to perform: ecr:BatchDeleteImage on resource: ... with an explicit deny in a resource-based policy
func DeniedByResourcePolicyMessage(principal, action, resource string) string {
	return "User: " + principal + " is not authorized to perform: " + action + " on resource: " + resource +
		" with an explicit deny in a resource-based policy"
}
