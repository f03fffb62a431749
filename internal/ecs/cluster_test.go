package ecs

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestClusterUsage(t *testing.T) {
	var u clusterUsage
	for _, task := range []ecsapi.Task{
		{LastStatus: "RUNNING", LaunchType: "EC2"},
		{LastStatus: "RUNNING", CapacityProviderName: "FARGATE_SPOT"},
		{LastStatus: "PENDING", LaunchType: "EXTERNAL"},
		{LastStatus: "PROVISIONING"},
		{LastStatus: "STOPPED", LaunchType: "EC2"},
	} {
		u.addTask(&task)
	}
	for _, svc := range []ecsapi.Service{
		{Status: "ACTIVE"},
		{Status: "DRAINING", CapacityProviderStrategy: []ecsapi.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE"}}},
		{Status: "INACTIVE", LaunchType: "EC2"},
	} {
		u.addService(&svc)
	}
	if u.liveTasks != 4 || u.liveServices != 2 {
		t.Fatalf("live tasks %d, services %d", u.liveTasks, u.liveServices)
	}
	got := map[string]string{}
	for _, kv := range u.statistics() {
		got[kv.Name] = kv.Value
	}
	want := map[string]string{
		"runningEC2TasksCount": "1", "runningFargateTasksCount": "1", "pendingExternalTasksCount": "1",
		"pendingEC2TasksCount": "0", "activeEC2ServiceCount": "1", "drainingFargateServiceCount": "1",
		"activeManagedInstancesServiceCount": "0",
	}
	if len(got) != 16 {
		t.Fatalf("%d statistics", len(got))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if err := u.deleteBlocker(); err == nil {
		t.Fatal("a cluster with services and tasks can be deleted")
	}
}

func TestMergeClusterSettings(t *testing.T) {
	cur := []ecsapi.ClusterSetting{{Name: "containerInsights", Value: "disabled"}}
	got := mergeClusterSettings(cur, []ecsapi.ClusterSetting{{Name: "containerInsights", Value: "enhanced"}})
	if len(got) != 1 || got[0].Value != "enhanced" || cur[0].Value != "disabled" {
		t.Fatalf("merged %+v, original %+v", got, cur)
	}
}

func TestValidateClusterConfiguration(t *testing.T) {
	tests := []struct {
		name string
		cfg  *ecsapi.ClusterConfiguration
		ok   bool
	}{
		{"none", nil, true},
		{"default logging", &ecsapi.ClusterConfiguration{ExecuteCommandConfiguration: &ecsapi.ExecuteCommandConfiguration{Logging: "DEFAULT"}}, true},
		{"override with configuration", &ecsapi.ClusterConfiguration{ExecuteCommandConfiguration: &ecsapi.ExecuteCommandConfiguration{
			Logging: "OVERRIDE", LogConfiguration: &ecsapi.ExecuteCommandLogConfiguration{S3BucketName: "b"}}}, true},
		{"override without configuration", &ecsapi.ClusterConfiguration{ExecuteCommandConfiguration: &ecsapi.ExecuteCommandConfiguration{Logging: "OVERRIDE"}}, false},
		{"unknown logging", &ecsapi.ClusterConfiguration{ExecuteCommandConfiguration: &ecsapi.ExecuteCommandConfiguration{Logging: "ALL"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validateClusterConfiguration(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
