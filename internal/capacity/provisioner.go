package capacity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Request is one scaling action of a capacity provider: the instance
// count its group should have, after the instances named in
// InstancesToRemove (drained first when managed draining is ENABLED) are
// gone. The HTTP hook receives it as the JSON body of a POST; the command
// as its standard input.
type Request struct {
	Cluster             string     `json:"cluster"`
	CapacityProvider    string     `json:"capacityProvider"`
	AutoScalingGroupArn string     `json:"autoScalingGroupArn,omitempty"`
	DesiredCount        int        `json:"desiredCount"`
	InstancesToRemove   []Instance `json:"instancesToRemove"`
}

// Instance names a container instance to remove: by its ARN, its EC2
// instance ID (the agent's, or the registration's ID) and its attributes
// (a provisioner marks what it starts with an attribute of its own, such
// as gantry.provisioner-id).
type Instance struct {
	ContainerInstanceArn string            `json:"containerInstanceArn"`
	Ec2InstanceID        string            `json:"ec2InstanceId"`
	Attributes           map[string]string `json:"attributes,omitempty"`
}

// Provisioner carries out scaling actions.
type Provisioner interface {
	// Scale brings the provider's instances to req.DesiredCount, removing
	// req.InstancesToRemove. It returns once the action is accepted,
	// not once the instances have registered.
	Scale(ctx context.Context, req Request) error
}

// ProvisionerAttribute is the container instance attribute with which a
// provisioner names the instances it started (the Docker provisioner: its
// container's name).
const ProvisionerAttribute = "gantry.provisioner-id"

// ParseProvisioner returns the provisioner of a --provisioner value:
// command:PATH runs PATH, http:URL (or https:URL) posts to URL; empty is
// none (nil).
func ParseProvisioner(v string, timeout time.Duration) (Provisioner, error) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	switch {
	case v == "":
		return nil, nil
	case strings.HasPrefix(v, "command:"):
		path := strings.TrimPrefix(v, "command:")
		if path == "" {
			return nil, fmt.Errorf("provisioner %q: command:PATH needs a path", v)
		}
		return Command{Path: path, Timeout: timeout}, nil
	case strings.HasPrefix(v, "http://"), strings.HasPrefix(v, "https://"):
		return HTTP{URL: v, Client: &http.Client{Timeout: timeout}}, nil
	case strings.HasPrefix(v, "http:"):
		// http:URL, or http:HOST:PORT/PATH for http://HOST:PORT/PATH.
		u := strings.TrimPrefix(v, "http:")
		if !strings.Contains(u, "://") {
			u = "http://" + u
		}
		return HTTP{URL: u, Client: &http.Client{Timeout: timeout}}, nil
	}
	return nil, fmt.Errorf("provisioner %q: want command:PATH or http:URL", v)
}

// Command runs a program for each scaling action: the desired count is its
// argument, the request's JSON its standard input, and the environment
// has GANTRY_CLUSTER, GANTRY_CAPACITY_PROVIDER, GANTRY_DESIRED_COUNT and
// GANTRY_INSTANCES_TO_REMOVE (container instance ARNs, comma-separated).
// A non-zero exit fails the action.
type Command struct {
	Path    string
	Timeout time.Duration
}

// Scale runs the command.
func (c Command) Scale(ctx context.Context, req Request) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	arns := make([]string, len(req.InstancesToRemove))
	for i, in := range req.InstancesToRemove {
		arns[i] = in.ContainerInstanceArn
	}
	cmd := exec.CommandContext(ctx, c.Path, strconv.Itoa(req.DesiredCount))
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(os.Environ(), "GANTRY_CLUSTER="+req.Cluster, "GANTRY_CAPACITY_PROVIDER="+req.CapacityProvider,
		"GANTRY_DESIRED_COUNT="+strconv.Itoa(req.DesiredCount), "GANTRY_INSTANCES_TO_REMOVE="+strings.Join(arns, ","))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("provisioner %s: %w: %s", c.Path, err, bytes.TrimSpace(tail(out, 512)))
	}
	return nil
}

// HTTP posts each scaling action's JSON to URL; a status other than 2xx
// fails it.
type HTTP struct {
	URL    string
	Client *http.Client
}

// Scale posts the request.
func (h HTTP) Scale(ctx context.Context, req Request) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("provisioner %s: %w", h.URL, err)
	}
	r.Header.Set("Content-Type", "application/json")
	cl := h.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(r)
	if err != nil {
		return fmt.Errorf("provisioner %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("provisioner %s: %s: %s", h.URL, resp.Status, bytes.TrimSpace(tail(msg, 512)))
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
