// Command gantry-consolebench measures the web console's server time for
// each page with a large cluster (by default 10,000 tasks of 500
// services), and the bytes a first page load transfers, beside the same
// data read over the wire with the API (the peer, in the same run).
//
// Usage:
//
//	go run ./cmd/gantry-consolebench [-services 500] [-per-service 20] [-n 20] [-write docs/performance.md]
//
// It starts, in this process, a control plane (embedded etcd in a
// temporary directory, the API and the console on a loopback port, the
// service controller), registers -instances container instances through
// RegisterContainerInstance and keeps them connected (a GantryPollTasks
// heartbeat each, as agents do; no containers run), registers one task
// definition and creates -services services of -per-service tasks each,
// and waits until the service controller has placed them all. Then it
// signs in to the console as a browser does and fetches each page -n
// times (after one warm-up), measuring the wall time of each request and
// the process's CPU time over all of them (server and client share the
// process; the client's part is small). The peer is the API calls that
// give the cluster page's data (ListServices, DescribeServices ×10,
// ListTasks, DescribeTasks, ListContainerInstances,
// DescribeContainerInstances), signed and sent over HTTP with Gantry's
// ECS client, timed the same way.
//
// It prints a markdown report and, with -write, replaces the section
// "## Web console: page times" of that file (appending it when missing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	services, perService, instances, n int
	write                              string
	wait                               time.Duration
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("gantry-consolebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.services, "services", 500, "services in the cluster")
	fs.IntVar(&o.perService, "per-service", 20, "desired tasks of each service")
	fs.IntVar(&o.instances, "instances", 20, "container instances (no agent; kept connected by heartbeats)")
	fs.IntVar(&o.n, "n", 20, "measured fetches of each page")
	fs.DurationVar(&o.wait, "wait", 15*time.Minute, "longest wait for the tasks to be placed")
	fs.StringVar(&o.write, "write", "", "replace the report's section in this markdown file (docs/performance.md)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := bench(o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "gantry-consolebench:", err)
		return 1
	}
	return 0
}

const (
	akid    = config.DevAccessKeyID
	secret  = config.DevSecretAccessKey
	cluster = "consolebench"
)

func bench(o options, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "gantry-consolebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.DefaultServer()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
	cfg.Credentials = []config.AccessKey{config.Credential(akid, secret, "bench", cfg.AccountID)}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := app.StartServer(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer srv.Close()
	api := ecsclient.New(srv.URL, cfg.Region, akid, secret)
	fmt.Fprintf(stderr, "seeding %d services of %d tasks on %d instances…\n", o.services, o.perService, o.instances)
	if err := seed(ctx, api, o); err != nil {
		return err
	}
	hb, stopHB := context.WithCancel(ctx)
	var hbWG sync.WaitGroup
	defer func() { stopHB(); hbWG.Wait() }()
	arns, err := instances(ctx, api)
	if err != nil {
		return err
	}
	for _, a := range arns {
		hbWG.Add(1)
		go func() {
			defer hbWG.Done()
			heartbeat(hb, api, a)
		}()
	}
	if err := createServices(ctx, api, o); err != nil {
		return err
	}
	want := o.services * o.perService
	start := time.Now()
	var placed int
	for {
		placed, err = countTasks(ctx, api)
		if err != nil {
			return err
		}
		if placed >= want || time.Since(start) > o.wait {
			break
		}
		fmt.Fprintf(stderr, "  %d of %d tasks placed (%s)%s\n", placed, want, time.Since(start).Round(time.Second), lastEvent(ctx, api))
		time.Sleep(5 * time.Second)
	}
	fmt.Fprintf(stderr, "%d tasks placed in %s\n", placed, time.Since(start).Round(time.Second))

	c, err := signIn(srv.ConsoleURL)
	if err != nil {
		return err
	}
	anyTask, err := firstTask(ctx, api)
	if err != nil {
		return err
	}
	pages := []page{
		{"Clusters", ""},
		{"Cluster (100 of the services, tasks and instances)", "clusters/" + cluster},
		{"Service (deployments, events, 20 tasks)", "clusters/" + cluster + fmt.Sprintf("/services/svc-%04d", min(7, o.services-1))},
		{"Task (containers, logs)", "clusters/" + cluster + "/tasks/" + anyTask},
		{"Container instance (resources, 100 of its tasks)", "clusters/" + cluster + "/instances/" + arns[0][strings.LastIndexByte(arns[0], '/')+1:]},
		{"Task definition (JSON, diff with revision 1, editor)", "taskdefs/bench/2?against=1"},
		{"Load balancers (none in the benchmark's cluster)", "loadbalancers"},
		{"Log groups", "logs"},
		{"Metrics (the picker, from ListMetrics)", "metrics"},
		{"Metric chart (AWS/ECS CPUUtilization of the cluster, 3 hours)", "metrics?namespace=AWS%2FECS&metric=CPUUtilization&dims=ClusterName%3D" + cluster},
		{"Alarms", "alarms"},
		{"Repositories", "repositories"},
	}
	var results []result
	for _, p := range pages {
		r, err := measure(c, srv.ConsoleURL+p.path, o.n)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		r.name = p.name
		results = append(results, r)
	}
	peer, err := measurePeer(ctx, api, o.n)
	if err != nil {
		return err
	}
	svcName := fmt.Sprintf("svc-%04d", min(7, o.services-1))
	peers := []result{peer}
	for _, p := range []struct {
		name string
		call func() error
	}{
		{"Peer: DescribeClusters over HTTP (what the clusters and cluster pages call for the counts)", func() error {
			return api.Call(ctx, "DescribeClusters", &ecsapi.DescribeClustersRequest{Clusters: []string{cluster}}, &ecsapi.DescribeClustersResponse{})
		}},
		{"Peer: ListTasks of one service (serviceName filter) over HTTP (what the service page calls)", func() error {
			return api.Call(ctx, "ListTasks", &ecsapi.ListTasksRequest{Cluster: cluster, ServiceName: svcName}, &ecsapi.ListTasksResponse{})
		}},
	} {
		r, err := measureCall(p.call, o.n)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		r.name = p.name
		peers = append(peers, r)
	}
	first, err := firstLoad(c, srv.ConsoleURL+"clusters/"+cluster)
	if err != nil {
		return err
	}
	report := render(o, placed, results, peers, first)
	fmt.Fprint(stdout, report)
	if o.write != "" {
		return writeSection(o.write, report)
	}
	return nil
}

type page struct{ name, path string }

func seed(ctx context.Context, api *ecsclient.Client, o options) error {
	if err := api.Call(ctx, "CreateCluster", &ecsapi.CreateClusterRequest{ClusterName: cluster}, &ecsapi.CreateClusterResponse{}); err != nil {
		return err
	}
	// Each instance holds its share of the tasks, with room to spare.
	perInstance := int32((o.services*o.perService)/o.instances + 100)
	for i := range o.instances {
		in := &ecsapi.RegisterContainerInstanceRequest{Cluster: cluster, TotalResources: []ecsapi.Resource{
			{Name: "CPU", Type: "INTEGER", IntegerValue: perInstance * 2},
			{Name: "MEMORY", Type: "INTEGER", IntegerValue: perInstance * 6}},
			// What the task definition requires (awslogs), as an agent reports it.
			Attributes: []ecsapi.Attribute{{Name: "ecs.availability-zone", Value: fmt.Sprintf("us-east-1%c", 'a'+i%3)},
				{Name: "com.amazonaws.ecs.capability.logging-driver.awslogs"},
				{Name: "com.amazonaws.ecs.capability.docker-remote-api.1.18"}, {Name: "com.amazonaws.ecs.capability.docker-remote-api.1.19"}}}
		if err := api.Call(ctx, "RegisterContainerInstance", in, &ecsapi.RegisterContainerInstanceResponse{}); err != nil {
			return fmt.Errorf("register instance %d: %w", i, err)
		}
	}
	for rev := 1; rev <= 2; rev++ {
		td := &ecsapi.RegisterTaskDefinitionRequest{Family: "bench", ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name: "app", Image: "bench:latest", Cpu: 2, Memory: ptr(int32(6)), Essential: ptr(true), Command: []string{"serve", fmt.Sprint(rev)},
			LogConfiguration: &ecsapi.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": "/bench", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "b"}}}}}
		if err := api.Call(ctx, "RegisterTaskDefinition", td, &ecsapi.RegisterTaskDefinitionResponse{}); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func createServices(ctx context.Context, api *ecsclient.Client, o options) error {
	sem := make(chan struct{}, 8)
	errs := make(chan error, o.services)
	var wg sync.WaitGroup
	for i := range o.services {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			in := &ecsapi.CreateServiceRequest{Cluster: cluster, ServiceName: fmt.Sprintf("svc-%04d", i), TaskDefinition: "bench:2", DesiredCount: ptr(int32(o.perService))}
			if err := api.Call(ctx, "CreateService", in, &ecsapi.CreateServiceResponse{}); err != nil {
				errs <- fmt.Errorf("create service %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func instances(ctx context.Context, api *ecsclient.Client) ([]string, error) {
	var out ecsapi.ListContainerInstancesResponse
	if err := api.Call(ctx, "ListContainerInstances", &ecsapi.ListContainerInstancesRequest{Cluster: cluster, MaxResults: ptr(int32(100))}, &out); err != nil {
		return nil, err
	}
	return out.ContainerInstanceArns, nil
}

// heartbeat keeps an instance connected as an agent's polls do.
func heartbeat(ctx context.Context, api *ecsclient.Client, arn string) {
	var rev int64
	for ctx.Err() == nil {
		var out ecsapi.GantryPollTasksResponse
		err := api.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: cluster, ContainerInstance: arn, Revision: rev, OmitTasks: true}, &out)
		if err == nil {
			rev = out.Revision
		}
		select {
		case <-ctx.Done():
		case <-time.After(3 * time.Second):
		}
	}
}

// countTasks counts the cluster's tasks with ListTasks (a task the
// controller started counts at once; DescribeClusters' counts follow
// what agents report, and no agent runs here).
func countTasks(ctx context.Context, api *ecsclient.Client) (int, error) {
	n, token := 0, ""
	for {
		var out ecsapi.ListTasksResponse
		if err := api.Call(ctx, "ListTasks", &ecsapi.ListTasksRequest{Cluster: cluster, NextToken: token, MaxResults: ptr(int32(100))}, &out); err != nil {
			return 0, err
		}
		n += len(out.TaskArns)
		if token = out.NextToken; token == "" {
			return n, nil
		}
	}
}

// lastEvent is the newest event of the first service, to show why tasks
// are not placed.
func lastEvent(ctx context.Context, api *ecsclient.Client) string {
	var out ecsapi.DescribeServicesResponse
	if err := api.Call(ctx, "DescribeServices", &ecsapi.DescribeServicesRequest{Cluster: cluster, Services: []string{"svc-0000"}}, &out); err != nil {
		return ": " + err.Error()
	}
	if len(out.Services) == 0 || len(out.Services[0].Events) == 0 {
		return ""
	}
	msg := out.Services[0].Events[0].Message
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return ": svc-0000: " + msg
}

func firstTask(ctx context.Context, api *ecsclient.Client) (string, error) {
	var out ecsapi.ListTasksResponse
	if err := api.Call(ctx, "ListTasks", &ecsapi.ListTasksRequest{Cluster: cluster, MaxResults: ptr(int32(1))}, &out); err != nil {
		return "", err
	}
	if len(out.TaskArns) == 0 {
		return "", errors.New("no task was placed")
	}
	a := out.TaskArns[0]
	return a[strings.LastIndexByte(a, '/')+1:], nil
}

// signIn signs in to the console as a browser does and returns a client
// carrying the session cookie.
func signIn(base string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute}
	u, _ := url.Parse(base)
	req, _ := http.NewRequest(http.MethodPost, base+"signin", strings.NewReader(url.Values{"access_key_id": {akid}, "secret_access_key": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if len(jar.Cookies(u)) == 0 {
		return nil, fmt.Errorf("sign-in: status %d, no session cookie", resp.StatusCode)
	}
	return c, nil
}

type result struct {
	name          string
	median, p90   time.Duration
	max           time.Duration
	cpuPerOp      time.Duration
	bytes         int
	requestsTimed int
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func get(c *http.Client, u string) (int, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d: %.300s", u, resp.StatusCode, b)
	}
	if !strings.Contains(string(b), "Signed in as") {
		return 0, fmt.Errorf("GET %s: not a signed-in page", u)
	}
	return len(b), nil
}

func measure(c *http.Client, u string, n int) (result, error) {
	size, err := get(c, u) // warm-up
	if err != nil {
		return result{}, err
	}
	runtime.GC()
	var ds []time.Duration
	cpu0 := cpuTime()
	for range n {
		t0 := time.Now()
		if _, err := get(c, u); err != nil {
			return result{}, err
		}
		ds = append(ds, time.Since(t0))
	}
	cpu := cpuTime() - cpu0
	return summarize(ds, cpu, size), nil
}

func summarize(ds []time.Duration, cpu time.Duration, size int) result {
	slices.Sort(ds)
	return result{median: ds[len(ds)/2], p90: ds[len(ds)*9/10], max: ds[len(ds)-1], cpuPerOp: cpu / time.Duration(len(ds)), bytes: size, requestsTimed: len(ds)}
}

// measurePeer times the API calls that give the cluster page's data.
func measurePeer(ctx context.Context, api *ecsclient.Client, n int) (result, error) {
	once := func() error {
		var ls ecsapi.ListServicesResponse
		if err := api.Call(ctx, "ListServices", &ecsapi.ListServicesRequest{Cluster: cluster, MaxResults: ptr(int32(100))}, &ls); err != nil {
			return err
		}
		for chunk := range slices.Chunk(ls.ServiceArns, 10) {
			if err := api.Call(ctx, "DescribeServices", &ecsapi.DescribeServicesRequest{Cluster: cluster, Services: chunk}, &ecsapi.DescribeServicesResponse{}); err != nil {
				return err
			}
		}
		var lt ecsapi.ListTasksResponse
		if err := api.Call(ctx, "ListTasks", &ecsapi.ListTasksRequest{Cluster: cluster, MaxResults: ptr(int32(100))}, &lt); err != nil {
			return err
		}
		if err := api.Call(ctx, "DescribeTasks", &ecsapi.DescribeTasksRequest{Cluster: cluster, Tasks: lt.TaskArns}, &ecsapi.DescribeTasksResponse{}); err != nil {
			return err
		}
		var li ecsapi.ListContainerInstancesResponse
		if err := api.Call(ctx, "ListContainerInstances", &ecsapi.ListContainerInstancesRequest{Cluster: cluster, MaxResults: ptr(int32(100))}, &li); err != nil {
			return err
		}
		return api.Call(ctx, "DescribeContainerInstances", &ecsapi.DescribeContainerInstancesRequest{Cluster: cluster, ContainerInstances: li.ContainerInstanceArns}, &ecsapi.DescribeContainerInstancesResponse{})
	}
	if err := once(); err != nil {
		return result{}, err
	}
	runtime.GC()
	var ds []time.Duration
	cpu0 := cpuTime()
	for range n {
		t0 := time.Now()
		if err := once(); err != nil {
			return result{}, err
		}
		ds = append(ds, time.Since(t0))
	}
	r := summarize(ds, cpuTime()-cpu0, 0)
	r.name = "Peer: the cluster page's API calls over HTTP (ECS client, 16 calls)"
	return r, nil
}

// measureCall times call n times after a warm-up.
func measureCall(call func() error, n int) (result, error) {
	if err := call(); err != nil {
		return result{}, err
	}
	runtime.GC()
	var ds []time.Duration
	cpu0 := cpuTime()
	for range n {
		t0 := time.Now()
		if err := call(); err != nil {
			return result{}, err
		}
		ds = append(ds, time.Since(t0))
	}
	return summarize(ds, cpuTime()-cpu0, 0), nil
}

var assetRE = regexp.MustCompile(`(?:href|src)="(/console/assets/[^"]+)"`)

// firstLoad is the bytes of a first visit to a page: its HTML and every
// asset it links to (an empty cache).
func firstLoad(c *http.Client, u string) (int, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	total := len(b)
	base, _ := url.Parse(u)
	for _, m := range assetRE.FindAllStringSubmatch(string(b), -1) {
		ref, _ := base.Parse(m[1])
		r, err := c.Get(ref.String())
		if err != nil {
			return 0, err
		}
		a, _ := io.ReadAll(r.Body)
		r.Body.Close()
		total += len(a)
	}
	return total, nil
}

const heading = "## Web console: page times"

func render(o options, placed int, rs []result, peers []result, first int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	var load [3]float64
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscanf(string(raw), "%f %f %f", &load[0], &load[1], &load[2])
	}
	w(heading)
	w("")
	w("Measured by `go run ./cmd/gantry-consolebench -services %d -per-service %d -instances %d -n %d` on %s (%d CPUs, load average %.1f at the end of the run).",
		o.services, o.perService, o.instances, o.n, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), load[0])
	w("One cluster of %d services and %d placed tasks (no agent runs them: they stay PENDING, which costs the pages the same) on %d container instances.", o.services, placed, o.instances)
	w("Each page is fetched %d times after a warm-up with a signed-in session; time is the server's answer, read in full, over loopback; CPU is the process's (server and client) per fetch. Goal: under 100 ms a page.", o.n)
	w("")
	w("| Page | median | p90 | max | CPU/op | HTML bytes |")
	w("|---|---:|---:|---:|---:|---:|")
	for _, r := range append(rs, peers...) {
		bytes := "—"
		if r.bytes > 0 {
			bytes = fmt.Sprint(r.bytes)
		}
		w("| %s | %s | %s | %s | %s | %s |", r.name, ms(r.median), ms(r.p90), ms(r.max), ms(r.cpuPerOp), bytes)
	}
	w("")
	w("First load of the cluster page (HTML, stylesheet and script, nothing else; no compression): **%d bytes** (goal: under 200 KB). Later pages fetch only their HTML: the assets are cached for a year under content-hashed names.", first)
	w("")
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// writeSection replaces the report's section of the markdown file, or
// appends it.
func writeSection(path, section string) error {
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc := string(raw)
	if i := strings.Index(doc, heading+"\n"); i >= 0 {
		end := len(doc)
		if j := strings.Index(doc[i+len(heading):], "\n## "); j >= 0 {
			end = i + len(heading) + j + 1
		}
		doc = doc[:i] + section + doc[end:]
	} else {
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc += "\n"
		}
		doc += section
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
