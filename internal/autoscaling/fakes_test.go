package autoscaling

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// fakeServices is ECS's desired counts in memory.
type fakeServices struct {
	mu     sync.Mutex
	counts map[string]int32 // cluster/name -> desired count
	sets   int
}

func (f *fakeServices) DesiredCount(_ context.Context, cluster, name string) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.counts[cluster+"/"+name]
	if !ok {
		return 0, ErrServiceNotFound
	}
	return n, nil
}

func (f *fakeServices) SetDesiredCount(_ context.Context, cluster, name string, from, to int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.counts[cluster+"/"+name]
	if !ok {
		return ErrServiceNotFound
	}
	if n != from {
		return ErrCountChanged
	}
	f.counts[cluster+"/"+name] = to
	f.sets++
	return nil
}

func (f *fakeServices) get(key string) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[key]
}

func (f *fakeServices) set(key string, n int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[key] = n
}

// fakeAlarms is CloudWatch's alarms in memory (cwlink.Alarms).
type fakeAlarms struct {
	mu     sync.Mutex
	alarms map[string]cloudwatchapi.PutMetricAlarmInput
}

var _ cwlink.Alarms = (*fakeAlarms)(nil)

func (f *fakeAlarms) PutMetricAlarm(_ context.Context, in *cloudwatchapi.PutMetricAlarmInput) (*struct{}, error) {
	if in.Period != nil && *in.Period != 10 && *in.Period != 30 && *in.Period%60 != 0 {
		return nil, apierror.New("ValidationError", "Period must be 10, 30 or a multiple of 60")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alarms[in.AlarmName] = *in
	return &struct{}{}, nil
}

func (f *fakeAlarms) DeleteAlarms(_ context.Context, in *cloudwatchapi.DeleteAlarmsInput) (*struct{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range in.AlarmNames {
		delete(f.alarms, n)
	}
	return &struct{}{}, nil
}

func (f *fakeAlarms) DescribeAlarms(_ context.Context, in *cloudwatchapi.DescribeAlarmsInput) (*cloudwatchapi.DescribeAlarmsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &cloudwatchapi.DescribeAlarmsOutput{}
	for n := range f.alarms {
		if len(in.AlarmNames) == 0 || slices.Contains(in.AlarmNames, n) {
			out.MetricAlarms = append(out.MetricAlarms, cloudwatchapi.MetricAlarm{AlarmName: n})
		}
	}
	return out, nil
}

func (f *fakeAlarms) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.alarms {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (f *fakeAlarms) get(name string) (cloudwatchapi.PutMetricAlarmInput, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alarms[name]
	return a, ok
}

// env is an API over a memory store, fake services and alarms, and a
// clock that moves when told.
type env struct {
	api    *API
	svcs   *fakeServices
	alarms *fakeAlarms
	clock  *testutil.Clock
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := testutil.NewClock(t0)
	st := store.NewMemory(clock.Now)
	t.Cleanup(func() { st.Close() })
	e := &env{svcs: &fakeServices{counts: map[string]int32{"default/web": 2, "default/api": 1}},
		alarms: &fakeAlarms{alarms: map[string]cloudwatchapi.PutMetricAlarmInput{}}, clock: clock}
	e.api = &API{Store: st, Services: e.svcs, Alarms: e.alarms, Region: "us-east-1", Account: "123456789012", Now: clock.Now}
	return e
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	ae, ok := apierror.As(err)
	if !ok || ae.Code != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func ok[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func (e *env) register(t *testing.T, res string, lo, hi int32) string {
	t.Helper()
	out, err := e.api.RegisterScalableTarget(context.Background(), &autoscalingapi.RegisterScalableTargetRequest{
		ServiceNamespace: "ecs", ResourceId: res, ScalableDimension: DimensionDesired, MinCapacity: &lo, MaxCapacity: &hi})
	if err != nil {
		t.Fatal(err)
	}
	return out.ScalableTargetARN
}

func (e *env) stepPolicy(t *testing.T, res, name string, typ autoscalingapi.AdjustmentType, cooldown int32, steps ...autoscalingapi.StepAdjustment) string {
	t.Helper()
	out, err := e.api.PutScalingPolicy(context.Background(), &autoscalingapi.PutScalingPolicyRequest{
		PolicyName: name, ServiceNamespace: "ecs", ResourceId: res, ScalableDimension: DimensionDesired, PolicyType: "StepScaling",
		StepScalingPolicyConfiguration: &autoscalingapi.StepScalingPolicyConfiguration{AdjustmentType: typ, StepAdjustments: steps, Cooldown: &cooldown}})
	if err != nil {
		t.Fatal(err)
	}
	return out.PolicyARN
}

func step(lo, hi float64, adj int32) autoscalingapi.StepAdjustment {
	s := autoscalingapi.StepAdjustment{ScalingAdjustment: &adj}
	if !math.IsInf(lo, -1) {
		s.MetricIntervalLowerBound = &lo
	}
	if !math.IsInf(hi, 1) {
		s.MetricIntervalUpperBound = &hi
	}
	return s
}

func alarm(name string, value, threshold float64) cwlink.AlarmEvent {
	return cwlink.AlarmEvent{AlarmName: name, State: "ALARM", PreviousState: "OK", Value: value, Threshold: threshold}
}

func (e *env) activities(t *testing.T, res string) []autoscalingapi.ScalingActivity {
	t.Helper()
	out, err := e.api.DescribeScalingActivities(context.Background(), &autoscalingapi.DescribeScalingActivitiesRequest{ServiceNamespace: "ecs", ResourceId: res})
	if err != nil {
		t.Fatal(err)
	}
	return out.ScalingActivities
}

func fmtActs(acts []autoscalingapi.ScalingActivity) string {
	s := ""
	for _, a := range acts {
		s += fmt.Sprintf("[%s | %s | %s] ", a.Description, a.Cause, a.StatusCode)
	}
	return s
}
