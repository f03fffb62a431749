package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/testutil"
)

// fetchFrom makes a container (the test image's /fetch, served at base)
// GET or PUT a URL from inside its network namespace; it returns the
// fetched status and body.
func fetchFrom(t *testing.T, base string, q url.Values) (int, []byte) {
	t.Helper()
	cl := http.Client{Timeout: 30 * time.Second}
	var status int
	var body []byte
	testutil.WaitFor(t, 20*time.Second, "the container fetches "+q.Encode(), func() error {
		resp, err := cl.Get(base + "/fetch?" + q.Encode())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("fetch: %d %s", resp.StatusCode, body)
		}
		status, err = strconv.Atoi(resp.Header.Get("X-Fetched-Status"))
		return err
	})
	return status, body
}

// containerEnv returns a container's environment variable as Docker has it.
func (c *cluster) containerEnv(id, name string) string {
	c.t.Helper()
	info, err := c.docker.ContainerInspect(context.Background(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, kv := range info.Config.Env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	c.t.Fatalf("container %s has no %s", id, name)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestTaskMetadataEndpoint runs bridge, host and awsvpc tasks whose
// containers read their own metadata, stats (with network_rate_stats on
// a second read) and task protection through
// ECS_CONTAINER_METADATA_URI_V4, ECS_CONTAINER_METADATA_URI and
// ECS_AGENT_URI, and a container of another task that cannot read them.
func TestTaskMetadataEndpoint(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()

	// Task A (bridge): web, published, and a non-essential sidecar.
	web := webContainer("web", c.image)
	side := types.ContainerDefinition{Name: aws.String("side"), Image: aws.String(c.image), Memory: aws.Int32(32), Essential: aws.Bool(false),
		Environment: []types.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String("8081")}}}
	tdA := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("meta-a"), Cpu: aws.String("512"), Memory: aws.String("256"),
		ContainerDefinitions: []types.ContainerDefinition{web, side}})
	// Task B (bridge): another task's container.
	tdB := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("meta-b"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	// Task H (host network mode) on a free port.
	hostPort := freePort(t)
	hostWeb := types.ContainerDefinition{Name: aws.String("web"), Image: aws.String(c.image), Memory: aws.Int32(32), Essential: aws.Bool(true),
		Environment: []types.KeyValuePair{{Name: aws.String("PORT"), Value: aws.String(strconv.Itoa(hostPort))}}}
	tdH := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("meta-h"), NetworkMode: types.NetworkModeHost,
		ContainerDefinitions: []types.ContainerDefinition{hostWeb}})
	// Task V (awsvpc).
	tdV := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("meta-v"), NetworkMode: types.NetworkModeAwsvpc,
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})

	arnA, arnB, arnH, arnV := aws.ToString(c.run(tdA).TaskArn), aws.ToString(c.run(tdB).TaskArn), aws.ToString(c.run(tdH).TaskArn), aws.ToString(c.run(tdV).TaskArn)
	a := c.waitStatus(arnA, "RUNNING", 60*time.Second)
	b := c.waitStatus(arnB, "RUNNING", 60*time.Second)
	h := c.waitStatus(arnH, "RUNNING", 60*time.Second)
	v := c.waitStatus(arnV, "RUNNING", 60*time.Second)

	published := func(task types.Task) (string, types.Container) {
		for _, ct := range task.Containers {
			if aws.ToString(ct.Name) == "web" {
				for _, nb := range ct.NetworkBindings {
					return fmt.Sprintf("http://127.0.0.1:%d", aws.ToInt32(nb.HostPort)), ct
				}
				return "", ct
			}
		}
		t.Fatalf("task %s has no web container", aws.ToString(task.TaskArn))
		return "", types.Container{}
	}
	baseA, webA := published(a)
	baseB, _ := published(b)
	own := url.Values{"env": {"ECS_CONTAINER_METADATA_URI_V4"}}

	t.Run("container metadata", func(t *testing.T) {
		status, body := fetchFrom(t, baseA, own)
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"DockerId": aws.ToString(webA.RuntimeId), "Name": "web", "Image": c.image, "DesiredStatus": "RUNNING",
			"KnownStatus": "RUNNING", "Type": "NORMAL", "ContainerARN": aws.ToString(webA.ContainerArn)}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s = %v, want %v (%s)", k, got[k], w, body)
			}
		}
		if lim, _ := got["Limits"].(map[string]any); lim["CPU"] != 2.0 || lim["Memory"] != 64.0 {
			t.Errorf("Limits %v", got["Limits"])
		}
		nets, _ := got["Networks"].([]any)
		if len(nets) != 1 || nets[0].(map[string]any)["NetworkMode"] != "bridge" {
			t.Fatalf("Networks %v", got["Networks"])
		}
		if ips := nets[0].(map[string]any)["IPv4Addresses"].([]any); len(ips) != 1 || net.ParseIP(ips[0].(string)) == nil {
			t.Errorf("IPv4Addresses %v", ips)
		}
		labels, _ := got["Labels"].(map[string]any)
		if labels["com.amazonaws.ecs.task-arn"] != arnA || labels["com.amazonaws.ecs.container-name"] != "web" {
			t.Errorf("Labels %v", labels)
		}
		for _, k := range []string{"CreatedAt", "StartedAt", "ImageID", "DockerName"} {
			if s, _ := got[k].(string); s == "" {
				t.Errorf("no %s", k)
			}
		}
		// One binding per address family Docker published (0.0.0.0, ::).
		ports, _ := got["Ports"].([]any)
		if len(ports) == 0 {
			t.Errorf("no Ports")
		}
		for _, p := range ports {
			if pm := p.(map[string]any); pm["ContainerPort"] != 8080.0 || pm["Protocol"] != "tcp" || pm["HostPort"] == 0.0 {
				t.Errorf("Ports %v", ports)
			}
		}
	})
	t.Run("task metadata", func(t *testing.T) {
		status, body := fetchFrom(t, baseA, url.Values{"env": {"ECS_CONTAINER_METADATA_URI_V4"}, "path": {"/task"}})
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		var got struct {
			Cluster, TaskARN, Family, Revision, DesiredStatus, KnownStatus, AvailabilityZone, LaunchType string
			Limits                                                                                       struct {
				CPU    float64
				Memory int64
			}
			PullStartedAt, PullStoppedAt *time.Time
			FaultInjectionEnabled        *bool
			Containers                   []struct{ Name, DockerId, KnownStatus string }
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Cluster != c.name || got.TaskARN != arnA || got.Family != "meta-a" || got.Revision != "1" || got.DesiredStatus != "RUNNING" ||
			got.KnownStatus != "RUNNING" || got.AvailabilityZone != "us-east-1a" || got.LaunchType != "EC2" {
			t.Errorf("task %s", body)
		}
		if got.Limits.CPU != 0.5 || got.Limits.Memory != 256 {
			t.Errorf("Limits %+v", got.Limits)
		}
		if got.PullStartedAt == nil || got.PullStoppedAt == nil || got.PullStoppedAt.Before(*got.PullStartedAt) {
			t.Errorf("pull times %v %v", got.PullStartedAt, got.PullStoppedAt)
		}
		if got.FaultInjectionEnabled == nil || *got.FaultInjectionEnabled {
			t.Errorf("FaultInjectionEnabled %v", got.FaultInjectionEnabled)
		}
		if len(got.Containers) != 2 || got.Containers[0].Name != "web" || got.Containers[1].Name != "side" || got.Containers[1].DockerId == "" {
			t.Errorf("Containers %+v", got.Containers)
		}
		// Version 3 has version 2's task shape.
		status, body = fetchFrom(t, baseA, url.Values{"env": {"ECS_CONTAINER_METADATA_URI"}, "path": {"/task"}})
		if status != 200 || strings.Contains(string(body), "LaunchType") || strings.Contains(string(body), "FaultInjectionEnabled") || !strings.Contains(string(body), arnA) {
			t.Errorf("v3 task %d %s", status, body)
		}
	})
	t.Run("stats", func(t *testing.T) {
		status, body := fetchFrom(t, baseA, url.Values{"env": {"ECS_CONTAINER_METADATA_URI_V4"}, "path": {"/stats"}})
		var st struct {
			Read     time.Time `json:"read"`
			ID       string    `json:"id"`
			CPUStats struct {
				CPUUsage struct {
					TotalUsage uint64 `json:"total_usage"`
				} `json:"cpu_usage"`
			} `json:"cpu_stats"`
			MemoryStats struct {
				Usage uint64 `json:"usage"`
			} `json:"memory_stats"`
			PreCPUStats json.RawMessage `json:"precpu_stats"`
		}
		if status != 200 || json.Unmarshal(body, &st) != nil {
			t.Fatalf("stats %d %s", status, body)
		}
		if st.ID != aws.ToString(webA.RuntimeId) || st.CPUStats.CPUUsage.TotalUsage == 0 || st.MemoryStats.Usage == 0 || st.Read.IsZero() || len(st.PreCPUStats) == 0 {
			t.Errorf("stats %s", body)
		}
		status, body = fetchFrom(t, baseA, url.Values{"env": {"ECS_CONTAINER_METADATA_URI_V4"}, "path": {"/task/stats"}})
		var all map[string]struct {
			ID string `json:"id"`
		}
		if status != 200 || json.Unmarshal(body, &all) != nil || len(all) != 2 {
			t.Fatalf("task stats %d %s", status, body)
		}
		for id, s := range all {
			if s.ID != id {
				t.Errorf("task stats: %s holds %s", id, s.ID)
			}
		}
		// Read again: network_rate_stats, from the counters since the
		// stats before (the container has fetched the answers since).
		status, body = fetchFrom(t, baseA, url.Values{"env": {"ECS_CONTAINER_METADATA_URI_V4"}, "path": {"/stats"}})
		var again struct {
			Rate *struct {
				Rx *float64 `json:"rx_bytes_per_sec"`
				Tx *float64 `json:"tx_bytes_per_sec"`
			} `json:"network_rate_stats"`
		}
		if status != 200 || json.Unmarshal(body, &again) != nil || again.Rate == nil || again.Rate.Rx == nil || again.Rate.Tx == nil ||
			*again.Rate.Rx <= 0 || *again.Rate.Tx < 0 {
			t.Errorf("stats read again: no network_rate_stats with bytes received: %d %s", status, body)
		}
	})
	t.Run("another task cannot read it", func(t *testing.T) {
		uriA := c.containerEnv(aws.ToString(webA.RuntimeId), "ECS_CONTAINER_METADATA_URI_V4")
		for _, path := range []string{"", "/task", "/stats", "/task/stats"} {
			status, body := fetchFrom(t, baseB, url.Values{"url": {uriA + path}})
			if status != 404 || strings.Contains(string(body), arnA) {
				t.Errorf("B reads A's %q: %d %s", path, status, body)
			}
		}
		// B's own works.
		if status, body := fetchFrom(t, baseB, own); status != 200 || !strings.Contains(string(body), aws.ToString(b.TaskArn)) {
			t.Errorf("B's own: %d %s", status, body)
		}
		status, body := fetchFrom(t, baseB, url.Values{"url": {uriA[:strings.LastIndex(uriA, "/")] + "/not-an-id/task"}})
		if status != 404 || !strings.Contains(string(body), "unable to get task arn from request") {
			t.Errorf("unknown ID: %d %s", status, body)
		}
	})
	t.Run("host and awsvpc tasks", func(t *testing.T) {
		status, body := fetchFrom(t, fmt.Sprintf("http://127.0.0.1:%d", hostPort), url.Values{"env": {"ECS_CONTAINER_METADATA_URI_V4"}, "path": {"/task"}})
		if status != 200 || !strings.Contains(string(body), arnH) {
			t.Errorf("host task: %d %s", status, body)
		}
		ip := ""
		for _, at := range v.Attachments {
			for _, d := range at.Details {
				if aws.ToString(d.Name) == "privateIPv4Address" {
					ip = aws.ToString(d.Value)
				}
			}
		}
		status, body = fetchFrom(t, "http://"+ip+":8080", own)
		var got struct {
			Networks []struct {
				NetworkMode         string
				IPv4Addresses       []string
				AttachmentIndex     *int
				IPv4SubnetCIDRBlock string
				MACAddress          string
			}
		}
		if status != 200 || json.Unmarshal(body, &got) != nil || len(got.Networks) != 1 {
			t.Fatalf("awsvpc task: %d %s", status, body)
		}
		n := got.Networks[0]
		if n.NetworkMode != "awsvpc" || len(n.IPv4Addresses) != 1 || n.IPv4Addresses[0] != ip || n.AttachmentIndex == nil || n.IPv4SubnetCIDRBlock == "" || n.MACAddress == "" {
			t.Errorf("awsvpc network %s", body)
		}
		_ = h
	})
	t.Run("task protection through ECS_AGENT_URI", func(t *testing.T) {
		// A standalone task cannot be protected: ECS's failure, relayed.
		status, body := fetchFrom(t, baseA, url.Values{"env": {"ECS_AGENT_URI"}, "path": {"/task-protection/v1/state"}, "method": {"PUT"},
			"body": {`{"ProtectionEnabled":true}`}})
		if status != 200 || body == nil || !strings.Contains(string(body), `{"failure":{"Arn":"`+arnA+`","Detail":null,"Reason":"TASK_NOT_VALID"}}`) {
			t.Errorf("standalone task: %d %s", status, body)
		}
		// A service's task can.
		if _, err := c.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(c.name), ServiceName: aws.String("meta-svc"),
			TaskDefinition: aws.String(tdB), DesiredCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		var svcTask types.Task
		testutil.WaitFor(t, 60*time.Second, "the service's task runs", func() error {
			l, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(c.name), ServiceName: aws.String("meta-svc")})
			if err != nil || len(l.TaskArns) != 1 {
				return fmt.Errorf("tasks %v %v", l, err)
			}
			svcTask = c.describe(l.TaskArns[0])
			if aws.ToString(svcTask.LastStatus) != "RUNNING" {
				return fmt.Errorf("task is %s", aws.ToString(svcTask.LastStatus))
			}
			return nil
		})
		baseS, _ := published(svcTask)
		arnS := aws.ToString(svcTask.TaskArn)
		put := url.Values{"env": {"ECS_AGENT_URI"}, "path": {"/task-protection/v1/state"}, "method": {"PUT"},
			"body": {`{"ProtectionEnabled":true,"ExpiresInMinutes":60}`}}
		status, body = fetchFrom(t, baseS, put)
		var resp struct {
			Protection *struct {
				ExpirationDate    *time.Time
				ProtectionEnabled bool
				TaskArn           string
			} `json:"protection"`
		}
		if status != 200 || json.Unmarshal(body, &resp) != nil || resp.Protection == nil || !resp.Protection.ProtectionEnabled ||
			resp.Protection.TaskArn != arnS || resp.Protection.ExpirationDate == nil {
			t.Fatalf("PUT: %d %s", status, body)
		}
		if d := time.Until(*resp.Protection.ExpirationDate); d < 55*time.Minute || d > 65*time.Minute {
			t.Errorf("expires in %v", d)
		}
		gp, err := c.ecs.GetTaskProtection(ctx, &ecs.GetTaskProtectionInput{Cluster: aws.String(c.name), Tasks: []string{arnS}})
		if err != nil || len(gp.ProtectedTasks) != 1 || !gp.ProtectedTasks[0].ProtectionEnabled {
			t.Fatalf("GetTaskProtection: %+v %v", gp, err)
		}
		status, body = fetchFrom(t, baseS, url.Values{"env": {"ECS_AGENT_URI"}, "path": {"/task-protection/v1/state"}})
		if status != 200 || !strings.Contains(string(body), `"ProtectionEnabled":true`) {
			t.Errorf("GET: %d %s", status, body)
		}
		status, body = fetchFrom(t, baseS, url.Values{"env": {"ECS_AGENT_URI"}, "path": {"/task-protection/v1/state"}, "method": {"PUT"}, "body": {`{}`}})
		if status != 400 || !strings.Contains(string(body), "InvalidParameterException") {
			t.Errorf("PUT without ProtectionEnabled: %d %s", status, body)
		}
		status, body = fetchFrom(t, baseS, url.Values{"env": {"ECS_AGENT_URI"}, "path": {"/task-protection/v1/state"}, "method": {"PUT"},
			"body": {`{"ProtectionEnabled":true,"ExpiresInMinutes":5000}`}})
		if status != 400 || !strings.Contains(string(body), "InvalidParameterException") {
			t.Errorf("PUT with 5000 minutes: %d %s", status, body)
		}
	})
}
