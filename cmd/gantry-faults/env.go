package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/imagebuild"
)

const (
	accessKeyID     = "AKIDGANTRYFAULTS0000"
	secretAccessKey = "gantry-faults-secret-access-key"
	region          = "us-east-1"
	labelRun        = "dev.gantry.faults"
	image           = "gantry-faults:local"
	taskImage       = "gantry-faults-task:local"
)

// taskSource is the service's container: it waits for SIGTERM.
const taskSource = `package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
`

// env is the harness's Docker world: networks, server and agent
// containers.
type env struct {
	docker  *client.Client
	run     string
	peerNet string
	apiNet  string
	subnet  [2]string // the peer and API networks' /24 prefixes ("10.x.y")
	servers []*node
	agents  []*node
	logger  *slog.Logger
}

// node is one container of the harness.
type node struct {
	name  string
	id    string
	apiIP string
	url   string // servers: the API's URL
	down  bool
}

// newEnv builds the images and creates the networks.
func newEnv(ctx context.Context, o options, logger *slog.Logger) (*env, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, err
	}
	e := &env{docker: cli, run: fmt.Sprintf("gf%d", time.Now().Unix()%100000), logger: logger}
	if err := e.buildImages(ctx, o.src); err != nil {
		return nil, err
	}
	for i, n := range []*string{&e.peerNet, &e.apiNet} {
		name := e.run + []string{"-peer", "-api"}[i]
		var lastErr error
		for try := 0; try < 20; try++ {
			prefix := fmt.Sprintf("10.%d.%d", 150+rand.Intn(100), rand.Intn(250))
			_, err := cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: map[string]string{labelRun: e.run},
				IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: prefix + ".0/24"}}}})
			if err == nil {
				*n, e.subnet[i], lastErr = name, prefix, nil
				break
			}
			lastErr = err
		}
		if lastErr != nil {
			return e, fmt.Errorf("create network %s: %w", name, lastErr)
		}
	}
	return e, nil
}

// buildImages builds the gantry image (a static binary, FROM scratch, with
// a /tmp) and the task image.
func (e *env) buildImages(ctx context.Context, src string) error {
	v, err := e.docker.ServerVersion(ctx)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	if err := imagebuild.BuildModuleCommand(ctx, e.docker, src, "./cmd/gantry", "gantry", image, v.Arch); err != nil {
		return err
	}
	if _, err := imagebuild.Build(ctx, e.docker, taskImage, taskSource, v.Arch, nil); err != nil {
		return fmt.Errorf("task image: %w", err)
	}
	if _, err := imagebuild.Build(ctx, e.docker, etcdToolImage, etcdToolSource, v.Arch, nil); err != nil {
		return fmt.Errorf("etcd tool image: %w", err)
	}
	return nil
}

// startServers creates and starts n servers with embedded members.
func (e *env) startServers(ctx context.Context, n int, grace time.Duration) error {
	var members []string
	for i := 0; i < n; i++ {
		members = append(members, fmt.Sprintf("s%d=http://%s.%d:2380", i, e.subnet[0], 10+i))
	}
	for i := 0; i < n; i++ {
		apiIP := fmt.Sprintf("%s.%d", e.subnet[1], 10+i)
		peerIP := fmt.Sprintf("%s.%d", e.subnet[0], 10+i)
		nd := &node{name: fmt.Sprintf("%s-s%d", e.run, i), apiIP: apiIP, url: "http://" + apiIP + ":8845"}
		args := []string{"server", "--listen", "0.0.0.0:8845", "--advertise-url", nd.url, "--data-dir", "/data",
			"--etcd-name", fmt.Sprintf("s%d", i), "--etcd-initial-cluster", strings.Join(members, ","),
			"--etcd-listen-peer-urls", "http://0.0.0.0:2380", "--etcd-advertise-peer-urls", "http://" + peerIP + ":2380",
			"--etcd-initial-cluster-token", e.run, "--etcd-listen-client-urls", "http://127.0.0.1:2379", "--region", region, "--registry-listen", "", "--lb-data-plane=false",
			"--leader-ttl", "2s", "--lost-instance-grace", grace.String(), "--min-healthy-time", "0s", "--prepull-timeout", "0s"}
		if err := e.create(ctx, nd, args, nil, peerIP); err != nil {
			return err
		}
		e.servers = append(e.servers, nd)
	}
	for _, nd := range e.servers {
		if err := e.docker.ContainerStart(ctx, nd.id, container.StartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", nd.name, err)
		}
	}
	for _, nd := range e.servers {
		if err := e.waitServes(ctx, nd, 120*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// startAgents creates and starts n agents given every server's URL.
func (e *env) startAgents(ctx context.Context, n int, cluster string) error {
	var urls []string
	for _, s := range e.servers {
		urls = append(urls, s.url)
	}
	for i := 0; i < n; i++ {
		nd := &node{name: fmt.Sprintf("%s-a%d", e.run, i), apiIP: fmt.Sprintf("%s.%d", e.subnet[1], 100+i)}
		args := []string{"agent", "--server", strings.Join(urls, ","), "--cluster", cluster, "--data-dir", "/agent",
			"--region", region, "--cpu", "1024", "--memory", "1024", "--availability-zone", "us-east-1a",
			"--image-pull-behavior", "prefer-cached", "--metrics-interval", "0s"}
		if err := e.create(ctx, nd, args, []string{"/var/run/docker.sock:/var/run/docker.sock"}, ""); err != nil {
			return err
		}
		if err := e.docker.ContainerStart(ctx, nd.id, container.StartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", nd.name, err)
		}
		e.agents = append(e.agents, nd)
	}
	return nil
}

// create creates nd's container on the API network (and the peer network
// when peerIP is set).
func (e *env) create(ctx context.Context, nd *node, args, binds []string, peerIP string) error {
	ep := map[string]*network.EndpointSettings{e.apiNet: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: nd.apiIP}}}
	resp, err := e.docker.ContainerCreate(ctx, &container.Config{Image: image, Cmd: args, Labels: map[string]string{labelRun: e.run},
		Env: []string{"GANTRY_ACCESS_KEY_ID=" + accessKeyID, "GANTRY_SECRET_ACCESS_KEY=" + secretAccessKey}},
		&container.HostConfig{Binds: binds}, &network.NetworkingConfig{EndpointsConfig: ep}, nil, nd.name)
	if err != nil {
		return fmt.Errorf("create %s: %w", nd.name, err)
	}
	nd.id = resp.ID
	if peerIP != "" {
		if err := e.docker.NetworkConnect(ctx, e.peerNet, nd.id, &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: peerIP}}); err != nil {
			return fmt.Errorf("connect %s to the peer network: %w", nd.name, err)
		}
	}
	return nil
}

// client returns an ECS client of url with the SDK's standard retries.
func ecsClient(url string) *ecs.Client {
	return ecs.New(ecs.Options{Region: region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")})
}

// waitServes waits until nd answers the API.
func (e *env) waitServes(ctx context.Context, nd *node, timeout time.Duration) error {
	cl := ecsClient(nd.url)
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cl.ListClusters(cctx, &ecs.ListClustersInput{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not serve after %v: %v\n%s", nd.name, timeout, err, e.logTail(ctx, nd, 20))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// logTail returns the last n lines of nd's log.
func (e *env) logTail(ctx context.Context, nd *node, n int) string {
	rc, err := e.docker.ContainerLogs(ctx, nd.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n)})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// leader returns the server that most recently logged that it leads the
// service controller among the running ones.
func (e *env) leader(ctx context.Context) *node {
	nd, _ := e.leaderSince(ctx)
	return nd
}

// leaderSince returns the server that leads the service controller, as
// leader does, and the time of its log line saying so (zero when no up
// server logged it).
func (e *env) leaderSince(ctx context.Context) (*node, time.Time) {
	var best *node
	var bestAt string
	for _, nd := range e.servers {
		if nd.down {
			continue
		}
		rc, err := e.docker.ContainerLogs(ctx, nd.id, container.LogsOptions{ShowStderr: true, ShowStdout: true, Timestamps: true})
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "leads the service controller"); i >= 0 {
				// Docker's multiplexed stream: 8 header bytes, then the
				// RFC 3339 timestamp.
				if j := strings.Index(line, "20"); j >= 0 && len(line) > j+30 {
					if at := line[j : j+30]; at > bestAt {
						best, bestAt = nd, at
					}
				}
			}
		}
		rc.Close()
	}
	at, _ := time.Parse(time.RFC3339Nano, bestAt)
	return best, at
}

// kill SIGKILLs nd.
func (e *env) kill(ctx context.Context, nd *node) error {
	nd.down = true
	return e.docker.ContainerKill(ctx, nd.id, "KILL")
}

// start starts nd again (its file system, the member's data, is kept).
func (e *env) start(ctx context.Context, nd *node) error {
	if err := e.docker.ContainerStart(ctx, nd.id, container.StartOptions{}); err != nil {
		return err
	}
	nd.down = false
	if nd.url != "" {
		return e.waitServes(ctx, nd, 90*time.Second)
	}
	return nil
}

// disconnect and connect partition nd from a network and heal it.
func (e *env) disconnect(ctx context.Context, nd *node, net string) error {
	return e.docker.NetworkDisconnect(ctx, net, nd.id, true)
}

func (e *env) connect(ctx context.Context, nd *node, net, ip string) error {
	return e.docker.NetworkConnect(ctx, net, nd.id, &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}})
}

// taskContainers lists the task containers of the cluster named cluster
// on the engine (the agent labels them with its name or ARN).
func (e *env) taskContainers(ctx context.Context, cluster string) ([]container.Summary, error) {
	cs, err := e.docker.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.cluster"))})
	if err != nil {
		return nil, err
	}
	var out []container.Summary
	for _, c := range cs {
		if v := c.Labels["com.amazonaws.ecs.cluster"]; v == cluster || strings.HasSuffix(v, ":cluster/"+cluster) {
			out = append(out, c)
		}
	}
	return out, nil
}

// close removes every container and network of the run, and the task
// containers of cluster.
func (e *env) close(cluster string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, _ := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelRun+"="+e.run))})
	tasks, _ := e.taskContainers(ctx, cluster)
	for _, c := range append(cs, tasks...) {
		_ = e.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	for _, n := range []string{e.peerNet, e.apiNet} {
		if n != "" {
			_ = e.docker.NetworkRemove(ctx, n)
		}
	}
}

// containerStop is a stop of timeout seconds before SIGKILL.
func containerStop(timeout int) container.StopOptions {
	return container.StopOptions{Timeout: &timeout}
}

// logLines returns nd's log lines since t, each with its Docker timestamp.
func (e *env) logLines(ctx context.Context, nd *node, since time.Time) []logLine {
	o := container.LogsOptions{ShowStderr: true, ShowStdout: true, Timestamps: true}
	if !since.IsZero() {
		o.Since = since.UTC().Format(time.RFC3339Nano)
	}
	rc, err := e.docker.ContainerLogs(ctx, nd.id, o)
	if err != nil {
		return nil
	}
	defer rc.Close()
	var out []logLine
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// Docker's multiplexed stream: 8 header bytes, then the RFC 3339
		// timestamp and a space.
		j := strings.Index(line, "20")
		if j < 0 {
			continue
		}
		ts, rest, ok := strings.Cut(line[j:], " ")
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || at.Before(since) {
			continue
		}
		out = append(out, logLine{at: at, text: rest})
	}
	return out
}

// logLine is one line of a container's log.
type logLine struct {
	at   time.Time
	text string
}

// agentServer returns the server agent a calls now, by its log: the
// target of its last move to another server, else its first seed.
func (e *env) agentServer(ctx context.Context, a *node) *node {
	cur := e.servers[0]
	for _, l := range e.logLines(ctx, a, time.Time{}) {
		if !strings.Contains(l.text, "moving to another") {
			continue
		}
		for _, s := range e.servers {
			if strings.Contains(l.text, "to="+s.url) {
				cur = s
			}
		}
	}
	return cur
}

// agentInstance returns agent a's container instance ARN, from its log.
func (e *env) agentInstance(ctx context.Context, a *node) string {
	arn := ""
	for _, l := range e.logLines(ctx, a, time.Time{}) {
		if i := strings.Index(l.text, "registered container instance"); i >= 0 {
			if j := strings.Index(l.text, "arn="); j >= 0 {
				arn, _, _ = strings.Cut(l.text[j+4:], " ")
			}
		}
	}
	return arn
}
