package authz_test

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/authz"
)

func TestLogDestinationAllows(t *testing.T) {
	t.Parallel()
	task := "arn:aws:ecs:us-east-1:123456789012:task/prod/abc123"
	dockerID := strings.Repeat("0a", 32)
	for _, tc := range []struct {
		name          string
		d             authz.LogDestination
		group, stream string
		want          bool
	}{
		{"prefix form", authz.LogDestination{Group: "g", StreamPrefix: "p"}, "g", "p/web/abc123", true},
		{"prefix form, other task", authz.LogDestination{Group: "g", StreamPrefix: "p"}, "g", "p/web/zzz", false},
		{"prefix form, other container", authz.LogDestination{Group: "g", StreamPrefix: "p"}, "g", "p/db/abc123", false},
		{"other group", authz.LogDestination{Group: "g", StreamPrefix: "p"}, "h", "p/web/abc123", false},
		{"no group configured", authz.LogDestination{StreamPrefix: "p"}, "", "p/web/abc123", false},
		{"awslogs-stream", authz.LogDestination{Group: "g", Stream: "s"}, "g", "s", true},
		{"awslogs-stream, other", authz.LogDestination{Group: "g", Stream: "s"}, "g", "t", false},
		{"runtime ID known", authz.LogDestination{Group: "g", RuntimeID: "rid"}, "g", "rid", true},
		{"runtime ID known, other", authz.LogDestination{Group: "g", RuntimeID: "rid"}, "g", dockerID, false},
		{"runtime ID not yet known: a container ID", authz.LogDestination{Group: "g"}, "g", dockerID, true},
		{"runtime ID not yet known: not a container ID", authz.LogDestination{Group: "g"}, "g", "anything", false},
	} {
		if got := tc.d.Allows(task, "web", tc.group, tc.stream); got != tc.want {
			t.Errorf("%s: Allows(%q, %q) = %v, want %v", tc.name, tc.group, tc.stream, got, tc.want)
		}
	}
}
