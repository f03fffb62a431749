package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// memberArgs returns, for n servers, the `gantry server` arguments of
// each one's embedded etcd member in one cluster on loopback.
func memberArgs(t *testing.T, n int, token string) [][]string {
	t.Helper()
	var list []string
	for i := 0; i < n; i++ {
		list = append(list, fmt.Sprintf("m%d=http://%s", i, freeAddr(t)))
	}
	out := make([][]string, n)
	for i := range out {
		out[i] = []string{"--etcd-name", fmt.Sprintf("m%d", i), "--etcd-initial-cluster", strings.Join(list, ","),
			"--etcd-initial-cluster-token", token}
	}
	return out
}

// newMemberServer prepares `gantry server` with an embedded member (not
// started); it is killed when the test ends.
func newMemberServer(t *testing.T, bin string, extra ...string) *serverProcess {
	t.Helper()
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(apitest.AccessKeyID+" "+apitest.SecretAccessKey+" test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &serverProcess{t: t, bin: bin, url: "http://" + addr, logPath: filepath.Join(dir, "server.log"),
		args: append([]string{"server", "--listen", addr, "--data-dir", filepath.Join(dir, "data"),
			"--credentials-file", creds, "--region", apitest.Region, "--account-id", apitest.Account, "--registry-listen", ""}, extra...)}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			t.Logf("server %s log (tail):\n%s", p.url, tail(string(b), 40))
		}
	})
	return p
}

// launch starts the process without waiting for it to serve.
func (p *serverProcess) launch() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start gantry server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	p.cmd, p.exited = cmd, exited
}

// waitServes waits until the launched process answers the API.
func (p *serverProcess) waitServes(timeout time.Duration) {
	p.t.Helper()
	cl := apitest.NewClient(p.url)
	testutil.WaitFor(p.t, timeout, "server "+p.url+" serves", func() error {
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.logPath)
			p.t.Fatalf("gantry server exited:\n%s", tail(string(b), 30))
		default:
		}
		_, err := cl.ListClusters(context.Background(), &ecs.ListClustersInput{})
		return err
	})
}

// startMemberServers starts n servers whose embedded members form one
// etcd cluster, and waits until all serve.
func startMemberServers(t *testing.T, bin string, n int, extra ...string) []*serverProcess {
	t.Helper()
	var out []*serverProcess
	for _, m := range memberArgs(t, n, "gantry-e2e") {
		out = append(out, newMemberServer(t, bin, append(m, extra...)...))
	}
	for _, p := range out {
		p.launch()
	}
	for _, p := range out {
		p.waitServes(90 * time.Second)
	}
	return out
}

// hasCluster reports whether the server at url lists the cluster.
func hasCluster(ctx context.Context, url, name string) error {
	d, err := apitest.NewClient(url).DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{name}})
	if err != nil {
		return err
	}
	if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "ACTIVE" {
		return fmt.Errorf("%s: cluster %s not there (%d, failures %d)", url, name, len(d.Clusters), len(d.Failures))
	}
	return nil
}

// TestServersFormTheirOwnEtcdCluster: three `gantry server` processes
// with embedded etcd members on loopback form one cluster: a write
// through any server is read through the others; with any one server
// killed the other two still take writes and serve them, and the killed
// one comes back from its data directory and catches up; with two killed
// the last one refuses writes with an AWS error answer (503
// ServerException saying the quorum is gone) in bounded time, not a hang,
// and takes them again once a member returns. A server started with
// another cluster token against the running members refuses to start.
func TestServersFormTheirOwnEtcdCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped under -short")
	}
	bin := buildGantry(t)
	ctx := context.Background()
	servers := startMemberServers(t, bin, 3, "--leader-ttl", "2s")
	if _, err := apitest.NewClient(servers[0].url).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("c0")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range servers {
		testutil.WaitFor(t, 20*time.Second, "c0 through "+p.url, func() error { return hasCluster(ctx, p.url, "c0") })
	}

	// The loss of any one.
	for i, dead := range servers {
		dead.kill()
		name := fmt.Sprintf("without-m%d", i)
		var alive []*serverProcess
		for _, p := range servers {
			if p != dead {
				alive = append(alive, p)
			}
		}
		start := time.Now()
		if _, err := apitest.NewClient(alive[0].url).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}); err != nil {
			t.Fatalf("m%d down: create through %s: %v", i, alive[0].url, err)
		}
		t.Logf("m%d killed: write through a survivor took %v", i, time.Since(start).Round(time.Millisecond))
		testutil.WaitFor(t, 20*time.Second, name+" through the other survivor", func() error { return hasCluster(ctx, alive[1].url, name) })
		dead.start()
		testutil.WaitFor(t, 30*time.Second, name+" through the restarted server", func() error { return hasCluster(ctx, dead.url, name) })
	}

	// No quorum: two of three down.
	servers[0].kill()
	servers[1].kill()
	last := servers[2]
	one := ecs.New(ecs.Options{Region: apitest.Region, BaseEndpoint: aws.String(last.url),
		Credentials: apitest.NewClient(last.url).Options().Credentials, RetryMaxAttempts: 1})
	cctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	start := time.Now()
	_, err := one.CreateCluster(cctx, &ecs.CreateClusterInput{ClusterName: aws.String("no-quorum")})
	cancel()
	took := time.Since(start)
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServerException" || !strings.Contains(ae.ErrorMessage(), "quorum") ||
		!errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("write without a quorum: %v after %v, want a 503 ServerException about the quorum", err, took)
	}
	t.Logf("without a quorum: %v after %v", err, took.Round(time.Millisecond))
	// A member back: writes resume.
	servers[1].start()
	testutil.WaitFor(t, 60*time.Second, "a write once the quorum is back", func() error {
		_, err := apitest.NewClient(last.url).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("quorum-back")})
		return err
	})

	// The wrong cluster: another token, naming the running members' peer
	// URLs, is refused at start with a message, not split off.
	peers := strings.Split(servers[0].args[slicesIndex(servers[0].args, "--etcd-initial-cluster")+1], ",")
	wrong := newMemberServer(t, bin, "--etcd-name", "x", "--etcd-initial-cluster", "x=http://"+freeAddr(t)+","+peers[1]+","+peers[2],
		"--etcd-initial-cluster-token", "another")
	wrong.launch()
	select {
	case <-wrong.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("a member of another cluster token did not stop within 30s")
	}
	b, _ := os.ReadFile(wrong.logPath)
	if !strings.Contains(string(b), "belongs to cluster") {
		t.Fatalf("the wrong cluster's member exited without saying why:\n%s", tail(string(b), 20))
	}
	t.Logf("wrong cluster refused: %s", strings.TrimSpace(tail(string(b), 1)))
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestBadEtcdMemberFlagsRefused: `gantry server` refuses a member list
// without a quorum or with conflicting peer URLs at start, with a message.
func TestBadEtcdMemberFlagsRefused(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e: skipped under -short")
	}
	bin := buildGantry(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--etcd-name", "a", "--etcd-initial-cluster", "a=http://127.0.0.1:1,b=http://127.0.0.1:2"}, "odd number"},
		{[]string{"--etcd-name", "a", "--etcd-initial-cluster", "a=http://127.0.0.1:1,b=http://127.0.0.1:1,c=http://127.0.0.1:3"}, "conflicting peer URLs"},
		{[]string{"--etcd-name", "z", "--etcd-initial-cluster", "a=http://127.0.0.1:1,b=http://127.0.0.1:2,c=http://127.0.0.1:3"}, "does not list this member"},
	} {
		cmd := exec.Command(bin, append([]string{"server", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, tc.args...)...)
		cmd.Env = append(os.Environ(), "GANTRY_ACCESS_KEY_ID="+apitest.AccessKeyID, "GANTRY_SECRET_ACCESS_KEY="+apitest.SecretAccessKey)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: %v\n%s\nwant a refusal with %q", tc.args, err, out, tc.want)
		}
	}
}
