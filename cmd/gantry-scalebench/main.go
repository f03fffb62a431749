// Command gantry-scalebench measures service autoscaling end to end with
// Gantry's default configuration: the time from a sustained load step on
// an application load balancer to the first scale-out task RUNNING (goal:
// 30 seconds; ECS takes about three minutes), whether the task count
// stays put under the steady load that follows (no oscillation), and the
// time from the load's end to the scale-in.
//
// Usage:
//
//	go run ./cmd/gantry-scalebench [-target 600] [-rate 30] [-steady 2m] [-scalein-timeout 10m]
//
// It starts, in this process, a control plane (`gantry server`'s code
// with its defaults: embedded etcd in a temporary directory, the load
// balancer data plane publishing AWS/ApplicationELB every 2 s, alarms
// evaluated as their datapoints arrive and every 5 s, target tracking
// alarms of 10 s periods) and one
// agent on the local Docker Engine, builds the test HTTP server image
// through the Docker API (no registry), and sets up a service of one task
// behind a load balancer listener with a target tracking policy on
// ALBRequestCountPerTarget (-target requests per target per minute;
// scalable target 1 to 4, default cooldowns). Then it sends -rate
// requests a second (internal/lbload) through the listener, three times
// the target for one task by default, and records:
//
//  1. step → decision: when the service's desired count first rises;
//  2. step → RUNNING: when the first task beyond the first is RUNNING;
//  3. over -steady of the same load, every change of the desired count
//     (a decrease under steady load is an oscillation);
//  4. after the load drops to -low-rate, when the desired count first falls (target
//     tracking's low alarm is 15 periods of 10 s, and no scale-in happens
//     within the 300 s scale-out cooldown), unless -scalein-timeout is 0.
//
// Registering the service's tasks in the target group is the service
// controller's work (issue 11, item 3); until it is merged, this command
// registers each RUNNING task's host port itself as an ip target, every
// 500 ms. CPU is the process's (server, agent and load generator share
// it), from getrusage. It prints a markdown report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-dev/gantry/internal/benchenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/lbload"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	target         float64
	rate           int
	steady         time.Duration
	scaleInTimeout time.Duration
	lowRate        int
	warmup         time.Duration
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gantry-scalebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.Float64Var(&o.target, "target", 600, "target value of the ALBRequestCountPerTarget policy (requests per target per minute)")
	fs.IntVar(&o.rate, "rate", 30, "requests a second of the load step")
	fs.DurationVar(&o.steady, "steady", 2*time.Minute, "how long the load goes on after the first scale-out (oscillation watch)")
	fs.DurationVar(&o.scaleInTimeout, "scalein-timeout", 10*time.Minute, "how long to wait for the scale-in after the load (0: do not wait)")
	fs.DurationVar(&o.warmup, "warmup", 40*time.Second, "how long -low-rate requests a second run before the step, so that the alarm's periods before it have data that does not breach (0: none; with no data before the step, CloudWatch's rule for missing data lets the first breaching period alone raise the alarm)")
	fs.IntVar(&o.lowRate, "low-rate", 3, "requests a second after the load step ends, while the scale-in is awaited (0: none; with no requests ELB publishes no RequestCountPerTarget and target tracking does not scale in, as on AWS)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.target <= 0 || o.rate <= 0 || o.steady < 0 || o.scaleInTimeout < 0 {
		fmt.Fprintln(stderr, "gantry-scalebench: -target and -rate must be positive, durations not negative")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	report, err := bench(ctx, o, logger)
	if err != nil {
		fmt.Fprintln(stderr, "gantry-scalebench:", err)
		return 1
	}
	fmt.Fprint(stdout, report)
	return 0
}

// change is one change of the desired count seen.
type change struct {
	at       time.Duration // since the load step
	from, to int32
}

func bench(ctx context.Context, o options, logger *slog.Logger) (string, error) {
	const cluster = "scalebench"
	env, err := benchenv.Start(ctx, benchenv.Options{Name: "scalebench", Cluster: cluster, Server: func(c *config.Server) { c.RegistryListen = "127.0.0.1:0" }}, logger)
	if err != nil {
		return "", err
	}
	defer env.Close()
	image, cl := env.Image, env.ECS
	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	elb := elbv2.New(elbv2.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds})
	as := aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), Credentials: creds})

	// The load balancer: a listener forwarding to an ip target group.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	lbOut, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("scalebench")})
	if err != nil {
		return "", err
	}
	lbArn := aws.ToString(lbOut.LoadBalancers[0].LoadBalancerArn)
	tgOut, err := elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("scalebench"), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(8080), TargetType: elbtypes.TargetTypeEnumIp, HealthCheckPath: aws.String("/health"),
		HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2)})
	if err != nil {
		return "", err
	}
	tgArn := aws.ToString(tgOut.TargetGroups[0].TargetGroupArn)
	if _, err := elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lbArn), Protocol: elbtypes.ProtocolEnumHttp,
		Port: aws.Int32(int32(port)), DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tgArn)}}}); err != nil {
		return "", err
	}

	td, err := cl.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("scalebench"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String(image), Memory: aws.Int32(32), Essential: aws.Bool(true),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(8080)}}}}})
	if err != nil {
		return "", err
	}
	if _, err := cl.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String("web"),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1)}); err != nil {
		return "", err
	}
	// Targets: every RUNNING task's host port (the service controller's
	// work once services take loadBalancers).
	regCtx, stopReg := context.WithCancel(ctx)
	var regWG sync.WaitGroup
	var runMu sync.Mutex
	firstRunning := map[string]time.Time{} // task ARN -> when first seen RUNNING
	regWG.Go(func() {
		registered := map[int32]bool{}
		for {
			tasks, err := env.ServiceTasks(regCtx, "web")
			if err == nil {
				for _, tk := range tasks {
					if aws.ToString(tk.LastStatus) != "RUNNING" || len(tk.Containers) == 0 || len(tk.Containers[0].NetworkBindings) == 0 {
						continue
					}
					runMu.Lock()
					if _, ok := firstRunning[aws.ToString(tk.TaskArn)]; !ok {
						firstRunning[aws.ToString(tk.TaskArn)] = time.Now()
					}
					runMu.Unlock()
					hp := aws.ToInt32(tk.Containers[0].NetworkBindings[0].HostPort)
					if registered[hp] {
						continue
					}
					if _, err := elb.RegisterTargets(regCtx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tgArn),
						Targets: []elbtypes.TargetDescription{{Id: aws.String("127.0.0.1"), Port: aws.Int32(hp)}}}); err == nil {
						registered[hp] = true
					}
				}
			}
			select {
			case <-regCtx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	defer func() {
		stopReg()
		regWG.Wait()
	}()
	logger.Info("waiting for the first task and its target")
	if err := waitFor(ctx, 3*time.Minute, func() (bool, error) {
		out, err := elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgArn)})
		if err != nil {
			return false, err
		}
		return len(out.TargetHealthDescriptions) == 1 && out.TargetHealthDescriptions[0].TargetHealth.State == elbtypes.TargetHealthStateEnumHealthy, nil
	}); err != nil {
		return "", fmt.Errorf("first target: %w", err)
	}

	res, ns, dim := aws.String("service/"+cluster+"/web"), aastypes.ServiceNamespaceEcs, aastypes.ScalableDimensionECSServiceDesiredCount
	if _, err := as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(4)}); err != nil {
		return "", err
	}
	lbDim := lbArn[strings.Index(lbArn, ":loadbalancer/")+len(":loadbalancer/"):]
	tgDim := tgArn[strings.LastIndexByte(tgArn, ':')+1:]
	if _, err := as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("requests"), ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		PolicyType: aastypes.PolicyTypeTargetTrackingScaling, TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{
			TargetValue: aws.Float64(o.target), PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{
				PredefinedMetricType: aastypes.MetricTypeALBRequestCountPerTarget, ResourceLabel: aws.String(lbDim + "/" + tgDim)}}}); err != nil {
		return "", err
	}
	// Watch the desired count from here on.
	var chMu sync.Mutex
	var changes []change
	var step time.Time
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchWG sync.WaitGroup
	watchWG.Go(func() {
		last := int32(1)
		for {
			out, err := cl.DescribeServices(watchCtx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{"web"}})
			if err == nil && len(out.Services) == 1 {
				if n := out.Services[0].DesiredCount; n != last {
					chMu.Lock()
					changes = append(changes, change{at: time.Since(step), from: last, to: n})
					chMu.Unlock()
					logger.Info("desired count", "from", last, "to", n, "after", time.Since(step).Round(100*time.Millisecond))
					last = n
				}
			}
			select {
			case <-watchCtx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	defer func() {
		stopWatch()
		watchWG.Wait()
	}()

	if o.warmup > 0 && o.lowRate > 0 {
		logger.Info("warm-up before the step", "rate", o.lowRate, "for", o.warmup)
		wctx, stop := context.WithTimeout(ctx, o.warmup)
		_, _ = lbload.Run(wctx, lbload.Config{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Rate: o.lowRate, Workers: 2})
		stop()
	}
	logger.Info("load step", "rate", o.rate)
	cpu0 := benchproc.SelfCPU()
	step = time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadWG sync.WaitGroup
	var load lbload.Result
	var loadErr error
	loadWG.Go(func() {
		load, loadErr = lbload.Run(loadCtx, lbload.Config{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Rate: o.rate, Workers: 8})
	})
	// The first task beyond the first RUNNING.
	var toRunning time.Duration
	if err := waitFor(ctx, 5*time.Minute, func() (bool, error) {
		runMu.Lock()
		defer runMu.Unlock()
		for _, at := range firstRunning {
			if at.After(step) {
				toRunning = at.Sub(step)
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		stopLoad()
		loadWG.Wait()
		return "", fmt.Errorf("no scale-out task RUNNING: %w", err)
	}
	logger.Info("scale-out task RUNNING", "after", toRunning.Round(100*time.Millisecond))
	select {
	case <-ctx.Done():
	case <-time.After(o.steady):
	}
	stopLoad()
	loadWG.Wait()
	loadEnd := time.Since(step)
	if loadErr != nil {
		return "", loadErr
	}
	var toScaleIn time.Duration
	lowCtx, stopLow := context.WithCancel(ctx)
	defer stopLow()
	if o.lowRate > 0 && o.scaleInTimeout > 0 {
		loadWG.Go(func() {
			_, _ = lbload.Run(lowCtx, lbload.Config{URL: fmt.Sprintf("http://127.0.0.1:%d/", port), Rate: o.lowRate, Workers: 2})
		})
	}
	if o.scaleInTimeout > 0 {
		logger.Info("waiting for the scale-in", "timeout", o.scaleInTimeout)
		if err := waitFor(ctx, o.scaleInTimeout, func() (bool, error) {
			chMu.Lock()
			defer chMu.Unlock()
			for _, c := range changes {
				if c.at > loadEnd && c.to < c.from {
					toScaleIn = c.at - loadEnd
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			logger.Warn("no scale-in", "err", err)
		}
	}
	stopLow()
	loadWG.Wait()
	cpu := benchproc.SelfCPU() - cpu0
	logger.Info("done", "load", benchproc.LoadAverage())
	chMu.Lock()
	defer chMu.Unlock()
	return format(o, toRunning, loadEnd, toScaleIn, changes, load, cpu), nil
}

// waitFor polls cond every 200 ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if last != nil {
		return fmt.Errorf("timed out after %v: %w", timeout, last)
	}
	return errors.New("timed out after " + timeout.String())
}

func format(o options, toRunning, loadEnd, toScaleIn time.Duration, changes []change, load lbload.Result, cpu time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s; load average at the end: %s.\n\n", benchproc.Machine(), benchproc.LoadAverage())
	fmt.Fprintf(&b, "| measure | Gantry (default configuration) | goal / ECS |\n| --- | ---: | --- |\n")
	decision := "-"
	for _, c := range changes {
		if c.to > c.from {
			decision = c.at.Round(100 * time.Millisecond).String()
			break
		}
	}
	fmt.Fprintf(&b, "| load step → desired count raised | %s | |\n", decision)
	fmt.Fprintf(&b, "| load step → first scale-out task RUNNING | %s | 30 s / about 3 min |\n", toRunning.Round(100*time.Millisecond))
	oscillations := 0
	for _, c := range changes {
		if c.at < loadEnd && c.to < c.from {
			oscillations++
		}
	}
	fmt.Fprintf(&b, "| decreases under %v of steady load | %d | 0 |\n", (loadEnd - toRunning).Round(time.Second), oscillations)
	si := "not waited for"
	if o.scaleInTimeout > 0 {
		si = "none within " + o.scaleInTimeout.String()
		if toScaleIn > 0 {
			si = toScaleIn.Round(100 * time.Millisecond).String()
		}
	}
	fmt.Fprintf(&b, "| load step end (%d/s → %d/s) → first scale-in | %s | after the cooldown |\n\n", o.rate, o.lowRate, si)
	fmt.Fprintf(&b, "Desired count changes (time since the load step):")
	for _, c := range changes {
		fmt.Fprintf(&b, " %d→%d at %v;", c.from, c.to, c.at.Round(100*time.Millisecond))
	}
	fmt.Fprintf(&b, "\n\nLoad: %d requests at %d/s (target %g requests per target per minute), %d failed; p50 %v, p99 %v. Process CPU (server, agent, load generator) from the step to the end: %v.\n",
		load.Requests, o.rate, o.target, load.Failed(), load.P50.Round(10*time.Microsecond), load.P99.Round(10*time.Microsecond), cpu.Round(10*time.Millisecond))
	return b.String()
}
