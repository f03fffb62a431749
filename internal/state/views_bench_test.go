package state

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/record"
	"github.com/gantry-dev/gantry/internal/scheduler"
	"github.com/gantry-dev/gantry/internal/store"
)

// benchTask is a task record as placement writes it, of group.
func benchTask(cluster, id, group string) []byte {
	now := ecsapi.NewTimestamp(time.Now())
	mem := int32(128)
	rec := record.Task{Task: ecsapi.Task{
		TaskArn: "arn:aws:ecs:us-east-1:123456789012:task/" + cluster + "/" + id, ClusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/" + cluster,
		TaskDefinitionArn:    "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1",
		ContainerInstanceArn: "arn:aws:ecs:us-east-1:123456789012:container-instance/" + cluster + "/i-1",
		Overrides:            &ecsapi.TaskOverride{ContainerOverrides: []ecsapi.ContainerOverride{}},
		LastStatus:           "RUNNING", DesiredStatus: "RUNNING", Cpu: "128", Memory: "128", Group: group, LaunchType: "EC2",
		CreatedAt: now, StartedAt: now, Version: 3, HealthStatus: "UNKNOWN", Attachments: []ecsapi.Attachment{},
		Attributes: []ecsapi.Attribute{{Name: "ecs.cpu-architecture", Value: "x86_64"}},
		Containers: []ecsapi.Container{{ContainerArn: "arn:aws:ecs:us-east-1:123456789012:container/" + cluster + "/" + id + "/0000",
			TaskArn: "arn:aws:ecs:us-east-1:123456789012:task/" + cluster + "/" + id, Name: "web", Image: "nginx", LastStatus: "RUNNING",
			NetworkInterfaces: []ecsapi.NetworkInterface{}, Cpu: "128", Memory: fmt.Sprint(mem)}},
	}, Demand: &scheduler.Demand{CPU: 128, Memory: 128}}
	b, _ := json.Marshal(rec)
	return b
}

// BenchmarkViewsApplyTask measures the views' apply path for a task
// record changed by another writer (an agent's report): decoded, noted as
// an assignment, put in the scheduler view.
func BenchmarkViewsApplyTask(b *testing.B) {
	for _, group := range []string{"family:web", "service:web"} {
		b.Run(group, func(b *testing.B) {
			cfg := Config{Store: store.NewMemory(nil), MaxTxnOps: 128,
				TaskARN: func(cluster, id string) string {
					return "arn:aws:ecs:us-east-1:123456789012:task/" + cluster + "/" + id
				}}
			cfg.Logger = slog.New(slog.DiscardHandler)
			v := newViews(cfg, newAgents(cfg))
			const n = 1000
			evs := make([]store.WatchResponse, n)
			for i := range evs {
				id := fmt.Sprintf("%032x", i)
				evs[i] = store.WatchResponse{Revision: int64(i + 2), Events: []store.Event{{Item: store.Item{
					Key: record.TaskKey("c", id), Value: benchTask("c", id, group), ModRev: int64(i + 2), Version: 3}}}}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				v.apply(evs[i%n])
			}
		})
	}
}
