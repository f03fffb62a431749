package ecs

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/store"
)

// benchCluster returns the operations on a fresh in-memory store with
// cluster c of n large instances and task definition web registered.
func benchCluster(b *testing.B, n int) (*API, context.Context) {
	st := store.NewMemory(nil)
	s := &API{Store: st, Region: "us-east-1", Account: "123456789012", Logger: slog.New(slog.DiscardHandler)}
	s.State = state.New(s.StateConfig())
	rctx, cancel := context.WithCancel(context.Background())
	s.State.Run(rctx)
	b.Cleanup(func() {
		cancel()
		s.State.Wait()
		st.Close()
	})
	ctx := caller.WithCaller(b.Context(), caller.Caller{Principal: "arn:aws:iam::123456789012:user/tester"})
	if _, err := s.CreateCluster(ctx, &ecsapi.CreateClusterRequest{ClusterName: "c"}); err != nil {
		b.Fatal(err)
	}
	for range n {
		if _, err := s.RegisterContainerInstance(ctx, &ecsapi.RegisterContainerInstanceRequest{Cluster: "c",
			TotalResources: []ecsapi.Resource{{Name: "CPU", Type: "INTEGER", IntegerValue: 1 << 24}, {Name: "MEMORY", Type: "INTEGER", IntegerValue: 1 << 24}}}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{Family: "web",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "web", Image: "nginx", Memory: ptr(int32(128)), Cpu: 128, Essential: ptr(true)}}}); err != nil {
		b.Fatal(err)
	}
	return s, ctx
}

// BenchmarkRunTask places tasks through RunTask, ten a call, from parallel
// callers on the in-memory store: the placement path (views, scheduler,
// committer, the views' watch) without etcd. Reports tasks/s.
func BenchmarkRunTask(b *testing.B) {
	for _, group := range []string{"", "service:web"} {
		name := group
		if name == "" {
			name = "family"
		}
		b.Run(name, func(b *testing.B) {
			s, ctx := benchCluster(b, 100)
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					out, err := s.RunTask(ctx, &ecsapi.RunTaskRequest{Cluster: "c", TaskDefinition: "web", Count: ptr(int32(10)), Group: group})
					if err != nil || len(out.Tasks) != 10 {
						b.Errorf("run: %v %+v", err, out)
						return
					}
				}
			})
			b.ReportMetric(float64(10*b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
