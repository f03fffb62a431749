package autoscaling_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"

	"github.com/gantry-dev/gantry/internal/cwlink"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkInvoke measures one scaling decision end to end on a real
// server (embedded etcd): CloudWatch's call of a step policy (alternately
// +1 and -1 task, no cooldown) that reads the target and the service,
// sets the desired count through ECS, records the cooldown and the
// activity. It reports the process's CPU per decision (server and etcd
// share the process) beside the wall time.
func BenchmarkInvoke(b *testing.B) {
	env, c := scalingEnv(b)
	ctx := context.Background()
	if _, err := c.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: aastypes.ServiceNamespaceEcs,
		ResourceId: aws.String("service/scale/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
		MinCapacity: aws.Int32(0), MaxCapacity: aws.Int32(10)}); err != nil {
		b.Fatal(err)
	}
	put := func(name string, adj int32, lower, upper *float64) string {
		out, err := c.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String(name), ServiceNamespace: aastypes.ServiceNamespaceEcs,
			ResourceId: aws.String("service/scale/web"), ScalableDimension: aastypes.ScalableDimensionECSServiceDesiredCount,
			PolicyType: aastypes.PolicyTypeStepScaling, StepScalingPolicyConfiguration: &aastypes.StepScalingPolicyConfiguration{
				AdjustmentType: aastypes.AdjustmentTypeChangeInCapacity, Cooldown: aws.Int32(0),
				StepAdjustments: []aastypes.StepAdjustment{{MetricIntervalLowerBound: lower, MetricIntervalUpperBound: upper, ScalingAdjustment: aws.Int32(adj)}}}})
		if err != nil {
			b.Fatal(err)
		}
		return aws.ToString(out.PolicyARN)
	}
	up, down := put("up", 1, aws.Float64(0), nil), put("down", -1, nil, aws.Float64(0))
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		arn, ev := up, cwlink.AlarmEvent{AlarmName: "high", State: "ALARM", Value: 80, Threshold: 70}
		if i%2 == 1 {
			arn, ev = down, cwlink.AlarmEvent{AlarmName: "low", State: "ALARM", Value: 10, Threshold: 30}
		}
		if err := env.Server.AutoScaling.Invoke(ctx, arn, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	if n := desired(b, env, "web"); n != 1 && n != 2 {
		b.Errorf("desired count %d after alternating +1/-1 from 1", n)
	}
}
