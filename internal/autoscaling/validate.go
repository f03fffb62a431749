package autoscaling

import (
	"encoding/base64"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/autoscalingapi"
)

// enumError is AWS's message for a value outside a member's enumeration.
func enumError[E ~string](member string, v E, values []E) error {
	s := make([]string, len(values))
	for i, x := range values {
		s[i] = string(x)
	}
	return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
		v, member, strings.Join(s, ", "))
}

// checkNamespace checks a ServiceNamespace: any value of the enumeration
// is well formed; supported reports whether it is ecs.
func checkNamespace(ns autoscalingapi.ServiceNamespace) (supported bool, err error) {
	if !slices.Contains(ns.Values(), ns) {
		return false, enumError("serviceNamespace", ns, ns.Values())
	}
	return ns == NamespaceECS, nil
}

// checkDimension checks a ScalableDimension of the enumeration (empty is
// allowed: the filters of the Describe operations).
func checkDimension(d autoscalingapi.ScalableDimension) error {
	if d != "" && !slices.Contains(d.Values(), d) {
		return enumError("scalableDimension", d, d.Values())
	}
	return nil
}

// errDimensionWithoutResource refuses a Describe filter on a dimension
// alone, as AWS documents.
var errDimensionWithoutResource = validation("If you specify a scalable dimension, you must also specify a resource ID")

// service is an ECS service a resource ID names.
type service struct{ cluster, name string }

// parseResourceID reads service/<cluster>/<service>.
func parseResourceID(id string) (service, error) {
	if err := checkLength("resourceId", id, 1, 1600); err != nil {
		return service{}, err
	}
	parts := strings.Split(id, "/")
	if len(parts) != 3 || parts[0] != "service" || parts[1] == "" || parts[2] == "" {
		return service{}, validation("Unsupported resource ID %s: the resource ID of an ECS service is service/<cluster name>/<service name>", id)
	}
	return service{cluster: parts[1], name: parts[2]}, nil
}

// checkTarget checks the namespace, resource ID and dimension that name a
// scalable target in a mutating call.
func checkTarget(ns autoscalingapi.ServiceNamespace, resourceID string, dim autoscalingapi.ScalableDimension) (service, error) {
	ok, err := checkNamespace(ns)
	if err != nil {
		return service{}, err
	}
	if err := checkDimension(dim); err != nil {
		return service{}, err
	}
	if !ok || dim != DimensionDesired {
		return service{}, validation("Unsupported service namespace, resource type or scalable dimension: Gantry scales ECS services (namespace ecs, dimension ecs:service:DesiredCount)")
	}
	return parseResourceID(resourceID)
}

func checkLength(member, v string, lo, hi int) error {
	n := utf8.RuneCountInString(v)
	switch {
	case n < lo:
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", v, member, lo)
	case n > hi:
		return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, hi)
	}
	return nil
}

// checkName checks a policy or scheduled action name: 1 to 256 printable
// characters.
func checkName(member, v string) error {
	if err := checkLength(member, v, 1, 256); err != nil {
		return err
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p{Print}+", v, member)
		}
	}
	return nil
}

// maxResults returns the page size: def when unset, an error outside
// 1..max.
func maxResults(v *int32, def, max int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 || int(*v) > max {
		return 0, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", *v, max)
	}
	return int(*v), nil
}

// page returns the items after the one token names (all when token is
// empty), at most n, and the token of the next page. keys must be sorted
// and name items one to one.
func page[T any](items []T, key func(T) string, token string, n int) ([]T, string, error) {
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(b) == 0 {
			return nil, "", apierror.New(CodeInvalidNextToken, "Invalid token")
		}
		after := string(b)
		start = len(items)
		for i, it := range items {
			if key(it) > after {
				start = i
				break
			}
		}
	}
	end := min(start+n, len(items))
	out := items[start:end]
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[end-1])))
	}
	return out, next, nil
}

// checkTags checks tags as TagResource and RegisterScalableTarget take
// them: at most 50, keys 1..128, values up to 256, no aws: prefix.
func checkTags(tags map[string]string, have int) error {
	if len(tags)+have > 50 {
		return apierror.New(CodeTooManyTags, "The number of tags exceeds the limit of 50 tags per resource.")
	}
	for k, v := range tags {
		if err := checkLength("tags.key", k, 1, 128); err != nil {
			return err
		}
		if utf8.RuneCountInString(v) > 256 {
			return validation("1 validation error detected: Value at 'tags.%s' failed to satisfy constraint: Member must have length less than or equal to 256", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return validation("Tag keys starting with 'aws:' are reserved for AWS use: %s", k)
		}
	}
	return nil
}
