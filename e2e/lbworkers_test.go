package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestLBWorkers runs `gantry lb --workers 2` against a server's etcd
// member: both worker processes serve the listener, a worker killed
// with SIGKILL is started again while the other serves on, and SIGTERM
// to `gantry lb` stops both workers.
func TestLBWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped under -short")
	}
	t.Parallel()
	bin := buildGantry(t)
	ctx := context.Background()
	etcdURL := "http://" + freeAddr(t)
	srv := startMemberServers(t, bin, 1, "--lb-data-plane=false", "--etcd-listen-client-urls", etcdURL)[0]

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(backend.Close)
	_, bp, _ := net.SplitHostPort(backend.Listener.Addr().String())
	backendPort, _ := strconv.Atoi(bp)
	_, lp, _ := net.SplitHostPort(freeAddr(t))
	port, _ := strconv.Atoi(lp)

	c := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(srv.url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	lbo, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("workers")})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("workers"), Protocol: types.ProtocolEnumHttp,
		Port: aws.Int32(80), TargetType: types.TargetTypeEnumIp, HealthCheckIntervalSeconds: aws.Int32(5),
		HealthyThresholdCount: aws.Int32(2), HealthCheckTimeoutSeconds: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	tgArn := tg.TargetGroups[0].TargetGroupArn
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: tgArn,
		Targets: []types.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(int32(backendPort))}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: lbo.LoadBalancers[0].LoadBalancerArn,
		Protocol: types.ProtocolEnumHttp, Port: aws.Int32(int32(port)),
		DefaultActions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: tgArn}}}); err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(t.TempDir(), "lb.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lb := exec.Command(bin, "lb", "--workers", "2", "--name", "edge", "--etcd-endpoints", etcdURL,
		"--region", apitest.Region, "--account-id", apitest.Account)
	lb.Stdout, lb.Stderr = logf, logf
	if err := lb.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = lb.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = lb.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("gantry lb log (tail):\n%s", tail(string(b), 40))
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	served := func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(b) != "hello" {
			return fmt.Errorf("%d %q", resp.StatusCode, b)
		}
		return nil
	}
	var workers []int
	testutil.WaitFor(t, 60*time.Second, "two workers serve the listener", func() error {
		if workers = benchproc.ChildPIDs(lb.Process.Pid); len(workers) != 2 {
			return fmt.Errorf("%d worker processes", len(workers))
		}
		return served()
	})
	// Each worker binds the listener: both have a listening socket on it.
	testutil.WaitFor(t, 30*time.Second, "both workers bind the listener", func() error {
		for _, w := range workers {
			if !listensOn(w, port) {
				return fmt.Errorf("worker %d does not listen on %d", w, port)
			}
		}
		return nil
	})

	// A worker killed outright is started again; the other serves meanwhile.
	if err := syscall.Kill(workers[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the other worker serves", served)
	testutil.WaitFor(t, 30*time.Second, "the killed worker is started again", func() error {
		now := benchproc.ChildPIDs(lb.Process.Pid)
		if len(now) != 2 || slices.Contains(now, workers[0]) || !slices.Contains(now, workers[1]) {
			return fmt.Errorf("workers %v (before %v)", now, workers)
		}
		for _, w := range now {
			if !listensOn(w, port) {
				return fmt.Errorf("worker %d does not listen yet", w)
			}
		}
		return nil
	})
	for range 20 {
		if err := served(); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
	}

	// SIGTERM stops the supervisor and every worker.
	now := benchproc.ChildPIDs(lb.Process.Pid)
	if err := lb.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(40 * time.Second):
		t.Fatal("gantry lb did not stop on SIGTERM")
	}
	for _, w := range now {
		if err := syscall.Kill(w, 0); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", w)); !strings.Contains(string(b), ") Z ") {
				t.Fatalf("worker %d still runs after gantry lb stopped", w)
			}
		}
	}
}

// listensOn reports whether process pid has a TCP socket listening on
// port (from /proc/PID/net/tcp and its open sockets).
func listensOn(pid, port int) bool {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// local_address rem_address st ... inode (field 9); 0A is LISTEN.
		if len(f) > 9 && strings.HasSuffix(f[1], want) && f[3] == "0A" && inodes[f[9]] {
			return true
		}
	}
	return false
}
