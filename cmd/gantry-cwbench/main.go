// Command gantry-cwbench measures CloudWatch metrics in Gantry: how many
// datapoints a second PutMetricData stores, and how long GetMetricData
// takes over one day of one-minute data for 100 services, each beside its
// goal (100,000 datapoints a second on 2 cores; under 100 ms), with the
// CPU time per operation.
//
// Usage:
//
//	go run ./cmd/gantry-cwbench [-duration 10s] [-clients 4] [-series 1000] [-services 100] [-queries 10]
//
// It runs, in this process:
//
//  1. the metric store alone (internal/cloudwatch/metricstore, Pebble,
//     each batch synced to disk as the server does): -clients goroutines
//     appending batches of 1,000 datapoints over -series series for
//     -duration;
//  2. the API: a control plane (`gantry server`'s code: embedded etcd,
//     the CloudWatch API on a loopback port, temporary data directory)
//     and -clients AWS SDK for Go v2 clients (RPC v2 CBOR, the SDK's
//     default, with its default gzip request compression) each sending
//     PutMetricData requests of 1,000 datapoints for -duration;
//  3. GetMetricData: one day of one-minute datapoints for -services
//     services (Namespace Bench, MetricName CPUUtilization, dimension
//     ServiceName) put through the API, then -queries runs of one
//     GetMetricData with one MetricStat query (Average, period 60) per
//     service over the day, and of one with the same queries hidden
//     (ReturnData false) under SUM(METRICS()).
//
// CPU is read with getrusage. In phase 2 the clients run in a child
// process of this binary (-put-client), so the server's CPU and the
// clients' are told apart; in phase 3 the client shares the process, so
// the CPU bounds the server's from above (its last row calls the API in
// process: the server's work alone, without wire or client). It prints a
// markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/awstime"
	cwapi "github.com/gantry-dev/gantry/internal/cloudwatch"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/config"
)

const (
	akid   = "AKIDCWBENCH000000000"
	secret = "cwbench-secret"
	batch  = 1000
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	duration time.Duration
	clients  int
	series   int
	services int
	queries  int
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gantry-cwbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each ingest phase runs")
	fs.IntVar(&o.clients, "clients", 4, "concurrent writers")
	fs.IntVar(&o.series, "series", 1000, "series written to in the ingest phases")
	fs.IntVar(&o.services, "services", 100, "services (series) of the GetMetricData phase")
	fs.IntVar(&o.queries, "queries", 10, "GetMetricData calls timed")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	putClient := fs.String("put-client", "", "internal: run the PutMetricData clients against this server URL and print what they did")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *putClient != "" {
		c := newClient(*putClient, config.DefaultServer().Region)
		n, el, cpu, err := putPhase(context.Background(), c, o)
		if err != nil {
			fmt.Fprintln(stderr, "gantry-cwbench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d %d %d\n", n, el.Nanoseconds(), cpu.Nanoseconds())
		return 0
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(stderr, "gantry-cwbench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "gantry-cwbench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if err := bench(context.Background(), o, stdout); err != nil {
		fmt.Fprintln(stderr, "gantry-cwbench:", err)
		return 1
	}
	return 0
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func bench(ctx context.Context, o options, w io.Writer) error {
	fmt.Fprintf(w, "gantry-cwbench -duration %s -clients %d -series %d -services %d -queries %d\n\n", o.duration, o.clients, o.series, o.services, o.queries)
	rate, cpu, err := storeOnly(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "| phase | result | goal | CPU |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| metric store alone (Append, synced batches of 1,000) | %.0f datapoints/s | | %.2f us/datapoint |\n", rate, us(cpu))

	dir, err := os.MkdirTemp("", "gantry-cwbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.DefaultServer()
	cfg.DataDir = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Credentials = append(cfg.Credentials, config.Credential(akid, secret, "bench", cfg.AccountID))
	srv, err := app.StartServer(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer srv.Close()
	c := newClient(srv.URL, cfg.Region)

	// The clients run in a child process, so that this process's CPU time
	// is the server's alone.
	cpu0 := cpuTime()
	cmd := exec.CommandContext(ctx, os.Args[0], "-put-client", srv.URL, "-duration", o.duration.String(),
		"-clients", strconv.Itoa(o.clients), "-series", strconv.Itoa(o.series))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("PutMetricData clients: %w", err)
	}
	serverCPU := cpuTime() - cpu0
	var n, elNs, clientNs int64
	if _, err := fmt.Sscanf(string(out), "%d %d %d", &n, &elNs, &clientNs); err != nil || n == 0 {
		return fmt.Errorf("PutMetricData clients said %q", out)
	}
	fmt.Fprintf(w, "| PutMetricData through the API (SDK clients in another process, CBOR, gzip, 1,000 datapoints a request) | %.0f datapoints/s | >= 100,000 datapoints/s | server %.2f us/datapoint; clients %.2f us/datapoint |\n",
		float64(n)/time.Duration(elNs).Seconds(), us(serverCPU/time.Duration(n)), us(time.Duration(clientNs)/time.Duration(n)))

	all, sum, direct, err := queryPhase(ctx, c, srv.CloudWatch, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "| GetMetricData, %d MetricStat queries over a day of 1-minute data (%d datapoints) | p50 %s, max %s | < 100 ms | %s/call (server + client) |\n",
		o.services, o.services*1440, all.p50.Round(time.Millisecond/10), all.max.Round(time.Millisecond/10), all.cpu.Round(time.Millisecond/10))
	fmt.Fprintf(w, "| GetMetricData, SUM(METRICS()) over the same %d series | p50 %s, max %s | < 100 ms | %s/call (server + client) |\n",
		o.services, sum.p50.Round(time.Millisecond/10), sum.max.Round(time.Millisecond/10), sum.cpu.Round(time.Millisecond/10))
	fmt.Fprintf(w, "| GetMetricData's work alone (the %d queries, called in process: no wire, no client) | p50 %s, max %s | < 100 ms | %s/call |\n",
		o.services, direct.p50.Round(time.Millisecond/10), direct.max.Round(time.Millisecond/10), direct.cpu.Round(time.Millisecond/10))
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// storeOnly appends to a metric store alone; it returns datapoints a
// second and CPU per datapoint.
func storeOnly(o options) (float64, time.Duration, error) {
	dir, err := os.MkdirTemp("", "gantry-cwbench-store-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	s, err := metricstore.Open(dir, metricstore.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	cpu0, t0 := cpuTime(), time.Now()
	deadline := t0.Add(o.duration)
	var wg sync.WaitGroup
	for g := 0; g < o.clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]metricstore.Datum, batch)
			for i := 0; time.Now().Before(deadline); i++ {
				now := time.Now()
				for j := range data {
					k := (i*batch + j + g) % o.series
					data[j] = metricstore.Datum{Series: metricstore.Series{Namespace: "Bench", Name: "Latency",
						Dimensions: []metricstore.Dimension{{Name: "ServiceName", Value: fmt.Sprintf("svc-%04d", k)}}},
						Time: now, Unit: "Milliseconds", Values: []float64{float64(j)}}
				}
				if err := s.Append(data); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(batch)
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(t0), cpuTime()-cpu0
	if firstErr != nil {
		return 0, 0, firstErr
	}
	return float64(n.Load()) / el.Seconds(), cpu / time.Duration(max(n.Load(), 1)), nil
}

func newClient(url, region string) *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{Region: region, BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")})
}

// putPhase sends PutMetricData requests for o.duration; it returns the
// datapoints put, the time taken and the CPU time used.
func putPhase(ctx context.Context, c *cloudwatch.Client, o options) (int64, time.Duration, time.Duration, error) {
	names := make([]string, o.series)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%04d", i)
	}
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	cpu0, t0 := cpuTime(), time.Now()
	deadline := t0.Add(o.duration)
	var wg sync.WaitGroup
	for g := 0; g < o.clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]types.MetricDatum, batch)
			for i := 0; time.Now().Before(deadline); i++ {
				for j := range data {
					k := (i*batch + j + g) % o.series
					data[j] = types.MetricDatum{MetricName: aws.String("Latency"), Value: aws.Float64(float64(j)), Unit: types.StandardUnitMilliseconds,
						Dimensions: []types.Dimension{{Name: aws.String("ServiceName"), Value: &names[k]}}}
				}
				if _, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Bench"), MetricData: data}); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				n.Add(batch)
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(t0), cpuTime()-cpu0
	if firstErr != nil {
		return 0, 0, 0, firstErr
	}
	return n.Load(), el, cpu, nil
}

type timing struct{ p50, max, cpu time.Duration }

func queryPhase(ctx context.Context, c *cloudwatch.Client, api *cwapi.API, o options) (timing, timing, timing, error) {
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-24 * time.Hour)
	var data []types.MetricDatum
	flush := func() error {
		if len(data) == 0 {
			return nil
		}
		_, err := c.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Bench"), MetricData: data})
		data = data[:0]
		return err
	}
	for s := 0; s < o.services; s++ {
		name := fmt.Sprintf("svc-%04d", s)
		for m := 0; m < 1440; m++ {
			data = append(data, types.MetricDatum{MetricName: aws.String("CPUUtilization"), Value: aws.Float64(float64((s + m) % 100)),
				Timestamp: aws.Time(start.Add(time.Duration(m) * time.Minute)), Unit: types.StandardUnitPercent,
				Dimensions: []types.Dimension{{Name: aws.String("ServiceName"), Value: aws.String(name)}}})
			if len(data) == batch {
				if err := flush(); err != nil {
					return timing{}, timing{}, timing{}, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return timing{}, timing{}, timing{}, err
	}
	queries := func(hidden bool) []types.MetricDataQuery {
		var qs []types.MetricDataQuery
		for s := 0; s < o.services; s++ {
			qs = append(qs, types.MetricDataQuery{Id: aws.String(fmt.Sprintf("m%d", s)), ReturnData: aws.Bool(!hidden),
				MetricStat: &types.MetricStat{Period: aws.Int32(60), Stat: aws.String("Average"), Metric: &types.Metric{
					Namespace: aws.String("Bench"), MetricName: aws.String("CPUUtilization"),
					Dimensions: []types.Dimension{{Name: aws.String("ServiceName"), Value: aws.String(fmt.Sprintf("svc-%04d", s))}}}}})
		}
		if hidden {
			qs = append(qs, types.MetricDataQuery{Id: aws.String("total"), Expression: aws.String("SUM(METRICS())")})
		}
		return qs
	}
	measure := func(hidden bool, want int) (timing, error) {
		in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: queries(hidden), MaxDatapoints: aws.Int32(int32(want))}
		var lat []time.Duration
		var cpu time.Duration
		for i := 0; i <= o.queries; i++ {
			c0, t0 := cpuTime(), time.Now()
			out, err := c.GetMetricData(ctx, in)
			if err != nil {
				return timing{}, err
			}
			el, cc := time.Since(t0), cpuTime()-c0
			got := 0
			for _, r := range out.MetricDataResults {
				got += len(r.Values)
			}
			if got != want || out.NextToken != nil {
				return timing{}, fmt.Errorf("GetMetricData returned %d datapoints, want %d", got, want)
			}
			if i == 0 {
				continue // warm-up
			}
			lat = append(lat, el)
			cpu += cc
		}
		slices.Sort(lat)
		return timing{p50: lat[len(lat)/2], max: lat[len(lat)-1], cpu: cpu / time.Duration(len(lat))}, nil
	}
	all, err := measure(false, o.services*1440)
	if err != nil {
		return timing{}, timing{}, timing{}, err
	}
	sum, err := measure(true, 1440)
	if err != nil {
		return timing{}, timing{}, timing{}, err
	}
	// The same queries handed to the API in process.
	var qs []cloudwatchapi.MetricDataQuery
	for s := 0; s < o.services; s++ {
		qs = append(qs, cloudwatchapi.MetricDataQuery{Id: fmt.Sprintf("m%d", s), MetricStat: &cloudwatchapi.MetricStat{Period: aws.Int32(60), Stat: "Average",
			Metric: &cloudwatchapi.Metric{Namespace: "Bench", MetricName: "CPUUtilization",
				Dimensions: []cloudwatchapi.Dimension{{Name: "ServiceName", Value: fmt.Sprintf("svc-%04d", s)}}}}})
	}
	in := &cloudwatchapi.GetMetricDataInput{StartTime: awstime.NewTimestamp(start), EndTime: awstime.NewTimestamp(end), MetricDataQueries: qs,
		MaxDatapoints: aws.Int32(int32(o.services * 1440))}
	var lat []time.Duration
	var cpu time.Duration
	for i := 0; i <= o.queries; i++ {
		c0, t0 := cpuTime(), time.Now()
		if _, err := api.GetMetricData(ctx, in); err != nil {
			return timing{}, timing{}, timing{}, err
		}
		if i > 0 {
			lat = append(lat, time.Since(t0))
			cpu += cpuTime() - c0
		}
	}
	slices.Sort(lat)
	return all, sum, timing{p50: lat[len(lat)/2], max: lat[len(lat)-1], cpu: cpu / time.Duration(len(lat))}, nil
}
