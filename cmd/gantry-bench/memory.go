package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/gantry-dev/gantry/internal/benchproc"
)

// settle is how long the memory measurement waits, with every task
// running, before its second reading.
const settle = 5 * time.Second

// measureMemory runs Tasks tasks at once (RunTask with count up to 10),
// waits until all are RUNNING, reads the agent's and the server's memory,
// then stops the tasks and waits until their containers are removed.
func (b *bench) measureMemory(ctx context.Context, res *results) error {
	if err := b.agent.Alive(); err != nil {
		return err
	}
	var err error
	if res.agentBefore, err = benchproc.ReadMemStatus(b.agent.Pid()); err != nil {
		return err
	}
	b.log.Info("starting tasks at once", "tasks", b.cfg.Tasks)
	t0 := time.Now()
	var arns []string
	for len(arns) < b.cfg.Tasks {
		count := min(10, b.cfg.Tasks-len(arns))
		out, err := b.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(clusterName),
			TaskDefinition: aws.String(b.taskDef), Count: aws.Int32(int32(count))})
		if err != nil {
			return fmt.Errorf("run %d tasks: %w", count, err)
		}
		for _, t := range out.Tasks {
			arns = append(arns, aws.ToString(t.TaskArn))
		}
		if len(out.Tasks) != count {
			b.stopQuietly(ctx, arns)
			return fmt.Errorf("run %d tasks: %d started: %s", count, len(out.Tasks), failures(out.Failures))
		}
	}
	if err := b.waitStatus(ctx, arns, "RUNNING", 20*time.Millisecond); err != nil {
		b.stopQuietly(ctx, arns)
		return err
	}
	res.allRunning = time.Since(t0)
	b.log.Info("all tasks running", "tasks", len(arns), "after", ms(res.allRunning))
	if res.agentRunning, err = benchproc.ReadMemStatus(b.agent.Pid()); err != nil {
		return err
	}
	if res.serverRunning, err = benchproc.ReadMemStatus(b.server.Pid()); err != nil {
		return err
	}
	if res.containersRunning, err = b.countContainers(ctx, labelInstance+"="+b.instanceID); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		b.stopQuietly(ctx, arns)
		return ctx.Err()
	case <-time.After(settle):
	}
	if res.agentSettled, err = benchproc.ReadMemStatus(b.agent.Pid()); err != nil {
		return err
	}
	b.log.Info("agent memory", "VmRSS_KiB", res.agentRunning.VmRSS, "VmHWM_KiB", res.agentRunning.VmHWM,
		"settled_VmRSS_KiB", res.agentSettled.VmRSS)

	b.log.Info("stopping tasks", "tasks", len(arns))
	t1 := time.Now()
	if err := b.stopAndWait(ctx, arns, labelInstance+"="+b.instanceID); err != nil {
		return err
	}
	res.cleanedUp = time.Since(t1)
	b.log.Info("all containers removed", "after", ms(res.cleanedUp))
	if res.agentAfter, err = benchproc.ReadMemStatus(b.agent.Pid()); err != nil {
		return err
	}
	res.serverAfter, err = benchproc.ReadMemStatus(b.server.Pid())
	return err
}

// stopQuietly stops tasks after a failure, logging what goes wrong.
func (b *bench) stopQuietly(ctx context.Context, arns []string) {
	if err := b.stopAndWait(ctx, arns, labelInstance+"="+b.instanceID); err != nil {
		b.log.Warn("stop tasks", "err", err)
	}
}
