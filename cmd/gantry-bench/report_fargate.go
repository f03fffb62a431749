package main

import (
	"fmt"
	"strings"
	"time"
)

// fargateHeading is the heading of the section `gantry-bench fargate`
// replaces.
const fargateHeading = "## FARGATE: RunTask to RUNNING on a warm pool"

// goalFargateRatio is the highest acceptable FARGATE/docker start time
// ratio (issue 15).
const goalFargateRatio = 1.3

// renderFargateReport returns the markdown section of a `gantry-bench
// fargate` run, starting with fargateHeading.
func renderFargateReport(res *results) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.machine
	cfg := res.cfg

	p("%s\n\n", fargateHeading)
	p("Measured by `gantry-bench fargate` on %s UTC. To reproduce, from the repository root:\n\n", res.date.Format("2006-01-02 15:04"))
	p("```sh\n%s\n```\n\n", reproduce("fargate", cfg.Args))
	p("Machine: %s, %d cores, %.1f GiB memory, Linux %s; Docker Engine %s (API %s), docker CLI %s; %s.\n\n",
		m.CPU, m.Cores, float64(m.MemoryMiB)/1024, m.Kernel, m.DockerVersion, m.DockerAPI, m.DockerCLI, m.GoVersion)
	p("Load average (1, 5, 15 min) before the latency runs: %s; after them: %s. The machine is shared with other work, which adds noise to every figure below.\n\n", res.loadStart, res.loadEnd)
	p("Setup: `gantry server` (embedded etcd) and one warm Fargate pool host, `gantry-agent --capacity-provider FARGATE --task-cleanup-wait 1s` ")
	p("(it registers into the hidden pool cluster `%s`), run as separate processes on loopback, built from the working tree. ", fargatePoolCluster)
	p("The image is a static Go HTTP server, FROM scratch, built locally (no registry). ")
	p("The task definition is a Fargate one: requiresCompatibilities FARGATE, network mode awsvpc, task cpu %s and memory %s, one container of that image with container port %d. ", fargateTaskCPU, fargateTaskMemory, webPort)
	p("RunTask asks for launchType FARGATE with an awsvpc network configuration in the user cluster `%s`; the pool host starts the task's pause container (its network namespace on the `gantry-awsvpc` bridge) and then the container, with the task's hard CPU and memory limits.", clusterName)
	if cfg.AgentBinary != "" {
		p(" The agent ran from `%s`.", cfg.AgentBinary)
	}
	if len(cfg.AgentEnv) > 0 {
		p(" The agent ran with the environment `%s`.", strings.Join(cfg.AgentEnv, " "))
	}
	p("\n\n")

	p("### Start latency\n\n")
	p("%d measured starts of each kind after %d warm-ups, one at a time, FARGATE RunTask and `docker run` alternating (and taking turns to go first). ", len(res.gantry), cfg.Warmup)
	p("FARGATE: from the RunTask call until DescribeTasks, polled every %v, says lastStatus RUNNING, and until the container answers HTTP 200 on the task's awsvpc address (the privateIPv4Address of its ElasticNetworkInterface attachment, port %d, polled every %v from the host, a new connection each time). ", cfg.Poll, webPort, cfg.Poll)
	p("Each task is stopped, and its containers removed by the agent, before the next start. ")
	p("docker: `docker run -d -p 0:%d IMAGE` with the docker CLI, until the command returns, and until the container answers HTTP on its host port; the container is removed after.\n\n", webPort)
	gRun := summarize(pick(res.gantry, func(g gantryStart) time.Duration { return g.Running }))
	gHTTP := summarize(pick(res.gantry, func(g gantryStart) time.Duration { return g.HTTP }))
	dRet := summarize(pick(res.docker, func(d dockerStart) time.Duration { return d.Return }))
	dHTTP := summarize(pick(res.docker, func(d dockerStart) time.Duration { return d.HTTP }))
	p("| Measure | p50 | p90 | max | mean |\n|---|---:|---:|---:|---:|\n")
	row := func(name string, s summary) {
		p("| %s | %s | %s | %s | %s |\n", name, ms(s.P50), ms(s.P90), ms(s.Max), ms(s.Mean))
	}
	row("FARGATE: RunTask → lastStatus RUNNING", gRun)
	row("FARGATE: RunTask → container answers HTTP (awsvpc address)", gHTTP)
	row("`docker run -d`: command returns", dRet)
	row("`docker run -d` → container answers HTTP (host port)", dHTTP)
	p("\n")
	rRun, rHTTP := ratio(gRun.P50, dRet.P50), ratio(gHTTP.P50, dHTTP.P50)
	p("Ratio FARGATE/docker at p50: **%.2f** for RUNNING against the command's return (goal ≤ %.1f: **%s**), ", rRun, goalFargateRatio, metWord(rRun <= goalFargateRatio))
	p("**%.2f** for the HTTP answer (%s); at p90: %.2f and %.2f; at the mean: %.2f and %.2f. AWS Fargate itself takes 30 to 45 s.\n\n",
		rHTTP, metWord(rHTTP <= goalFargateRatio), ratio(gRun.P90, dRet.P90), ratio(gHTTP.P90, dHTTP.P90),
		ratio(gRun.Mean, dRet.Mean), ratio(gHTTP.Mean, dHTTP.Mean))

	p("Where the FARGATE start's time goes, from the task's own timestamps (createdAt by the server; pullStartedAt, pullStoppedAt and startedAt by the agent; to the millisecond):\n\n")
	warm := 0
	for _, g := range res.gantry {
		if g.WarmPause {
			warm++
		}
	}
	p("%d of the %d measured starts claimed a warm pause container of the pool host (started before the RunTask call): for those the pause container's steps are 0 and the claim is in \"pause container started → pullStartedAt\".\n\n", warm, len(res.gantry))
	p("| Step | p50 | mean |\n|---|---:|---:|\n")
	step := func(name string, f func(g gantryStart) time.Duration) {
		s := summarize(pick(res.gantry, f))
		p("| %s | %s | %s |\n", name, ms(s.P50), ms(s.Mean))
	}
	step("RunTask call → its answer (placement on the pool, etcd commit)", func(g gantryStart) time.Duration { return g.RunTask })
	step("RunTask call → pause container created (the pool host's poll delivers the task; Docker's timestamp)", func(g gantryStart) time.Duration { return g.PauseCreated })
	step("pause container created → started (the task's network namespace and address; Docker's timestamps)", func(g gantryStart) time.Duration { return g.PauseStarted - g.PauseCreated })
	step("pause container started → pullStartedAt (inspect, task set-up)", func(g gantryStart) time.Duration { return g.PullStarted - g.PauseStarted })
	step("image check + container create (pullStartedAt → pullStoppedAt)", func(g gantryStart) time.Duration { return g.PullStopped - g.PullStarted })
	step("container start + inspect (pullStoppedAt → startedAt)", func(g gantryStart) time.Duration { return g.Started - g.PullStopped })
	step("state reports until DescribeTasks says RUNNING (startedAt → RUNNING seen)", func(g gantryStart) time.Duration { return g.Running - g.Started })
	p("\n")

	polls := 0
	for _, g := range res.gantry {
		polls += g.Polls
	}
	p("CPU time per task start, until the HTTP answer (mean per start; user + system from /proc in 10 ms ticks, so only the mean over runs is meaningful). ")
	p("FARGATE starts polled DescribeTasks %.0f times each on average; that polling, every %v, is most of the client's and the server's CPU in the FARGATE row.\n\n", float64(polls)/float64(max(1, len(res.gantry))), cfg.Poll)
	p("| Start | client (gantry-bench, docker CLI) | gantry server | gantry agent | dockerd + containerd | total |\n|---|---:|---:|---:|---:|---:|\n")
	cpuRow := func(name string, samples []cpuSample) {
		var sum cpuSample
		for _, s := range samples {
			sum.Client += s.Client
			sum.Server += s.Server
			sum.Agent += s.Agent
			sum.Docker += s.Docker
		}
		n := time.Duration(max(1, len(samples)))
		p("| %s | %s | %s | %s | %s | %s |\n", name, ms(sum.Client/n), ms(sum.Server/n), ms(sum.Agent/n), ms(sum.Docker/n),
			ms((sum.Client+sum.Server+sum.Agent+sum.Docker)/n))
	}
	cpuRow("FARGATE RunTask", pickCPU(res.gantry, func(g gantryStart) cpuSample { return g.CPU }))
	cpuRow("`docker run -d`", pickCPU(res.docker, func(d dockerStart) cpuSample { return d.CPU }))
	return b.String()
}
