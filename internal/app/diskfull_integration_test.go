package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes for the test (root only: CI runs
// as root) and unmounts it at the end.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root: the full-disk test mounts a tmpfs")
		}
		t.Skip("not root: cannot mount a tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	return dir
}

// fill writes a file until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			return
		}
	}
}

// On a full disk the server stays up: writes answer ServerException
// "store full", reads are served, and once space is freed writes work
// again, with every acknowledged write kept (also across a restart).
func TestFullDiskDegradesAndRecovers(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, 352<<20) // etcd (WAL segment, cushion, database) and the log and metric stores' Pebble WALs (each preallocated to ~72 MiB at its first write)
	env := apitest.Start(t, apitest.Options{DataDir: dir, Configure: func(c *config.Server) {
		c.EtcdQuotaBytes = 64 << 20
		c.DiskReserveBytes = 40 << 20
	}})
	ctx := context.Background()
	var acked []string
	create := func(name string) error {
		_, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)})
		if err == nil {
			acked = append(acked, name)
		}
		return err
	}
	for i := range 20 {
		if err := create(fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The log store (Pebble, beside etcd on the same disk) too.
	logsClient := cwl.New(cwl.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	group, stream := aws.String("/full/disk"), aws.String("s")
	if _, err := logsClient.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: group}); err != nil {
		t.Fatal(err)
	}
	if _, err := logsClient.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: group, LogStreamName: stream}); err != nil {
		t.Fatal(err)
	}
	putLog := func(msg string) error {
		_, err := logsClient.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: group, LogStreamName: stream,
			LogEvents: []cwltypes.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String(msg)}}})
		return err
	}
	logEvents := func() int {
		out, err := logsClient.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: group, LogStreamName: stream, StartFromHead: aws.Bool(true)})
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		return len(out.Events)
	}
	if err := putLog("before"); err != nil {
		t.Fatal(err)
	}
	// And the metric store (Pebble too).
	metricsClient := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	putMetric := func(v float64) error {
		_, err := metricsClient.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Full"),
			MetricData: []cwtypes.MetricDatum{{MetricName: aws.String("m"), Value: aws.Float64(v), Timestamp: aws.Time(time.Now())}}})
		return err
	}
	if err := putMetric(1); err != nil {
		t.Fatal(err)
	}
	fill(t, filepath.Join(dir, "filler"))
	var fs syscall.Statfs_t
	_ = syscall.Statfs(dir, &fs)
	t.Logf("free after filling: %d bytes", int64(fs.Bavail)*int64(fs.Bsize))
	attempt := 0
	testutil.WaitFor(t, 5*time.Second, "writes refused", func() error {
		// A new name each time: creating an existing cluster writes nothing.
		attempt++
		err := create(fmt.Sprintf("while-full-%d", attempt))
		var se *types.ServerException
		if errors.As(err, &se) && strings.Contains(se.ErrorMessage(), "The store is full") {
			return nil
		}
		return fmt.Errorf("CreateCluster: %v", err)
	})
	var su *cwltypes.ServiceUnavailableException
	if err := putLog("while full"); !errors.As(err, &su) || !strings.Contains(su.ErrorMessage(), "The log store is full") {
		t.Fatalf("PutLogEvents on a full disk: %v", err)
	}
	if _, err := logsClient.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("/full/new")}); !errors.As(err, &su) {
		t.Fatalf("CreateLogGroup on a full disk: %v", err)
	}
	if n := logEvents(); n != 1 {
		t.Fatalf("GetLogEvents on a full disk: %d events, want 1", n)
	}
	// CloudWatch's server fault (the SDK v2 leaves its message member
	// empty: the message travels as "message", the shape names it Message).
	var isf *cwtypes.InternalServiceFault
	if err := putMetric(2); !errors.As(err, &isf) {
		t.Fatalf("PutMetricData on a full disk: %T %v", err, err)
	}
	if lm, err := metricsClient.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String("Full")}); err != nil || len(lm.Metrics) != 1 {
		t.Fatalf("ListMetrics on a full disk: %v %v", lm, err)
	}
	// Reads keep working, the process stays up.
	for range 3 {
		list, err := env.Client.ListClusters(ctx, &ecs.ListClustersInput{})
		if err != nil || len(list.ClusterArns) != len(acked) {
			t.Fatalf("ListClusters on a full disk: %d clusters, %v", len(list.ClusterArns), err)
		}
		if _, err := env.Client.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"before-3"}}); err != nil {
			t.Fatalf("DescribeClusters on a full disk: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "writes taken again", func() error { return create("after") })
	testutil.WaitFor(t, 10*time.Second, "log writes taken again", func() error { return putLog("after") })
	testutil.WaitFor(t, 10*time.Second, "metric writes taken again", func() error { return putMetric(3) })
	env.Restart(t)
	if n := logEvents(); n != 2 {
		t.Fatalf("log events after the restart: %d, want 2", n)
	}
	list, err := env.Client.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil || len(list.ClusterArns) != len(acked) {
		t.Fatalf("after the restart: %d clusters, want %d: %v", len(list.ClusterArns), len(acked), err)
	}
}

// Past etcd's backend quota (its NOSPACE alarm) writes answer "store
// full" and reads go on; a restart with a larger quota takes writes again
// (the guard compacts, defragments and disarms the alarm) with every
// acknowledged write kept.
func TestEtcdQuotaDegradesAndRecovers(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	env := apitest.Start(t, apitest.Options{DataDir: dataDir, Configure: func(c *config.Server) { c.EtcdQuotaBytes = 16 << 20 }})
	ctx := context.Background()
	big := strings.Repeat("x", 30000)
	acked := 0
	var refused error
	for i := 0; i < 2000 && refused == nil; i++ {
		_, err := env.Client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(fmt.Sprintf("big-%d", i)),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("c"), Image: aws.String("busybox"), Memory: aws.Int32(8),
				Environment: []types.KeyValuePair{{Name: aws.String("A"), Value: aws.String(big)}, {Name: aws.String("B"), Value: aws.String(big)}}}}})
		if err != nil {
			refused = err
			break
		}
		acked++
	}
	var se *types.ServerException
	if !errors.As(refused, &se) || !strings.Contains(se.ErrorMessage(), "The store is full") {
		t.Fatalf("after %d registrations: %v", acked, refused)
	}
	fams, err := env.Client.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{MaxResults: aws.Int32(100)})
	if err != nil || len(fams.Families) == 0 {
		t.Fatalf("reads past the quota: %v %v", fams, err)
	}
	if _, err := env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("big-0")}); err != nil {
		t.Fatalf("DescribeTaskDefinition past the quota: %v", err)
	}
	env.Config.EtcdQuotaBytes = 256 << 20
	env.Restart(t)
	testutil.WaitFor(t, 15*time.Second, "writes taken after the quota grew", func() error {
		_, err := env.Client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("after")})
		return err
	})
	for _, i := range []int{0, acked / 2, acked - 1} {
		if _, err := env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(fmt.Sprintf("big-%d", i))}); err != nil {
			t.Fatalf("acknowledged big-%d: %v", i, err)
		}
	}
	t.Logf("%d registrations acknowledged before the quota", acked)
}
