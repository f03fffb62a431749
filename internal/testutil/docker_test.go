package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how RequireDocker ends a test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()        {}
func (r *recorder) Cleanup(func()) {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

func requireDocker(t *testing.T) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		RequireDocker(r)
	}()
	<-done
	return r
}

func TestRequireDockerWithoutAnEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
	if testing.Short() {
		if r := requireDocker(t); !strings.Contains(r.skip, "-short") {
			t.Errorf("under -short: skip %q, fatal %q", r.skip, r.fatal)
		}
		return
	}
	t.Setenv("CI", "")
	if r := requireDocker(t); !strings.Contains(r.skip, "unreachable") || r.fatal != "" {
		t.Errorf("outside CI: skip %q, fatal %q; want a skip", r.skip, r.fatal)
	}
	t.Setenv("CI", "true")
	if r := requireDocker(t); !strings.Contains(r.fatal, "unreachable") || !strings.Contains(r.fatal, "CI is set") || r.skip != "" {
		t.Errorf("in CI: skip %q, fatal %q; want a failure", r.skip, r.fatal)
	}
}
