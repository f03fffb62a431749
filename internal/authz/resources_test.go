package authz

import (
	"reflect"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

func TestResources(t *testing.T) {
	const p = "arn:aws:ecs:us-east-1:123456789012:"
	tests := []struct {
		name, svc, op string
		in            any
		want          []string
		cluster       string
	}{
		{"run task", "ecs", "RunTask", &ecsapi.RunTaskRequest{Cluster: "prod", TaskDefinition: "web:3"}, []string{p + "task-definition/web:3"}, p + "cluster/prod"},
		{"family alone", "ecs", "StartTask", &ecsapi.StartTaskRequest{TaskDefinition: "web"}, []string{p + "task-definition/web:*"}, p + "cluster/default"},
		{"update service", "ecs", "UpdateService", &ecsapi.UpdateServiceRequest{Cluster: p + "cluster/prod", Service: "web", TaskDefinition: "web:2"}, []string{p + "service/prod/web"}, p + "cluster/prod"},
		{"create service", "ecs", "CreateService", &ecsapi.CreateServiceRequest{ServiceName: "web"}, []string{p + "service/default/web"}, p + "cluster/default"},
		{"describe tasks", "ecs", "DescribeTasks", &ecsapi.DescribeTasksRequest{Cluster: "c", Tasks: []string{"1", p + "task/c/2"}}, []string{p + "task/c/1", p + "task/c/2"}, p + "cluster/c"},
		{"describe clusters", "ecs", "DescribeClusters", &ecsapi.DescribeClustersRequest{Clusters: []string{"a", "b"}}, []string{p + "cluster/a", p + "cluster/b"}, ""},
		{"describe no cluster", "ecs", "DescribeClusters", &ecsapi.DescribeClustersRequest{}, []string{p + "cluster/default"}, ""},
		{"create cluster", "ecs", "CreateCluster", &ecsapi.CreateClusterRequest{ClusterName: "new"}, []string{p + "cluster/new"}, p + "cluster/new"},
		{"register instance", "ecs", "RegisterContainerInstance", &ecsapi.RegisterContainerInstanceRequest{Cluster: "prod"}, []string{p + "cluster/prod"}, p + "cluster/prod"},
		{"submit task state", "ecs", "SubmitTaskStateChange", &ecsapi.SubmitTaskStateChangeRequest{Cluster: "prod", Task: "1"}, []string{p + "cluster/prod"}, p + "cluster/prod"},
		{"list tasks of an instance", "ecs", "ListTasks", &ecsapi.ListTasksRequest{Cluster: "c", ContainerInstance: "i1"}, []string{p + "container-instance/c/i1"}, p + "cluster/c"},
		{"list tasks", "ecs", "ListTasks", &ecsapi.ListTasksRequest{Cluster: "c", ServiceName: "web"}, []string{p + "cluster/c"}, p + "cluster/c"},
		{"update task set", "ecs", "UpdateTaskSet", &ecsapi.UpdateTaskSetRequest{Cluster: "c", Service: p + "service/c/web", TaskSet: "ecs-svc/123"},
			[]string{p + "task-set/c/web/ecs-svc/123"}, p + "cluster/c"},
		{"delete task set by ARN", "ecs", "DeleteTaskSet", &ecsapi.DeleteTaskSetRequest{Cluster: "c", Service: "web", TaskSet: p + "task-set/c/web/ecs-svc/9"},
			[]string{p + "task-set/c/web/ecs-svc/9"}, p + "cluster/c"},
		{"create task set", "ecs", "CreateTaskSet", &ecsapi.CreateTaskSetRequest{Cluster: "c", Service: "web", TaskDefinition: "web:1"}, []string{p + "service/c/web"}, p + "cluster/c"},
		{"list clusters", "ecs", "ListClusters", &ecsapi.ListClustersRequest{}, []string{"*"}, ""},
		{"tag", "ecs", "TagResource", &ecsapi.TagResourceRequest{ResourceArn: p + "service/c/web"}, []string{p + "service/c/web"}, ""},
		{"log group", "logs", "CreateLogGroup", &logsapi.CreateLogGroupRequest{LogGroupName: "/ecs/web"}, []string{"arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web"}, ""},
		{"load balancer", "elasticloadbalancing", "DeleteLoadBalancer", &elbv2api.DeleteLoadBalancerInput{LoadBalancerArn: "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1"},
			[]string{"arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/1"}, ""},
		{"nothing named", "elasticloadbalancing", "DescribeLoadBalancers", &elbv2api.DescribeLoadBalancersInput{}, []string{"*"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cluster := Resources("us-east-1", "123456789012", tt.svc, tt.op, tt.in)
			if !reflect.DeepEqual(got, tt.want) || cluster != tt.cluster {
				t.Fatalf("got %q %q, want %q %q", got, cluster, tt.want, tt.cluster)
			}
		})
	}
	if a := Action("monitoring", "PutMetricData"); a != "cloudwatch:PutMetricData" {
		t.Fatalf("Action = %s", a)
	}
}
