package tmds

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

type fakeState map[string]Entry

func (f fakeState) Lookup(id string) (Entry, bool) { e, ok := f[id]; return e, ok }

type fakeStats map[string]string

func (f fakeStats) ContainerStatsJSON(_ context.Context, id string) (json.RawMessage, error) {
	if s, ok := f[id]; ok {
		return json.RawMessage(s), nil
	}
	return nil, errors.New("no such container")
}

type fakeProtection struct {
	got    *ecsapi.UpdateTaskProtectionRequest
	err    error
	expiry time.Time
}

func (f *fakeProtection) GetTaskProtection(_ context.Context, in *ecsapi.GetTaskProtectionRequest) (*ecsapi.GetTaskProtectionResponse, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &ecsapi.GetTaskProtectionResponse{ProtectedTasks: []ecsapi.ProtectedTask{{TaskArn: in.Tasks[0], ProtectionEnabled: true, ExpirationDate: ecsapi.NewTimestamp(f.expiry)}}}, nil
}

func (f *fakeProtection) UpdateTaskProtection(_ context.Context, in *ecsapi.UpdateTaskProtectionRequest) (*ecsapi.UpdateTaskProtectionResponse, error) {
	f.got = in
	if f.err != nil {
		return nil, f.err
	}
	if in.Tasks[0] == "arn:aws:ecs:us-east-1:000000000000:task/default/gone" {
		return &ecsapi.UpdateTaskProtectionResponse{Failures: []ecsapi.Failure{{Arn: in.Tasks[0], Reason: "TASK_NOT_VALID"}}}, nil
	}
	return &ecsapi.UpdateTaskProtectionResponse{ProtectedTasks: []ecsapi.ProtectedTask{{TaskArn: in.Tasks[0], ProtectionEnabled: in.ProtectionEnabled}}}, nil
}

const (
	taskArn  = "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c"
	dockerID = "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66"
)

func ptr[T any](v T) *T { return &v }

// exampleEntry is the task of the ECS developer guide's version 4 examples
// (one awsvpc container), as the engine would describe it.
func exampleEntry() Entry {
	created := time.Date(2020, 10, 2, 0, 15, 7, 620912337, time.UTC)
	started := time.Date(2020, 10, 2, 0, 15, 8, 62559351, time.UTC)
	c := Container{
		DockerID: dockerID, Name: "curl", DockerName: "ecs-curltest-24-curl-cca48e8dcadd97805600",
		Image:   "111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest",
		ImageID: "sha256:d691691e9652791a60114e67b365688d20d19940dde7c4736ea30e660d8d3553",
		Labels: map[string]string{"com.amazonaws.ecs.cluster": "default", "com.amazonaws.ecs.container-name": "curl",
			"com.amazonaws.ecs.task-arn": taskArn, "com.amazonaws.ecs.task-definition-family": "curltest", "com.amazonaws.ecs.task-definition-version": "24"},
		DesiredStatus: "RUNNING", KnownStatus: "RUNNING", Limits: Limits{CPU: ptr(10.0), Memory: ptr[int64](128)},
		CreatedAt: &created, StartedAt: &started, Type: "NORMAL", LogDriver: "awslogs",
		LogOptions:   map[string]string{"awslogs-group": "/ecs/metadata", "awslogs-region": "us-west-2"},
		ContainerARN: "arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6-a0ba208a70a9",
		Networks: []Network{{NetworkMode: "awsvpc", IPv4Addresses: []string{"10.0.2.100"}, AttachmentIndex: ptr(0),
			MACAddress: "0e:9e:32:c7:48:85", IPv4SubnetCIDRBlock: "10.0.2.0/24", PrivateDNSName: "ip-10-0-2-100.us-west-2.compute.internal",
			SubnetGatewayIPv4Address: "10.0.2.1/24"}},
	}
	t := Task{Cluster: "default", TaskARN: taskArn, Family: "curltest", Revision: "26", DesiredStatus: "RUNNING", KnownStatus: "RUNNING",
		Limits: &Limits{CPU: ptr(0.25), Memory: ptr[int64](512)}, PullStartedAt: &created, PullStoppedAt: &started,
		AvailabilityZone: "us-west-2d", LaunchType: "EC2", Containers: []Container{c}, ServiceName: "MyService", FaultInjectionEnabled: ptr(false)}
	return Entry{Task: t, Container: "curl", NetworkMode: "awsvpc", Addresses: []netip.Addr{netip.MustParseAddr("10.0.2.100")},
		TaskTags: map[string]string{"team": "a"}}
}

func newTestServer(p Protection) *Server {
	return New(Config{State: fakeState{"id-1": exampleEntry()}, Stats: fakeStats{dockerID: `{"read":"2020-10-02T00:51:13.410254284Z","cpu_stats":{"cpu_usage":{"total_usage":1}}}`},
		Protection: p, Cluster: "default"})
}

// get serves one request from remote.
func do(t *testing.T, s *Server, method, path, remote, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	if ct := w.Result().Header.Get("Content-Type"); w.Code != 404 || strings.HasPrefix(string(b), `"`) {
		if ct != "application/json" {
			t.Errorf("%s %s: content type %q", method, path, ct)
		}
	}
	return w.Code, string(b)
}

// TestShapesOfTheDocumentedExample checks the container and task answers
// against the member names and formats of the ECS developer guide's
// version 4 examples (EC2, awsvpc).
func TestShapesOfTheDocumentedExample(t *testing.T) {
	s := newTestServer(nil)
	code, body := do(t, s, "GET", "/v4/id-1", "10.0.2.100:40000", "")
	want := `{"DockerId":"` + dockerID + `","Name":"curl","DockerName":"ecs-curltest-24-curl-cca48e8dcadd97805600",` +
		`"Image":"111122223333.dkr.ecr.us-west-2.amazonaws.com/curltest:latest","ImageID":"sha256:d691691e9652791a60114e67b365688d20d19940dde7c4736ea30e660d8d3553",` +
		`"Labels":{"com.amazonaws.ecs.cluster":"default","com.amazonaws.ecs.container-name":"curl","com.amazonaws.ecs.task-arn":"` + taskArn + `",` +
		`"com.amazonaws.ecs.task-definition-family":"curltest","com.amazonaws.ecs.task-definition-version":"24"},` +
		`"DesiredStatus":"RUNNING","KnownStatus":"RUNNING","Limits":{"CPU":10,"Memory":128},` +
		`"CreatedAt":"2020-10-02T00:15:07.620912337Z","StartedAt":"2020-10-02T00:15:08.062559351Z","Type":"NORMAL",` +
		`"Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.2.100"],"AttachmentIndex":0,"MACAddress":"0e:9e:32:c7:48:85",` +
		`"IPv4SubnetCIDRBlock":"10.0.2.0/24","PrivateDNSName":"ip-10-0-2-100.us-west-2.compute.internal","SubnetGatewayIpv4Address":"10.0.2.1/24"}],` +
		`"LogDriver":"awslogs","LogOptions":{"awslogs-group":"/ecs/metadata","awslogs-region":"us-west-2"},` +
		`"ContainerARN":"arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6-a0ba208a70a9"}`
	if code != 200 || body != want {
		t.Fatalf("container: %d\n got %s\nwant %s", code, body, want)
	}
	code, body = do(t, s, "GET", "/v4/id-1/task", "10.0.2.100:40000", "")
	var task map[string]json.RawMessage
	if code != 200 || json.Unmarshal([]byte(body), &task) != nil {
		t.Fatalf("task: %d %s", code, body)
	}
	for k, v := range map[string]string{"Cluster": `"default"`, "TaskARN": `"` + taskArn + `"`, "Family": `"curltest"`, "Revision": `"26"`,
		"DesiredStatus": `"RUNNING"`, "KnownStatus": `"RUNNING"`, "Limits": `{"CPU":0.25,"Memory":512}`,
		"PullStartedAt": `"2020-10-02T00:15:07.620912337Z"`, "AvailabilityZone": `"us-west-2d"`, "LaunchType": `"EC2"`,
		"ServiceName": `"MyService"`, "FaultInjectionEnabled": `false`} {
		if string(task[k]) != v {
			t.Errorf("task %s = %s, want %s", k, task[k], v)
		}
	}
	if _, ok := task["TaskTags"]; ok {
		t.Error("/task has TaskTags")
	}
	_, body = do(t, s, "GET", "/v4/id-1/taskWithTags", "10.0.2.100:40000", "")
	if !strings.Contains(body, `"TaskTags":{"team":"a"}`) {
		t.Errorf("taskWithTags: %s", body)
	}
	// Version 3: version 2's shapes.
	_, body = do(t, s, "GET", "/v3/id-1/task", "10.0.2.100:40000", "")
	for _, member := range []string{"LaunchType", "FaultInjectionEnabled", "ServiceName", "ContainerARN", "LogDriver", "AttachmentIndex", "MACAddress"} {
		if strings.Contains(body, `"`+member+`"`) {
			t.Errorf("v3 task has %s: %s", member, body)
		}
	}
	if !strings.Contains(body, `"Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.2.100"]}]`) {
		t.Errorf("v3 task networks: %s", body)
	}
}

// TestOnlyTheTaskItself checks the ECS agent's 404 answers for unknown IDs
// and that a request from outside the task is answered the same way.
func TestOnlyTheTaskItself(t *testing.T) {
	s := newTestServer(nil)
	for _, tc := range []struct {
		name, path, remote string
		code               int
		body               string
	}{
		{"own address", "/v4/id-1", "10.0.2.100:1", 200, ""},
		{"unknown id", "/v4/nope", "10.0.2.100:1", 404, `"V4 container metadata handler: unable to get container ID from request: unable to get docker ID from v3 endpoint ID: nope"`},
		{"unknown id, task", "/v4/nope/task", "10.0.2.100:1", 404, `"V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope"`},
		{"unknown id, stats", "/v4/nope/stats", "10.0.2.100:1", 404, `"V4 container stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: nope"`},
		{"another task's address", "/v4/id-1/task", "10.0.2.101:1", 404, `"V4 task metadata handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: id-1"`},
		{"the host, for an awsvpc task", "/v4/id-1", "127.0.0.1:1", 404, ""},
		{"v3, another task", "/v3/id-1/task/stats", "172.17.0.5:1", 404, `"V3 task stats handler: unable to get task arn from request: unable to get task Arn from v3 endpoint ID: id-1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, s, "GET", tc.path, tc.remote, "")
			if code != tc.code || tc.body != "" && body != tc.body {
				t.Fatalf("%d %s, want %d %s", code, body, tc.code, tc.body)
			}
		})
	}
	// A host-mode task: only from the host.
	e := exampleEntry()
	e.NetworkMode, e.Addresses = "host", nil
	hs := New(Config{State: fakeState{"h": e}, HostAddrs: func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("192.0.2.2")} }})
	if code, _ := do(t, hs, "GET", "/v4/h", "127.0.0.1:5", ""); code != 200 {
		t.Errorf("host task from loopback: %d", code)
	}
	if code, _ := do(t, hs, "GET", "/v4/h", "192.0.2.2:5", ""); code != 200 {
		t.Errorf("host task from another of the host's addresses: %d", code)
	}
	if code, _ := do(t, hs, "GET", "/v4/h", "172.17.0.9:5", ""); code != 404 {
		t.Errorf("host task from a bridge container: %d", code)
	}
}

// TestStatsRelayed checks that Docker's stats JSON is passed through and
// that task stats map every container's Docker ID to its stats, {} when
// it has none, as the ECS agent answers.
func TestStatsRelayed(t *testing.T) {
	e := exampleEntry()
	e.Task.Containers = append(e.Task.Containers, Container{DockerID: "stopped", Name: "side"})
	s := New(Config{State: fakeState{"id-1": e}, Stats: fakeStats{dockerID: `{"read":"x","cpu_stats":{}}`}})
	code, body := do(t, s, "GET", "/v4/id-1/stats", "10.0.2.100:1", "")
	if code != 200 || body != `{"read":"x","cpu_stats":{}}` {
		t.Fatalf("stats: %d %s", code, body)
	}
	code, body = do(t, s, "GET", "/v4/id-1/task/stats", "10.0.2.100:1", "")
	if code != 200 || body != `{"`+dockerID+`":{"read":"x","cpu_stats":{}},"stopped":{}}` {
		t.Fatalf("task stats: %d %s", code, body)
	}
	e.Container = "side"
	s = New(Config{State: fakeState{"id-2": e}, Stats: fakeStats{}})
	if code, body := do(t, s, "GET", "/v4/id-2/stats", "10.0.2.100:1", ""); code != 500 || body != `"Unable to get container stats for: stopped"` {
		t.Fatalf("stats of a container without: %d %s", code, body)
	}
}

// TestTaskProtectionAPI checks the agent API's task protection answers.
func TestTaskProtectionAPI(t *testing.T) {
	expiry := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &fakeProtection{expiry: expiry}
	s := newTestServer(p)
	const path = "/api/id-1/task-protection/v1/state"
	code, body := do(t, s, "PUT", path, "10.0.2.100:1", `{"ProtectionEnabled":true,"ExpiresInMinutes":60}`)
	if code != 200 || body != `{"protection":{"ExpirationDate":null,"ProtectionEnabled":true,"TaskArn":"`+taskArn+`"}}` {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if p.got == nil || p.got.Cluster != "default" || len(p.got.Tasks) != 1 || p.got.Tasks[0] != taskArn || !p.got.ProtectionEnabled ||
		p.got.ExpiresInMinutes == nil || *p.got.ExpiresInMinutes != 60 {
		t.Fatalf("forwarded %+v", p.got)
	}
	code, body = do(t, s, "GET", path, "10.0.2.100:1", "")
	if code != 200 || body != `{"protection":{"ExpirationDate":"2030-01-02T03:04:05Z","ProtectionEnabled":true,"TaskArn":"`+taskArn+`"}}` {
		t.Fatalf("GET: %d %s", code, body)
	}
	for _, tc := range []struct {
		name, method, remote, body string
		code                       int
		want                       string
	}{
		{"no ProtectionEnabled", "PUT", "10.0.2.100:1", `{"ExpiresInMinutes":5}`, 400,
			`{"error":{"Arn":"` + taskArn + `","Code":"InvalidParameterException","Message":"Invalid request: does not contain 'ProtectionEnabled' field"}}`},
		{"unknown member", "PUT", "10.0.2.100:1", `{"Protected":true}`, 400,
			`{"error":{"Code":"InvalidParameterException","Message":"UpdateTaskProtection: failed to decode request"}}`},
		{"another task", "GET", "10.0.2.7:1", ``, 404,
			`{"error":{"Code":"ResourceNotFoundException","Message":"Failed to find a task for the request"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(t, s, tc.method, path, tc.remote, tc.body)
			if code != tc.code || body != tc.want {
				t.Fatalf("%d %s, want %d %s", code, body, tc.code, tc.want)
			}
		})
	}
	p.err = &ecsclient.Error{Status: 400, Code: "InvalidParameterException", Message: "expiresInMinutes must be between 1 and 2880"}
	code, body = do(t, s, "PUT", path, "10.0.2.100:1", `{"ProtectionEnabled":true,"ExpiresInMinutes":5000}`)
	if code != 400 || body != `{"error":{"Arn":"`+taskArn+`","Code":"InvalidParameterException","Message":"expiresInMinutes must be between 1 and 2880"}}` {
		t.Fatalf("control plane error: %d %s", code, body)
	}
}

// TestEndpoints checks the endpoint IDs and environment, and that the
// secret and the port are kept across restarts.
func TestEndpoints(t *testing.T) {
	dir := t.TempDir()
	secret, err := LoadSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadSecret(dir)
	if err != nil || string(again) != string(secret) {
		t.Fatalf("secret not kept: %v", err)
	}
	e := NewEndpoints("http://172.17.0.1:5000/", secret)
	id := e.ID(taskArn, "web")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("id %q is not a version 8 UUID", id)
	}
	if id != NewEndpoints("x", secret).ID(taskArn, "web") || id == e.ID(taskArn, "side") || id == NewEndpoints("x", []byte("other")).ID(taskArn, "web") {
		t.Error("IDs are not a function of the secret, task and container")
	}
	env := e.Env(taskArn, "web")
	want := []string{"ECS_CONTAINER_METADATA_URI_V4=http://172.17.0.1:5000/v4/" + id, "ECS_CONTAINER_METADATA_URI=http://172.17.0.1:5000/v3/" + id,
		"ECS_AGENT_URI=http://172.17.0.1:5000/api/" + id}
	for i, kv := range env {
		if kv.Name+"="+kv.Value != want[i] {
			t.Errorf("env %d = %s=%s, want %s", i, kv.Name, kv.Value, want[i])
		}
	}
	ln, err := Listen(dir, "127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ln, err = Listen(dir, "127.0.0.1", 0)
	if err != nil {
		t.Fatalf("listen again on the kept port: %v", err)
	}
	defer ln.Close()
	if ln.Addr().String() != addr {
		t.Errorf("port not kept: %s then %s", addr, ln.Addr())
	}
	// Served over a real connection from loopback to a host-mode task.
	en := exampleEntry()
	en.NetworkMode = "host"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(Config{State: fakeState{"h": en}}).Serve(ctx, ln) }()
	resp, err := http.Get("http://" + addr + "/v4/h/task")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if resp.StatusCode != 200 || <-done != nil {
		t.Fatalf("served %d", resp.StatusCode)
	}
}

// TestNetworkRateStats: version 4's stats add network_rate_stats, the
// bytes per second received and sent over all the container's networks
// since the stats relayed before (none the first time, none in version
// 3, none without networks), in /stats and /task/stats alike.
func TestNetworkRateStats(t *testing.T) {
	stats := fakeStats{dockerID: `{"read":"2026-01-01T00:00:00Z","networks":{"eth0":{"rx_bytes":1000,"tx_bytes":500},"eth1":{"rx_bytes":0,"tx_bytes":0}}}`}
	s := New(Config{State: fakeState{"id-1": exampleEntry()}, Stats: stats})
	rate := func(path string) *NetworkRateStats {
		t.Helper()
		code, body := do(t, s, "GET", path, "10.0.2.100:1", "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var doc struct {
			Rate *NetworkRateStats `json:"network_rate_stats"`
			Read string            `json:"read"`
		}
		raw := []byte(body)
		if strings.Contains(path, "task/stats") {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			raw = m[dockerID]
		}
		if err := json.Unmarshal(raw, &doc); err != nil || doc.Read == "" {
			t.Fatalf("%s: %v %s", path, err, body)
		}
		return doc.Rate
	}
	if r := rate("/v4/id-1/stats"); r != nil {
		t.Fatalf("first stats have rates %+v", r)
	}
	// Two seconds later: 3000 bytes more received, 1000 more sent.
	stats[dockerID] = `{"read":"2026-01-01T00:00:02Z","networks":{"eth0":{"rx_bytes":3000,"tx_bytes":1000},"eth1":{"rx_bytes":1000,"tx_bytes":500}}}`
	if r := rate("/v4/id-1/stats"); r == nil || r.RxBytesPerSecond != 1500 || r.TxBytesPerSecond != 500 {
		t.Fatalf("rates %+v, want rx 1500/s tx 500/s", r)
	}
	if r := rate("/v3/id-1/stats"); r != nil {
		t.Fatalf("version 3 has rates %+v", r)
	}
	stats[dockerID] = `{"read":"2026-01-01T00:00:04Z","networks":{"eth0":{"rx_bytes":3400,"tx_bytes":1000},"eth1":{"rx_bytes":1000,"tx_bytes":500}}}`
	if r := rate("/v4/id-1/task/stats"); r == nil || r.RxBytesPerSecond != 200 || r.TxBytesPerSecond != 0 {
		t.Fatalf("task stats rates %+v, want rx 200/s tx 0/s", r)
	}
	// Host mode: Docker reports no networks, so no rates.
	stats[dockerID] = `{"read":"2026-01-01T00:00:06Z"}`
	if r := rate("/v4/id-1/stats"); r != nil {
		t.Fatalf("rates without networks %+v", r)
	}
}

type fakeInstanceTags struct {
	tags map[string]string
	err  error
}

func (f fakeInstanceTags) ContainerInstanceTags(context.Context) (map[string]string, string, error) {
	return f.tags, "arn:aws:ecs:us-west-2:111122223333:container-instance/default/abc", f.err
}

// TestTaskWithTagsContainerInstanceTags: taskWithTags carries the
// container instance's tags; when they cannot be read it still answers,
// with an Errors entry naming ContainerInstanceTags and the instance, as
// the ECS agent does; /task never reads them.
func TestTaskWithTagsContainerInstanceTags(t *testing.T) {
	s := New(Config{State: fakeState{"id-1": exampleEntry()}, InstanceTags: fakeInstanceTags{tags: map[string]string{"rack": "r1"}}})
	_, body := do(t, s, "GET", "/v4/id-1/taskWithTags", "10.0.2.100:1", "")
	if !strings.Contains(body, `"ContainerInstanceTags":{"rack":"r1"}`) || !strings.Contains(body, `"TaskTags":{"team":"a"}`) || strings.Contains(body, `"Errors"`) {
		t.Fatalf("taskWithTags: %s", body)
	}
	if _, body := do(t, s, "GET", "/v4/id-1/task", "10.0.2.100:1", ""); strings.Contains(body, "ContainerInstanceTags") {
		t.Fatalf("/task: %s", body)
	}
	s = New(Config{State: fakeState{"id-1": exampleEntry()}, InstanceTags: fakeInstanceTags{err: errors.New("unreachable")}})
	code, body := do(t, s, "GET", "/v4/id-1/taskWithTags", "10.0.2.100:1", "")
	var task Task
	if err := json.Unmarshal([]byte(body), &task); err != nil || code != 200 {
		t.Fatalf("taskWithTags: %d %v %s", code, err, body)
	}
	if len(task.Errors) != 1 || task.Errors[0].ErrorField != "ContainerInstanceTags" || task.Errors[0].ResourceARN == "" ||
		task.ContainerInstanceTags != nil || task.TaskTags["team"] != "a" {
		t.Fatalf("taskWithTags when the tags cannot be read: %+v", task)
	}
}
