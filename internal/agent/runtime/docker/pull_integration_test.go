package docker

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// countingResolver resolves every image to itself, and counts the calls.
type countingResolver struct{ calls int }

func (c *countingResolver) Resolve(_ context.Context, image string) (string, string, error) {
	c.calls++
	return image, "", nil
}

// TestPullBehaviours pulls the test image, which only exists locally (no
// registry can be reached), under each pull behaviour: those that must
// pull fail, the others use the cached image.
func TestPullBehaviours(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	for _, tc := range []struct {
		behavior string
		ok       bool
	}{
		{PullDefault, true},      // the pull fails; the cached image is used
		{PullPreferCached, true}, // cached: no pull
		{PullAlways, false},      // the pull fails, and so does the task
		{PullOnce, false},        // never pulled by this agent: it must pull
		{"sometimes", false},     // refused by New
	} {
		t.Run(tc.behavior, func(t *testing.T) {
			res := &countingResolver{}
			rt, err := New(Config{InstanceID: h.instance, PullBehavior: tc.behavior, Images: res, Logger: slog.New(slog.DiscardHandler)})
			if tc.behavior == "sometimes" {
				if err == nil {
					t.Fatal("New accepted an unknown pull behaviour")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			err = rt.PullImage(ctx, h.image)
			if (err == nil) != tc.ok {
				t.Fatalf("PullImage: %v, want ok=%v", err, tc.ok)
			}
			var rerr *runtime.Error
			if err != nil && (!errors.As(err, &rerr) || rerr.Name != runtime.CannotPullContainerError) {
				t.Fatalf("error %v is not a CannotPullContainerError", err)
			}
			if res.calls != 1 {
				t.Fatalf("resolver called %d times", res.calls)
			}
		})
	}
}
