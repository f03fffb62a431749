package lb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/lbload"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// TestContainersBehindAListener puts three containers of the test server
// behind an HTTP listener as ip targets (their bridge addresses) and a
// TCP listener, checks that requests reach all three, then kills one
// under 500 requests a second: it is reported unhealthy within interval x
// unhealthy threshold, leaves rotation, and no request fails.
func TestContainersBehindAListener(t *testing.T) {
	t.Parallel()
	cli := testutil.RequireDocker(t)
	image := testutil.TestServerImage(t)
	label := testutil.UniqueID("gantry-lb-test")
	testutil.CleanupLabelled(t, cli, "dev.gantry.test="+label)
	ctx := context.Background()
	var targets []lbconf.Target
	ids := map[string]string{} // target ID -> container hostname
	for i := range 3 {
		c, err := cli.ContainerCreate(ctx, &container.Config{
			Image:  image,
			Labels: map[string]string{"dev.gantry.test": label},
		}, nil, nil, nil, fmt.Sprintf("%s-%d", label, i))
		if err != nil {
			t.Fatal(err)
		}
		if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		ip := info.NetworkSettings.Networks["bridge"].IPAddress
		if ip == "" {
			t.Fatalf("container %d has no bridge address", i)
		}
		targets = append(targets, lbconf.Target{ID: ip, Host: ip, Port: 8080, RegisteredAt: time.Now()})
		ids[ip] = c.ID
	}
	check := fastCheck()
	check.Interval = 200 * time.Millisecond
	check.Timeout = 300 * time.Millisecond
	check.UnhealthyThreshold = 2
	g := tg("web", targets...)
	g.HealthCheck = check
	tcpG := tg("raw", targets...)
	tcpG.Protocol = lbconf.ProtocolTCP
	tcpG.HealthCheck.Protocol = lbconf.ProtocolTCP
	nlb := lbconf.LoadBalancer{Arn: "nlb", Type: lbconf.TypeNetwork, Address: "127.0.0.1",
		Listeners: []lbconf.Listener{{Arn: "tcp", Protocol: lbconf.ProtocolTCP, DefaultActions: fwd("raw")}}}
	h := start(t, snapshot(1, []lbconf.LoadBalancer{
		appLB(lbconf.Listener{Arn: "http", Protocol: lbconf.ProtocolHTTP, DefaultActions: fwd("web")}), nlb,
	}, g, tcpG))
	h.waitStateIn("web", lbconf.StateHealthy, targets...)
	h.waitStateIn("raw", lbconf.StateHealthy, targets...)

	// Requests reach all three containers (their hostnames differ).
	hosts := map[string]bool{}
	for range 9 {
		_, body, _ := get(t, http.DefaultClient, h.url("http")+"/")
		var got struct{ Hostname string }
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %q", err, body)
		}
		hosts[got.Hostname] = true
	}
	if len(hosts) != 3 {
		t.Errorf("requests reached %d containers, want 3: %v", len(hosts), hosts)
	}
	// The TCP listener passes an HTTP exchange through as raw bytes.
	c, err := net.Dial("tcp", h.lb.Addr("tcp"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "GET /health HTTP/1.0\r\n\r\n")
	raw, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(raw), "HTTP/1.0 200") || !strings.Contains(string(raw), "\r\n\r\nok") {
		t.Errorf("through the TCP listener: %q", raw)
	}

	// Kill one under load.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var res lbload.Result
	var wg sync.WaitGroup
	wg.Go(func() {
		res, _ = lbload.Run(loadCtx, lbload.Config{URL: h.url("http") + "/health", Rate: 500, Workers: 64})
	})
	time.Sleep(500 * time.Millisecond)
	victim := targets[1]
	killed := time.Now()
	if err := cli.ContainerKill(ctx, ids[victim.ID], "KILL"); err != nil {
		t.Fatal(err)
	}
	h.waitStateIn("web", lbconf.StateUnhealthy, victim)
	left := time.Since(killed)
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	wg.Wait()
	t.Logf("killed target unhealthy after %s; load: %v", left.Round(time.Millisecond), res)
	// interval x unhealthy threshold, plus one interval of phase, the
	// checks' timeouts and some slack for a loaded machine.
	if limit := time.Duration(check.UnhealthyThreshold+1)*check.Interval + time.Duration(check.UnhealthyThreshold)*check.Timeout + 300*time.Millisecond; left > limit {
		t.Errorf("killed target left rotation after %s, want within %s", left, limit)
	}
	if res.Failed() != 0 || res.Target5xx != 0 || res.Requests < 300 {
		t.Errorf("under load while a container was killed: %v %q", res, res.FirstErrors)
	}
	if got, _ := h.sink.lastIn("web", victim.ID, victim.Port); got.Reason != lbconf.ReasonFailedHealthChecks && got.Reason != lbconf.ReasonTimeout {
		t.Errorf("killed target's reason %+v", got)
	}
}
