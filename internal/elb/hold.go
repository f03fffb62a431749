package elb

import (
	"strconv"
	"time"
)

// Gantry's own target group attributes (ELBv2 has none of the kind, and
// AWS refuses keys it does not know, so these exist only here): holding
// requests at the listener while the group has no healthy target, so that
// a service scaled to zero wakes on its first request and serves it
// instead of answering 503. They are listed by
// DescribeTargetGroupAttributes once set.
const (
	// AttrHoldEnabled turns holding on ("true") or off ("false", the
	// default).
	AttrHoldEnabled = "gantry.hold_requests.enabled"
	// AttrHoldTimeout is how long a request or connection is held, in
	// seconds (1 to 300; default DefaultHoldTimeout).
	AttrHoldTimeout = "gantry.hold_requests.timeout_seconds"
	// DefaultHoldTimeout is the hold timeout when AttrHoldTimeout is
	// not set.
	DefaultHoldTimeout = 60 * time.Second
	maxHoldSeconds     = 300
)

// checkHoldAttribute validates a Gantry hold attribute; ok is false for
// any other key.
func checkHoldAttribute(key, value string) (ok bool, err error) {
	switch key {
	case AttrHoldEnabled:
		if value != "true" && value != "false" {
			return true, validation("Target group attribute value '%s' is not valid for key '%s'", value, key)
		}
		return true, nil
	case AttrHoldTimeout:
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > maxHoldSeconds {
			return true, validation("Target group attribute '%s' must be between %d and %d: '%s'", key, 1, maxHoldSeconds, value)
		}
		return true, nil
	}
	return false, nil
}

// holdTimeout is the hold timeout a target group's attributes configure
// (0: requests are not held).
func holdTimeout(attrs map[string]string) time.Duration {
	if attrs[AttrHoldEnabled] != "true" {
		return 0
	}
	if v, ok := attrs[AttrHoldTimeout]; ok {
		return seconds(v)
	}
	return DefaultHoldTimeout
}
