package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// RequireDocker returns a client of the local Docker Engine (DOCKER_HOST or
// the default socket, API version negotiated), closed when the test ends.
// Under -short it skips the test. When the Engine does not answer a ping it
// fails the test if the CI environment variable is set and skips it
// otherwise, saying why either way.
func RequireDocker(t testing.TB) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the Docker Engine; skipped under -short")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
		if err != nil {
			cli.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("Docker Engine unreachable (DOCKER_HOST=%q): %v", os.Getenv("DOCKER_HOST"), err)
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; CI is set, so this integration test fails instead of skipping", msg)
		}
		t.Skipf("%s; skipping (with CI set this would fail)", msg)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// UniqueID returns prefix-<16 random hex digits>, for instance IDs, label
// values and names that must not collide between tests or runs.
func UniqueID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// CleanupLabelled registers a cleanup that removes, when the test ends,
// every container (forcibly, with its anonymous volumes), then every volume
// and network labelled with label ("key=value", or "key" for any value).
// Errors are reported with t.Errorf.
func CleanupLabelled(t testing.TB, cli client.APIClient, label string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := RemoveLabelled(ctx, cli, label); err != nil {
			t.Errorf("cleanup of %s: %v", label, err)
		}
	})
}

// RemoveLabelled removes every container (forcibly, with its anonymous
// volumes), then every volume and network labelled with label.
func RemoveLabelled(ctx context.Context, cli client.APIClient, label string) error {
	f := filters.NewArgs(filters.Arg("label", label))
	var errs []error
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	errs = append(errs, err)
	for _, c := range cs {
		errs = append(errs, ignoreNotFound(cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})))
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, v := range vs.Volumes {
		errs = append(errs, ignoreNotFound(cli.VolumeRemove(ctx, v.Name, true)))
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	errs = append(errs, err)
	for _, n := range ns {
		errs = append(errs, ignoreNotFound(cli.NetworkRemove(ctx, n.ID)))
	}
	return errors.Join(errs...)
}

func ignoreNotFound(err error) error {
	if cerrdefs.IsNotFound(err) || err != nil && strings.Contains(err.Error(), "already in progress") {
		return nil
	}
	return err
}

// WaitFor calls cond every 50 ms until it returns nil, and fails the test
// with cond's last error if that takes longer than timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
