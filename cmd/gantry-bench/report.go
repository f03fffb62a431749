package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"
	"github.com/gantry-dev/gantry/internal/benchproc"
)

// sectionHeading is the heading of the section the report replaces.
const sectionHeading = "## Agent: task start latency and memory"

// fileTitle starts a performance file that -write creates.
const fileTitle = "# Gantry performance"

// findingsHeading starts a hand-written subsection of the section, which
// -write keeps (it must be the section's last subsection).
const findingsHeading = "### Findings"

// Goals.
const (
	// goalRatio is the highest acceptable Gantry/docker start time ratio.
	goalRatio = 1.2
	// goalAgentKiB is the highest acceptable agent VmRSS with Tasks tasks.
	goalAgentKiB = 32 * 1024
)

// results is everything one run measured.
type results struct {
	cfg     config
	date    time.Time
	machine machine

	gantry []gantryStart
	docker []dockerStart

	// Agent memory: after registration, before the concurrent tasks,
	// with them all RUNNING, settle later, and after their cleanup.
	agentIdle, agentBefore, agentRunning, agentSettled, agentAfter benchproc.MemStatus
	serverRunning, serverAfter                                     benchproc.MemStatus
	containersRunning                                              int
	// allRunning is the time from the first RunTask until every task was
	// RUNNING; cleanedUp from the first StopTask until every container
	// was removed.
	allRunning, cleanedUp time.Duration
	// loadStart and loadEnd are the 1, 5 and 15 minute load averages
	// before the first measured start and after the last one.
	loadStart, loadEnd string
}

// machine describes where the benchmark ran.
type machine struct {
	CPU           string
	Cores         int
	MemoryMiB     int64
	Kernel        string
	DockerVersion string
	DockerAPI     string
	DockerCLI     string
	GoVersion     string
}

// describeMachine reads the CPU model, memory and kernel from /proc and
// asks Docker and the go command for their versions.
func describeMachine(ctx context.Context, cli client.APIClient) (machine, error) {
	m := machine{Cores: runtime.NumCPU(), CPU: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = procField(b, "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(procField(b, "MemTotal"))
		if len(f) > 0 {
			kib, _ := strconv.ParseInt(f[0], 10, 64)
			m.MemoryMiB = kib / 1024
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return m, fmt.Errorf("docker version: %w", err)
	}
	m.DockerVersion, m.DockerAPI = v.Version, v.APIVersion
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Client.Version}}").Output(); err == nil {
		m.DockerCLI = strings.TrimSpace(string(out))
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return m, fmt.Errorf("go env GOVERSION: %w", err)
	}
	m.GoVersion = strings.TrimSpace(string(out))
	return m, nil
}

// procField returns the value of the first "name: value" line of a /proc
// file, or "".
func procField(b []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// summary is the p50, p90, mean and maximum of samples.
type summary struct {
	P50, P90, Mean, Max time.Duration
}

// summarize computes a summary; percentiles are nearest-rank.
func summarize(samples []time.Duration) summary {
	if len(samples) == 0 {
		return summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return summary{P50: percentile(s, 0.5), P90: percentile(s, 0.9), Mean: sum / time.Duration(len(s)), Max: s[len(s)-1]}
}

// percentile returns the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// pick maps samples through f.
func pick[T any](samples []T, f func(T) time.Duration) []time.Duration {
	out := make([]time.Duration, len(samples))
	for i, s := range samples {
		out[i] = f(s)
	}
	return out
}

// pickCPU maps samples to their CPU samples.
func pickCPU[T any](samples []T, f func(T) cpuSample) []cpuSample {
	out := make([]cpuSample, len(samples))
	for i, s := range samples {
		out[i] = f(s)
	}
	return out
}

// renderReport returns the markdown section of res, starting with
// sectionHeading.
func renderReport(res *results) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := res.machine
	cfg := res.cfg

	p("%s\n\n", sectionHeading)
	p("Measured by `gantry-bench agent` on %s UTC. To reproduce, from the repository root:\n\n", res.date.Format("2006-01-02 15:04"))
	p("```sh\n%s\n```\n\n", reproduceCommand(cfg.Args))
	p("Machine: %s, %d cores, %.1f GiB memory, Linux %s; Docker Engine %s (API %s), docker CLI %s; %s.\n\n",
		m.CPU, m.Cores, float64(m.MemoryMiB)/1024, m.Kernel, m.DockerVersion, m.DockerAPI, m.DockerCLI, m.GoVersion)
	p("Load average (1, 5, 15 min) before the latency runs: %s; after them: %s. Other work on the machine adds noise to every figure below.\n\n", res.loadStart, res.loadEnd)
	p("Setup: `gantry server` (embedded etcd) and `gantry agent --task-cleanup-wait 1s` run as separate processes on loopback, ")
	p("built from the working tree. The image is a static Go HTTP server, FROM scratch, built locally (no registry). ")
	p("The task definition has one container of that image, memory %d, bridge network mode, container port %d on a dynamic host port.", taskMemory, webPort)
	if cfg.AgentBinary != "" {
		p(" The agent ran from `%s`, not from the gantry binary.", cfg.AgentBinary)
	}
	if len(cfg.AgentEnv) > 0 {
		p(" The agent ran with the environment `%s`.", strings.Join(cfg.AgentEnv, " "))
	}
	p("\n\n")

	p("### Task start latency\n\n")
	p("%d measured starts of each kind after %d warm-ups, one at a time, Gantry and `docker run` alternating (and taking turns to go first). ", len(res.gantry), cfg.Warmup)
	p("Gantry: from the RunTask call until DescribeTasks, polled every %v, says lastStatus RUNNING, and until the container answers HTTP 200 on its host port (polled every %v, a new connection each time). ", cfg.Poll, cfg.Poll)
	p("Each task is stopped, and its container removed by the agent, before the next start. ")
	p("docker: `docker run -d -p 0:%d IMAGE` with the docker CLI, until the command returns, and until the container answers HTTP; the container is removed after.", webPort)
	if cfg.DockerWithPoll {
		p(" With -docker-with-poll, DescribeTasks was polled every %v during the docker runs too, so both kinds of start carry that load.", cfg.Poll)
	}
	p("\n\n")
	gRun := summarize(pick(res.gantry, func(g gantryStart) time.Duration { return g.Running }))
	gHTTP := summarize(pick(res.gantry, func(g gantryStart) time.Duration { return g.HTTP }))
	dRet := summarize(pick(res.docker, func(d dockerStart) time.Duration { return d.Return }))
	dHTTP := summarize(pick(res.docker, func(d dockerStart) time.Duration { return d.HTTP }))
	p("| Measure | p50 | p90 | mean |\n|---|---:|---:|---:|\n")
	row := func(name string, s summary) { p("| %s | %s | %s | %s |\n", name, ms(s.P50), ms(s.P90), ms(s.Mean)) }
	row("Gantry: RunTask → lastStatus RUNNING", gRun)
	row("Gantry: RunTask → container answers HTTP", gHTTP)
	row("`docker run -d`: command returns", dRet)
	row("`docker run -d` → container answers HTTP", dHTTP)
	p("\n")
	rRun, rHTTP := ratio(gRun.P50, dRet.P50), ratio(gHTTP.P50, dHTTP.P50)
	p("Ratio Gantry/docker at p50: **%.2f** for RUNNING against the command's return (goal ≤ %.1f: **%s**), ", rRun, goalRatio, metWord(rRun <= goalRatio))
	p("**%.2f** for the HTTP answer (%s); at the mean: %.2f and %.2f.\n\n",
		rHTTP, metWord(rHTTP <= goalRatio), ratio(gRun.Mean, dRet.Mean), ratio(gHTTP.Mean, dHTTP.Mean))

	p("Where Gantry's time goes, step by step, from the task's own timestamps (createdAt by the server; pullStartedAt, pullStoppedAt and startedAt by the agent; to the millisecond):\n\n")
	p("| Step | p50 | mean |\n|---|---:|---:|\n")
	step := func(name string, f func(g gantryStart) time.Duration) {
		s := summarize(pick(res.gantry, f))
		p("| %s | %s | %s |\n", name, ms(s.P50), ms(s.Mean))
	}
	step("RunTask call → its answer (placement, etcd commit)", func(g gantryStart) time.Duration { return g.RunTask })
	step("RunTask call → agent begins (pullStartedAt: long-poll wake-up, poll answer, task set-up)", func(g gantryStart) time.Duration { return g.PullStarted })
	step("image check + container create (pullStartedAt → pullStoppedAt)", func(g gantryStart) time.Duration { return g.PullStopped - g.PullStarted })
	step("container start + inspect (pullStoppedAt → startedAt)", func(g gantryStart) time.Duration { return g.Started - g.PullStopped })
	step("state reports until DescribeTasks says RUNNING (startedAt → RUNNING seen)", func(g gantryStart) time.Duration { return g.Running - g.Started })
	p("\n")
	polls := 0
	for _, g := range res.gantry {
		polls += g.Polls
	}
	p("CPU time used during one start, until the HTTP answer (mean; user + system from /proc in 10 ms ticks, so only the mean over runs is meaningful). ")
	p("Gantry starts polled DescribeTasks %.0f times each on average.\n\n", float64(polls)/float64(max(1, len(res.gantry))))
	p("| Start | client (gantry-bench, docker CLI) | gantry server | gantry agent | dockerd + containerd |\n|---|---:|---:|---:|---:|\n")
	cpuRow := func(name string, samples []cpuSample) {
		var sum cpuSample
		for _, s := range samples {
			sum.Client += s.Client
			sum.Server += s.Server
			sum.Agent += s.Agent
			sum.Docker += s.Docker
		}
		n := time.Duration(max(1, len(samples)))
		p("| %s | %s | %s | %s | %s |\n", name, ms(sum.Client/n), ms(sum.Server/n), ms(sum.Agent/n), ms(sum.Docker/n))
	}
	cpuRow("Gantry RunTask", pickCPU(res.gantry, func(g gantryStart) cpuSample { return g.CPU }))
	cpuRow("`docker run -d`", pickCPU(res.docker, func(d dockerStart) cpuSample { return d.CPU }))
	p("\n")

	p("### Agent memory with %d tasks\n\n", cfg.Tasks)
	p("%d tasks started at once (RunTask with count 10, %d calls): all RUNNING %.1f s after the first call, %d containers. ",
		cfg.Tasks, (cfg.Tasks+9)/10, res.allRunning.Seconds(), res.containersRunning)
	p("Memory from /proc/PID/status (VmHWM is the peak since the process started):\n\n")
	p("| Process and moment | VmRSS | VmHWM | RssAnon | RssFile |\n|---|---:|---:|---:|---:|\n")
	mem := func(name string, s benchproc.MemStatus) {
		p("| %s | %s | %s | %s | %s |\n", name, mib(s.VmRSS), mib(s.VmHWM), mib(s.RssAnon), mib(s.RssFile))
	}
	mem("agent, registered, no task yet", res.agentIdle)
	mem(fmt.Sprintf("agent, after the %d latency runs", (cfg.Warmup+cfg.N)), res.agentBefore)
	mem(fmt.Sprintf("agent, %d tasks RUNNING", cfg.Tasks), res.agentRunning)
	mem(fmt.Sprintf("agent, %d tasks RUNNING, %v later", cfg.Tasks, settle), res.agentSettled)
	mem("agent, all stopped and removed", res.agentAfter)
	mem(fmt.Sprintf("server, %d tasks RUNNING", cfg.Tasks), res.serverRunning)
	mem("server, all stopped and removed", res.serverAfter)
	p("\n")
	worst := max(res.agentRunning.VmRSS, res.agentSettled.VmRSS)
	p("Agent goal, VmRSS ≤ 32 MiB with %d tasks running: **%s** (%s; peak VmHWM %s).\n\n",
		cfg.Tasks, metWord(worst <= goalAgentKiB), mib(worst), mib(res.agentSettled.VmHWM))
	p("Clean-up: every task STOPPED and every container removed %.1f s after the StopTask calls (the agent waits --task-cleanup-wait, 1 s, before removing); no container of the agent was left.\n",
		res.cleanedUp.Seconds())
	return b.String()
}

// ratio is a/b, or NaN when b is zero.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// mib formats KiB as MiB with one decimal.
func mib(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) + " MiB" }

// reproduceCommand is the go run command of `gantry-bench agent` with the
// arguments as given.
func reproduceCommand(args []string) string { return reproduce("agent", args) }

// reproduce is the go run command of `gantry-bench COMMAND` with the
// arguments as given.
func reproduce(command string, args []string) string {
	parts := []string{"go", "run", "./cmd/gantry-bench", command}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeSection puts section (whose first line is its heading, such as
// sectionHeading or fargateHeading) into the markdown file path: it
// replaces the existing section of that heading, up to the next heading of
// level 1 or 2, keeping its hand-written findingsHeading subsection, or
// appends it. A missing file is created with fileTitle first. The file is
// replaced by a rename, so a reader never sees half of it.
func writeSection(path, section string) error {
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = []byte(fileTitle + "\n")
	case err != nil:
		return err
	}
	doc := replaceSection(string(old), section)
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(doc); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// replaceSection returns doc with the section headed as section's first
// line (sectionHeading, fargateHeading) replaced by section, or with
// section appended when doc has none. The section ends at the next heading
// of level 1 or 2 outside a code fence. A findingsHeading subsection of the
// old section, and what follows it in the section, is kept at the end of
// the new one.
func replaceSection(doc, section string) string {
	section = strings.TrimRight(section, "\n") + "\n"
	heading, _, _ := strings.Cut(section, "\n")
	heading = strings.TrimSpace(heading)
	lines := strings.SplitAfter(doc, "\n")
	start, end, findings := -1, len(lines), -1
	fence := false
	for i, l := range lines {
		t := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(t), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		if start < 0 {
			if strings.TrimSpace(t) == heading {
				start = i
			}
			continue
		}
		if strings.HasPrefix(t, "# ") || strings.HasPrefix(t, "## ") {
			end = i
			break
		}
		if findings < 0 && strings.TrimSpace(t) == findingsHeading {
			findings = i
		}
	}
	if start < 0 {
		head := strings.TrimRight(doc, "\n")
		if head == "" {
			return section
		}
		return head + "\n\n" + section
	}
	if findings >= 0 {
		kept := strings.TrimRight(strings.Join(lines[findings:end], ""), "\n")
		section += "\n" + kept + "\n"
	}
	before := strings.Join(lines[:start], "")
	after := strings.Join(lines[end:], "")
	if after != "" {
		section += "\n"
	}
	return before + section + after
}
