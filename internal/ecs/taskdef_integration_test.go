package ecs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/caller"
	gantryecs "github.com/gantry-dev/gantry/internal/ecs"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// tdWantError fails t unless err is an API error with code and, if msg is
// not empty, a message containing msg.
func tdWantError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("want %s %q, got %s %q", code, msg, ae.ErrorCode(), ae.ErrorMessage())
	}
}

// tdInput is a minimal valid registration of family.
func tdInput(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:   aws.String("app"),
			Image:  aws.String("busybox:latest"),
			Memory: aws.Int32(128),
		}},
	}
}

func tdRegister(t *testing.T, c *ecs.Client, in *ecs.RegisterTaskDefinitionInput) *types.TaskDefinition {
	t.Helper()
	out, err := c.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		t.Fatalf("register %s: %v", aws.ToString(in.Family), err)
	}
	return out.TaskDefinition
}

func tdDescribe(t *testing.T, c *ecs.Client, id string) *types.TaskDefinition {
	t.Helper()
	out, err := c.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(id)})
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	return out.TaskDefinition
}

func tdARN(family string, rev int) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", apitest.Region, apitest.Account, family, rev)
}

func TestRegisterTaskDefinition(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	in := tdInput("web")
	in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}}
	out, err := env.Client.RegisterTaskDefinition(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	td := out.TaskDefinition
	if td.Revision != 1 || aws.ToString(td.TaskDefinitionArn) != tdARN("web", 1) || td.Status != types.TaskDefinitionStatusActive {
		t.Fatalf("got revision %d arn %s status %s", td.Revision, aws.ToString(td.TaskDefinitionArn), td.Status)
	}
	if td.RegisteredAt == nil || td.RegisteredAt.Before(before) || td.RegisteredAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("registeredAt %v", td.RegisteredAt)
	}
	if got, want := aws.ToString(td.RegisteredBy), "arn:aws:iam::"+apitest.Account+":user/tester"; got != want {
		t.Fatalf("registeredBy %q, want %q", got, want)
	}
	if !slices.Equal(td.Compatibilities, []types.Compatibility{"EC2", "EXTERNAL"}) {
		t.Fatalf("compatibilities %v", td.Compatibilities)
	}
	if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "team" {
		t.Fatalf("tags %v", out.Tags)
	}
	if c := td.ContainerDefinitions[0]; !aws.ToBool(c.Essential) {
		t.Fatalf("essential should default to true: %+v", c)
	}
	if td.RequiresCompatibilities != nil || td.NetworkMode != "" || td.Cpu != nil {
		t.Fatalf("members that were not sent came back: %v %q %v", td.RequiresCompatibilities, td.NetworkMode, td.Cpu)
	}
	for i := 2; i <= 3; i++ {
		if got := tdRegister(t, env.Client, tdInput("web")); got.Revision != int32(i) {
			t.Fatalf("revision %d, want %d", got.Revision, i)
		}
	}
}

func TestRegisterTaskDefinitionFargate(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	in := tdInput("api")
	in.ContainerDefinitions[0].Memory = nil
	in.ContainerDefinitions[0].Image = aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/api:1")
	in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(8080)}}
	in.ContainerDefinitions[0].LogConfiguration = &types.LogConfiguration{LogDriver: "awslogs",
		Options: map[string]string{"awslogs-group": "/ecs/api", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}
	in.ContainerDefinitions[0].HealthCheck = &types.HealthCheck{Command: []string{"CMD-SHELL", "true"}}
	in.RequiresCompatibilities = []types.Compatibility{"FARGATE"}
	in.NetworkMode = "awsvpc"
	in.Cpu = aws.String("1 vCPU")
	in.Memory = aws.String("2 GB")
	in.ExecutionRoleArn = aws.String("arn:aws:iam::123456789012:role/exec")
	in.TaskRoleArn = aws.String("arn:aws:iam::123456789012:role/task")
	td := tdRegister(t, env.Client, in)
	if aws.ToString(td.Cpu) != "1024" || aws.ToString(td.Memory) != "2048" {
		t.Fatalf("cpu %q memory %q, want 1024 2048", aws.ToString(td.Cpu), aws.ToString(td.Memory))
	}
	if !slices.Equal(td.Compatibilities, []types.Compatibility{"EC2", "FARGATE", "MANAGED_INSTANCES"}) {
		t.Fatalf("compatibilities %v", td.Compatibilities)
	}
	pm := td.ContainerDefinitions[0].PortMappings[0]
	if aws.ToInt32(pm.HostPort) != 8080 || pm.Protocol != "tcp" {
		t.Fatalf("port mapping %+v: awsvpc sets hostPort to containerPort and protocol defaults to tcp", pm)
	}
	var attrs []string
	for _, a := range td.RequiresAttributes {
		attrs = append(attrs, aws.ToString(a.Name))
	}
	for _, want := range []string{
		"ecs.capability.task-eni",
		"com.amazonaws.ecs.capability.docker-remote-api.1.18",
		"com.amazonaws.ecs.capability.docker-remote-api.1.19",
		"com.amazonaws.ecs.capability.docker-remote-api.1.24",
		"com.amazonaws.ecs.capability.logging-driver.awslogs",
		"ecs.capability.execution-role-awslogs",
		"com.amazonaws.ecs.capability.ecr-auth",
		"ecs.capability.execution-role-ecr-pull",
		"com.amazonaws.ecs.capability.task-iam-role",
		"ecs.capability.container-health-check",
	} {
		if !slices.Contains(attrs, want) {
			t.Errorf("requiresAttributes %v lacks %s", attrs, want)
		}
	}
	if got := tdDescribe(t, env.Client, "api"); aws.ToString(got.Cpu) != "1024" || !slices.Equal(got.RequiresCompatibilities, []types.Compatibility{"FARGATE"}) {
		t.Fatalf("described %+v", got)
	}
}

func TestRegisterTaskDefinitionValidation(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	fargate := func(in *ecs.RegisterTaskDefinitionInput) {
		in.RequiresCompatibilities = []types.Compatibility{"FARGATE"}
		in.NetworkMode = "awsvpc"
		in.Cpu = aws.String("256")
		in.Memory = aws.String("512")
	}
	tests := []struct {
		name   string
		change func(in *ecs.RegisterTaskDefinitionInput)
		code   string
		msg    string
	}{
		{"family with a dot", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String("a.b") },
			"ClientException", "Family contains invalid characters."},
		{"family too long", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String(strings.Repeat("f", 256)) },
			"ClientException", "Family contains invalid characters."},
		{"empty family", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String("") },
			"InvalidParameterException", "family"},
		{"no containers", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions = []types.ContainerDefinition{} },
			"ClientException", "Container list cannot be empty."},
		{"eleven containers", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions = nil
			for i := range 11 {
				in.ContainerDefinitions = append(in.ContainerDefinitions, types.ContainerDefinition{
					Name: aws.String(fmt.Sprint("c", i)), Image: aws.String("busybox"), Memory: aws.Int32(64)})
			}
		}, "ClientException", "at most 10 containers"},
		{"duplicate names", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions = append(in.ContainerDefinitions, in.ContainerDefinitions[0])
		}, "ClientException", "Duplicate container name found: app."},
		{"bad container name", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Name = aws.String("a b") },
			"ClientException", "Container.name contains invalid characters."},
		{"no image", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Image = nil },
			"ClientException", "Container.image should not be null or empty."},
		{"no memory anywhere", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Memory = nil },
			"ClientException", "Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified."},
		{"bad network mode", func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = "overlay" },
			"InvalidParameterException", "networkMode"},
		{"bad task cpu", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = aws.String("lots") },
			"ClientException", "Invalid 'cpu' setting for task."},
		{"bad task memory", func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("2 TB") },
			"ClientException", "Invalid 'memory' setting for task."},
		{"fargate in bridge mode", func(in *ecs.RegisterTaskDefinitionInput) { fargate(in); in.NetworkMode = "bridge" },
			"ClientException", "Fargate only supports network mode"},
		{"fargate without cpu", func(in *ecs.RegisterTaskDefinitionInput) { fargate(in); in.Cpu = nil },
			"ClientException", "Fargate requires that 'cpu' be defined at the task level."},
		{"fargate bad combination", func(in *ecs.RegisterTaskDefinitionInput) { fargate(in); in.Memory = aws.String("4096") },
			"ClientException", "No Fargate configuration exists for given values: 256 CPU, 4096 memory."},
		{"fargate privileged", func(in *ecs.RegisterTaskDefinitionInput) {
			fargate(in)
			in.ContainerDefinitions[0].Privileged = aws.Bool(true)
		}, "ClientException", "privileged"},
		{"awsvpc host port differs", func(in *ecs.RegisterTaskDefinitionInput) {
			in.NetworkMode = "awsvpc"
			in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080)}}
		}, "ClientException", "When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{"host host port differs", func(in *ecs.RegisterTaskDefinitionInput) {
			in.NetworkMode = "host"
			in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(81)}}
		}, "ClientException", "When networkMode=host"},
		{"port mappings with none", func(in *ecs.RegisterTaskDefinitionInput) {
			in.NetworkMode = "none"
			in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80)}}
		}, "ClientException", "networkMode=none"},
		{"no container port", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].PortMappings = []types.PortMapping{{HostPort: aws.Int32(80)}}
		}, "ClientException", "Invalid 'containerPort' setting for container 'app'."},
		{"depends on nobody", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].DependsOn = []types.ContainerDependency{{ContainerName: aws.String("db"), Condition: "START"}}
		}, "ClientException", "'db' is not another container"},
		{"complete on essential", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions = append(in.ContainerDefinitions, types.ContainerDefinition{
				Name: aws.String("init"), Image: aws.String("busybox"), Memory: aws.Int32(64)})
			in.ContainerDefinitions[0].DependsOn = []types.ContainerDependency{{ContainerName: aws.String("init"), Condition: "SUCCESS"}}
		}, "ClientException", "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"},
		{"mount of unknown volume", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data")}}
		}, "ClientException", "Volume 'data' is not defined"},
		{"no essential container", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Essential = aws.Bool(false) },
			"ClientException", "at least one essential container"},
		{"container cpu above task cpu", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Cpu = aws.String("256")
			in.ContainerDefinitions[0].Cpu = 512
		}, "ClientException", "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'."},
		{"51 tags", func(in *ecs.RegisterTaskDefinitionInput) {
			for i := range 51 {
				in.Tags = append(in.Tags, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
			}
		}, "InvalidParameterException", "Too many tags"},
		{"aws: tag", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}
		}, "InvalidParameterException", "aws:"},
		{"awslogs without group", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].LogConfiguration = &types.LogConfiguration{LogDriver: "awslogs",
				Options: map[string]string{"awslogs-region": "us-east-1"}}
		}, "ClientException", "Log driver awslogs requires options: awslogs-group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tdInput("valid")
			tt.change(in)
			_, err := env.Client.RegisterTaskDefinition(context.Background(), in)
			tdWantError(t, err, tt.code, tt.msg)
		})
	}
	// None of the refused registrations took a revision.
	if td := tdRegister(t, env.Client, tdInput("valid")); td.Revision != 1 {
		t.Fatalf("revision %d after refused registrations, want 1", td.Revision)
	}
}

func TestDescribeTaskDefinition(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	for range 3 {
		in := tdInput("svc")
		in.Tags = []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
		tdRegister(t, env.Client, in)
	}
	for _, tt := range []struct {
		id  string
		rev int32
	}{
		{"svc", 3}, {"svc:2", 2}, {tdARN("svc", 1), 1}, {"arn:aws:ecs:us-east-1:123456789012:task-definition/svc", 3},
	} {
		if got := tdDescribe(t, env.Client, tt.id); got.Revision != tt.rev {
			t.Errorf("describe %s: revision %d, want %d", tt.id, got.Revision, tt.rev)
		}
	}
	out, err := env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("svc")})
	if err != nil || len(out.Tags) != 0 {
		t.Fatalf("tags without include: %v %v", out.Tags, err)
	}
	out, err = env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("svc"), Include: []types.TaskDefinitionField{"TAGS"}})
	if err != nil || len(out.Tags) != 1 || aws.ToString(out.Tags[0].Value) != "v" {
		t.Fatalf("tags with include TAGS: %v %v", out.Tags, err)
	}
	// The latest ACTIVE revision skips a deregistered one.
	if _, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("svc:3")}); err != nil {
		t.Fatal(err)
	}
	if got := tdDescribe(t, env.Client, "svc"); got.Revision != 2 {
		t.Fatalf("latest ACTIVE revision %d, want 2", got.Revision)
	}
	if got := tdDescribe(t, env.Client, "svc:3"); got.Status != types.TaskDefinitionStatusInactive {
		t.Fatalf("svc:3 status %s, want INACTIVE", got.Status)
	}
	for _, id := range []string{"nosuch", "svc:9", "arn:aws:ecs:eu-west-1:123456789012:task-definition/svc:1", "bad name", "arn:aws:ecs:us-east-1:123456789012:cluster/svc"} {
		_, err := env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(id)})
		tdWantError(t, err, "ClientException", "Unable to describe task definition.")
	}
	_, err = env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("svc:x")})
	tdWantError(t, err, "InvalidParameterException", "Invalid revision number. Number: x")
	// Only ACTIVE revisions count for a bare family.
	for _, rev := range []string{"svc:1", "svc:2"} {
		if _, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(rev)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("svc")})
	tdWantError(t, err, "ClientException", "Unable to describe task definition.")
}

func tdListAll(t *testing.T, c *ecs.Client, in ecs.ListTaskDefinitionsInput) (arns []string, pages int) {
	t.Helper()
	for {
		out, err := c.ListTaskDefinitions(context.Background(), &in)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		arns = append(arns, out.TaskDefinitionArns...)
		if out.NextToken == nil {
			return arns, pages
		}
		in.NextToken = out.NextToken
	}
}

func TestListTaskDefinitions(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	for range 30 {
		tdRegister(t, env.Client, tdInput("paged"))
	}
	tdRegister(t, env.Client, tdInput("alpha"))
	tdRegister(t, env.Client, tdInput("zulu"))
	var asc []string
	for i := 1; i <= 30; i++ {
		asc = append(asc, tdARN("paged", i))
	}
	desc := slices.Clone(asc)
	slices.Reverse(desc)

	got, pages := tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("paged"), MaxResults: aws.Int32(10)})
	if !slices.Equal(got, asc) || pages != 3 {
		t.Fatalf("ASC in %d pages: %v", pages, got)
	}
	got, pages = tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("paged"), MaxResults: aws.Int32(10), Sort: "DESC"})
	if !slices.Equal(got, desc) || pages != 3 {
		t.Fatalf("DESC in %d pages: %v", pages, got)
	}
	// All families: by family, then revision.
	all := append(append([]string{tdARN("alpha", 1)}, asc...), tdARN("zulu", 1))
	got, _ = tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(7)})
	if !slices.Equal(got, all) {
		t.Fatalf("all ASC: %v", got)
	}
	slices.Reverse(all)
	got, _ = tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(7), Sort: "DESC"})
	if !slices.Equal(got, all) {
		t.Fatalf("all DESC: %v", got)
	}
	// familyPrefix is the whole family name, as in ECS.
	if got, _ = tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("pag")}); len(got) != 0 {
		t.Fatalf("familyPrefix pag: %v", got)
	}
	// Status filter.
	for _, id := range []string{"paged:3", "paged:7"} {
		if _, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{Status: "INACTIVE"})
	if !slices.Equal(got, []string{tdARN("paged", 3), tdARN("paged", 7)}) {
		t.Fatalf("INACTIVE: %v", got)
	}
	got, _ = tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("paged")})
	if len(got) != 28 || slices.Contains(got, tdARN("paged", 3)) {
		t.Fatalf("ACTIVE by default: %d %v", len(got), got)
	}
	// A token is only good for the listing that issued it.
	out, err := env.Client.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Client.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{NextToken: out.NextToken, Sort: "DESC"})
	tdWantError(t, err, "InvalidParameterException", "nextToken")
	for _, n := range []int32{0, 101} {
		_, err = env.Client.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(n)})
		tdWantError(t, err, "InvalidParameterException", "maxResults")
	}
	_, err = env.Client.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: "GONE"})
	tdWantError(t, err, "InvalidParameterException", "status")
}

func TestListTaskDefinitionFamilies(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	for _, f := range []string{"web-a", "web-b", "web-c", "db"} {
		tdRegister(t, env.Client, tdInput(f))
	}
	if _, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web-b:1")}); err != nil {
		t.Fatal(err)
	}
	list := func(in ecs.ListTaskDefinitionFamiliesInput) []string {
		t.Helper()
		var all []string
		for {
			out, err := env.Client.ListTaskDefinitionFamilies(ctx, &in)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, out.Families...)
			if out.NextToken == nil {
				return all
			}
			in.NextToken = out.NextToken
		}
	}
	for _, tt := range []struct {
		in   ecs.ListTaskDefinitionFamiliesInput
		want []string
	}{
		{ecs.ListTaskDefinitionFamiliesInput{}, []string{"db", "web-a", "web-b", "web-c"}},
		{ecs.ListTaskDefinitionFamiliesInput{MaxResults: aws.Int32(1)}, []string{"db", "web-a", "web-b", "web-c"}},
		{ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("web"), MaxResults: aws.Int32(2)}, []string{"web-a", "web-b", "web-c"}},
		{ecs.ListTaskDefinitionFamiliesInput{Status: "ACTIVE"}, []string{"db", "web-a", "web-c"}},
		{ecs.ListTaskDefinitionFamiliesInput{Status: "INACTIVE"}, []string{"web-b"}},
		{ecs.ListTaskDefinitionFamiliesInput{Status: "ALL", FamilyPrefix: aws.String("web-b")}, []string{"web-b"}},
	} {
		if got := list(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.in, got, tt.want)
		}
	}
	// A family whose revisions are all deleted is listed no more.
	if _, err := env.Client.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"web-b:1"}}); err != nil {
		t.Fatal(err)
	}
	if got := list(ecs.ListTaskDefinitionFamiliesInput{}); !slices.Equal(got, []string{"db", "web-a", "web-c"}) {
		t.Fatalf("after delete: %v", got)
	}
}

func TestDeregisterAndDeleteTaskDefinitions(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := context.Background()
	tdRegister(t, env.Client, tdInput("job"))
	tdRegister(t, env.Client, tdInput("job"))

	_, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("job")})
	tdWantError(t, err, "ClientException", "Revision is missing.")
	_, err = env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("job:9")})
	tdWantError(t, err, "ClientException", "does not exist")

	out, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(tdARN("job", 1))})
	if err != nil {
		t.Fatal(err)
	}
	if out.TaskDefinition.Status != types.TaskDefinitionStatusInactive || out.TaskDefinition.DeregisteredAt == nil {
		t.Fatalf("deregistered: %s %v", out.TaskDefinition.Status, out.TaskDefinition.DeregisteredAt)
	}
	again, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("job:1")})
	if err != nil || !again.TaskDefinition.DeregisteredAt.Equal(*out.TaskDefinition.DeregisteredAt) {
		t.Fatalf("deregistering again: %v %v", again, err)
	}

	_, err = env.Client.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{}})
	tdWantError(t, err, "InvalidParameterException", "greater than 0")
	_, err = env.Client.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: make([]string, 11)})
	tdWantError(t, err, "InvalidParameterException", "cannot exceed 10")

	del, err := env.Client.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"job:1", "job:2", "job", "job:5"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.TaskDefinitions) != 1 || del.TaskDefinitions[0].Revision != 1 || del.TaskDefinitions[0].Status != types.TaskDefinitionStatusDeleteInProgress || del.TaskDefinitions[0].DeleteRequestedAt == nil {
		t.Fatalf("deleted: %+v", del.TaskDefinitions)
	}
	reasons := map[string]string{}
	for _, f := range del.Failures {
		reasons[aws.ToString(f.Arn)] = aws.ToString(f.Reason)
	}
	want := map[string]string{
		"job:2": "The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
		"job":   "The specified task definition identifier is invalid. Specify a valid name or ARN and try again.",
		"job:5": "The specified task definition does not exist. Specify a valid account, family, revision and try again.",
	}
	if !reflect.DeepEqual(reasons, want) {
		t.Fatalf("failures %v, want %v", reasons, want)
	}
	_, err = env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("job:1")})
	tdWantError(t, err, "ClientException", "Unable to describe task definition.")
	got, _ := tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{Status: "INACTIVE"})
	if len(got) != 0 {
		t.Fatalf("INACTIVE after delete: %v", got)
	}
	// Revisions are never reused, even once deleted.
	if _, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("job:2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"job:2"}}); err != nil {
		t.Fatal(err)
	}
	if td := tdRegister(t, env.Client, tdInput("job")); td.Revision != 3 {
		t.Fatalf("revision after deleting all: %d, want 3", td.Revision)
	}
}

func TestRegisterTaskDefinitionConcurrently(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	const n = 100
	revs := make([]int32, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := env.Client.RegisterTaskDefinition(context.Background(), tdInput("race"))
			if err == nil {
				revs[i] = out.TaskDefinition.Revision
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(revs)
	for i, r := range revs {
		if r != int32(i+1) {
			t.Fatalf("revisions %v: want 1..%d, no gap, no duplicate", revs, n)
		}
	}
	got, _ := tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("race")})
	if len(got) != n || got[n-1] != tdARN("race", n) {
		t.Fatalf("listed %d, last %s", len(got), got[len(got)-1])
	}
}

// tdEveryMember is a task definition that sets every member of
// ContainerDefinition, in the form ECS stores it (nothing left for ECS to
// default).
func tdEveryMember() *ecs.RegisterTaskDefinitionInput {
	c := types.ContainerDefinition{
		Command:               []string{"serve", "--port", "80"},
		Cpu:                   128,
		CredentialSpecs:       []string{"credentialspec:arn:aws:ssm:us-east-1:123456789012:parameter/spec"},
		DependsOn:             []types.ContainerDependency{{ContainerName: aws.String("sidecar"), Condition: "START"}},
		DisableNetworking:     aws.Bool(false),
		DnsSearchDomains:      []string{"example.com"},
		DnsServers:            []string{"10.0.0.2"},
		DockerLabels:          map[string]string{"tier": "web"},
		DockerSecurityOptions: []string{"no-new-privileges"},
		EntryPoint:            []string{"/bin/app"},
		Environment:           []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("prod")}},
		EnvironmentFiles:      []types.EnvironmentFile{{Type: "s3", Value: aws.String("arn:aws:s3:::bucket/app.env")}},
		Essential:             aws.Bool(true),
		ExtraHosts:            []types.HostEntry{{Hostname: aws.String("db"), IpAddress: aws.String("10.0.0.9")}},
		FirelensConfiguration: &types.FirelensConfiguration{Type: "fluentbit", Options: map[string]string{"enable-ecs-log-metadata": "true"}},
		HealthCheck: &types.HealthCheck{Command: []string{"CMD-SHELL", "curl -f localhost"}, Interval: aws.Int32(30),
			Retries: aws.Int32(3), StartPeriod: aws.Int32(10), Timeout: aws.Int32(5)},
		Hostname:    aws.String("web"),
		Image:       aws.String("nginx@sha256:" + strings.Repeat("ab", 32)),
		Interactive: aws.Bool(true),
		Links:       []string{"sidecar:side"},
		LinuxParameters: &types.LinuxParameters{
			Capabilities:       &types.KernelCapabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"MKNOD"}},
			Devices:            []types.Device{{HostPath: aws.String("/dev/fuse"), ContainerPath: aws.String("/dev/fuse"), Permissions: []types.DeviceCgroupPermission{"read", "write"}}},
			InitProcessEnabled: aws.Bool(true),
			MaxSwap:            aws.Int32(512),
			SharedMemorySize:   aws.Int32(64),
			Swappiness:         aws.Int32(10),
			Tmpfs:              []types.Tmpfs{{ContainerPath: aws.String("/tmp"), Size: 32, MountOptions: []string{"rw"}}},
		},
		LogConfiguration: &types.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "10m"},
			SecretOptions: []types.Secret{{Name: aws.String("token"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/t")}}},
		Memory:                 aws.Int32(512),
		MemoryReservation:      aws.Int32(256),
		MountPoints:            []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data"), ReadOnly: aws.Bool(true)}},
		Name:                   aws.String("web"),
		PortMappings:           []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(8080), Protocol: "tcp", Name: aws.String("http"), AppProtocol: "http"}},
		Privileged:             aws.Bool(false),
		PseudoTerminal:         aws.Bool(true),
		ReadonlyRootFilesystem: aws.Bool(true),
		RepositoryCredentials:  &types.RepositoryCredentials{CredentialsParameter: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:creds")},
		ResourceRequirements:   []types.ResourceRequirement{{Type: "GPU", Value: aws.String("1")}},
		RestartPolicy:          &types.ContainerRestartPolicy{Enabled: aws.Bool(true), IgnoredExitCodes: []int32{0}, RestartAttemptPeriod: aws.Int32(60)},
		Secrets:                []types.Secret{{Name: aws.String("DB_PASSWORD"), ValueFrom: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:db")}},
		StartTimeout:           aws.Int32(60),
		StopTimeout:            aws.Int32(30),
		SystemControls:         []types.SystemControl{{Namespace: aws.String("net.core.somaxconn"), Value: aws.String("1024")}},
		Ulimits:                []types.Ulimit{{Name: "nofile", SoftLimit: 1024, HardLimit: 4096}},
		User:                   aws.String("1000:1000"),
		VersionConsistency:     "disabled",
		VolumesFrom:            []types.VolumeFrom{{SourceContainer: aws.String("sidecar"), ReadOnly: aws.Bool(true)}},
		WorkingDirectory:       aws.String("/srv"),
	}
	sidecar := types.ContainerDefinition{Name: aws.String("sidecar"), Image: aws.String("busybox"), Memory: aws.Int32(64), Essential: aws.Bool(false)}
	return &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("everything"),
		ContainerDefinitions: []types.ContainerDefinition{c, sidecar},
		Volumes: []types.Volume{{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String("/srv/data")}},
			{Name: aws.String("cache"), DockerVolumeConfiguration: &types.DockerVolumeConfiguration{Scope: "shared", Autoprovision: aws.Bool(true), Driver: aws.String("local"),
				DriverOpts: map[string]string{"type": "tmpfs"}, Labels: map[string]string{"a": "b"}}}},
		PlacementConstraints:    []types.TaskDefinitionPlacementConstraint{{Type: "memberOf", Expression: aws.String("attribute:ecs.instance-type =~ t3.*")}},
		TaskRoleArn:             aws.String("arn:aws:iam::123456789012:role/task"),
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/exec"),
		NetworkMode:             "bridge",
		PidMode:                 "task",
		IpcMode:                 "task",
		Cpu:                     aws.String("1024"),
		Memory:                  aws.String("2048"),
		RuntimePlatform:         &types.RuntimePlatform{CpuArchitecture: "X86_64", OperatingSystemFamily: "LINUX"},
		EnableFaultInjection:    aws.Bool(true),
		RequiresCompatibilities: []types.Compatibility{"EC2"},
		Tags:                    []types.Tag{{Key: aws.String("app"), Value: aws.String("web")}},
	}
}

// TestTaskDefinitionRoundTrip registers a container definition that uses
// every member and checks it comes back identical, from the registration
// and from a describe.
func TestTaskDefinitionRoundTrip(t *testing.T) {
	in := tdEveryMember()
	c := reflect.ValueOf(in.ContainerDefinitions[0])
	for i := range c.NumField() {
		if f := c.Type().Field(i); f.IsExported() && c.Field(i).IsZero() {
			t.Fatalf("the round-trip fixture leaves ContainerDefinition.%s unset: set it", f.Name)
		}
	}
	env := apitest.Start(t, apitest.Options{})
	reg := tdRegister(t, env.Client, in)
	desc := tdDescribe(t, env.Client, "everything:1")
	want, _ := json.Marshal(in.ContainerDefinitions)
	for name, got := range map[string]*types.TaskDefinition{"register": reg, "describe": desc} {
		b, _ := json.Marshal(got.ContainerDefinitions)
		if string(b) != string(want) {
			t.Errorf("%s: container definitions changed:\n got %s\nwant %s", name, b, want)
		}
		gotTask, _ := json.Marshal([]any{got.Volumes, got.PlacementConstraints, got.TaskRoleArn, got.ExecutionRoleArn, got.NetworkMode,
			got.PidMode, got.IpcMode, got.Cpu, got.Memory, got.RuntimePlatform, got.EnableFaultInjection, got.RequiresCompatibilities})
		wantTask, _ := json.Marshal([]any{in.Volumes, in.PlacementConstraints, in.TaskRoleArn, in.ExecutionRoleArn, in.NetworkMode,
			in.PidMode, in.IpcMode, in.Cpu, in.Memory, in.RuntimePlatform, in.EnableFaultInjection, in.RequiresCompatibilities})
		if string(gotTask) != string(wantTask) {
			t.Errorf("%s: task members changed:\n got %s\nwant %s", name, gotTask, wantTask)
		}
	}
}

func TestTaskDefinitionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	t.Run("before", func(t *testing.T) {
		env := apitest.Start(t, apitest.Options{DataDir: dir})
		for range 3 {
			tdRegister(t, env.Client, tdInput("keep"))
		}
		if _, err := env.Client.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("keep:3")}); err != nil {
			t.Fatal(err)
		}
		if _, err := env.Client.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"keep:3"}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("after", func(t *testing.T) {
		env := apitest.Start(t, apitest.Options{DataDir: dir})
		if got := tdDescribe(t, env.Client, "keep"); got.Revision != 2 || got.Status != types.TaskDefinitionStatusActive {
			t.Fatalf("after restart: revision %d status %s", got.Revision, got.Status)
		}
		got, _ := tdListAll(t, env.Client, ecs.ListTaskDefinitionsInput{})
		if !slices.Equal(got, []string{tdARN("keep", 1), tdARN("keep", 2)}) {
			t.Fatalf("listed after restart: %v", got)
		}
		if td := tdRegister(t, env.Client, tdInput("keep")); td.Revision != 4 {
			t.Fatalf("revision after restart: %d, want 4 (3 was deleted, never reused)", td.Revision)
		}
	})
}

// TestRegisterTaskDefinitionTwoServers registers one family through two
// operation services on the same etcd, as two gantry servers would: each
// has its own view and queues, so their commits race on the family counter
// and the loser retries. Revisions stay 1..N.
func TestRegisterTaskDefinitionTwoServers(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	ctx := caller.WithCaller(context.Background(), caller.Caller{Principal: "arn:aws:iam::123456789012:user/tester"})
	servers := []*gantryecs.API{env.Server.ECS, {
		Store:   env.Server.ECS.Store,
		Region:  env.Server.ECS.Region,
		Account: env.Server.ECS.Account,
		Logger:  apitest.Logger(),
	}}
	startState(t, servers[1])
	const perServer = 40
	var mu sync.Mutex
	var revs []int32
	var wg sync.WaitGroup
	for _, svc := range servers {
		for range perServer {
			wg.Go(func() {
				out, err := svc.RegisterTaskDefinition(ctx, &ecsapi.RegisterTaskDefinitionRequest{
					Family:               "shared",
					ContainerDefinitions: []ecsapi.ContainerDefinition{{Name: "app", Image: "busybox", Memory: aws.Int32(64)}},
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				revs = append(revs, out.TaskDefinition.Revision)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	slices.Sort(revs)
	for i, r := range revs {
		if r != int32(i+1) {
			t.Fatalf("revisions %v: want 1..%d", revs, 2*perServer)
		}
	}
	// Each server's view catches up with the other's writes.
	for _, svc := range servers {
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, err := svc.DescribeTaskDefinition(ctx, &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: "shared"})
			if err == nil && out.TaskDefinition.Revision == 2*perServer {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("view never saw revision %d: %v %v", 2*perServer, out, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
