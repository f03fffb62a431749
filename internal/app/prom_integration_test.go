package app_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/config"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPrometheusOnDebugListener: the server's /metrics is on the debug
// listener only, and counts API requests by service and operation (an
// unknown operation is labelled empty), etcd round trips and placements.
func TestPrometheusOnDebugListener(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	t.Parallel()
	cfg := config.DefaultServer()
	cfg.DataDir = t.TempDir()
	cfg.Listen, cfg.DebugListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Region, cfg.AccountID = apitest.Region, apitest.Account
	cfg.Credentials = append(cfg.Credentials, config.Credential(apitest.AccessKeyID, apitest.SecretAccessKey, "tester", apitest.Account))
	srv, err := app.StartServer(context.Background(), cfg, apitest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := apitest.NewClient(srv.URL)
	ctx := context.Background()
	for range 3 {
		if _, err := c.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"nope"}, Include: nil}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("missing")})

	if code, body := get(t, srv.URL+"/metrics"); code == 200 && strings.Contains(body, "gantry_") {
		t.Fatal("the API listener serves /metrics")
	}
	code, body := get(t, srv.DebugURL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, re := range []string{
		`gantry_api_request_duration_seconds_count\{operation="ListClusters",result="ok",service="ecs"\} 3\n`,
		`gantry_api_request_duration_seconds_count\{operation="DeleteCluster",result="error",service="ecs"\} 1\n`,
		`gantry_store_request_duration_seconds_count\{op="range",result="ok"\} [1-9]`,
		`gantry_placed_tasks_total 0\n`,
		`go_goroutines [1-9]`,
		`process_cpu_seconds_total `,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics has no %s", re)
		}
	}
}
