package main

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func TestFargateTaskDefinition(t *testing.T) {
	in := fargateTaskDefinition("img:1")
	if in.NetworkMode != types.NetworkModeAwsvpc {
		t.Errorf("network mode %q, want awsvpc", in.NetworkMode)
	}
	if len(in.RequiresCompatibilities) != 1 || in.RequiresCompatibilities[0] != types.CompatibilityFargate {
		t.Errorf("requiresCompatibilities %v, want [FARGATE]", in.RequiresCompatibilities)
	}
	if aws.ToString(in.Cpu) != "256" || aws.ToString(in.Memory) != "512" {
		t.Errorf("task cpu/memory %s/%s, want 256/512", aws.ToString(in.Cpu), aws.ToString(in.Memory))
	}
	if len(in.ContainerDefinitions) != 1 {
		t.Fatalf("%d containers", len(in.ContainerDefinitions))
	}
	c := in.ContainerDefinitions[0]
	if aws.ToString(c.Image) != "img:1" || len(c.PortMappings) != 1 || aws.ToInt32(c.PortMappings[0].ContainerPort) != webPort ||
		aws.ToInt32(c.PortMappings[0].HostPort) != 0 {
		t.Errorf("container %+v: want image img:1, container port %d and no host port", c, webPort)
	}
}

func TestWebAddr(t *testing.T) {
	eni := types.Attachment{Type: aws.String("ElasticNetworkInterface"), Details: []types.KeyValuePair{
		{Name: aws.String("subnetId"), Value: aws.String("subnet-1")},
		{Name: aws.String("privateIPv4Address"), Value: aws.String("172.30.0.5")},
	}}
	bound := types.Container{NetworkBindings: []types.NetworkBinding{{ContainerPort: aws.Int32(webPort), HostPort: aws.Int32(32768)}}}
	tests := []struct {
		name    string
		fargate bool
		task    types.Task
		want    string
	}{
		{name: "bridge: host port on loopback", task: types.Task{Containers: []types.Container{bound}}, want: "127.0.0.1:32768"},
		{name: "bridge: no binding yet", task: types.Task{}, want: ""},
		{name: "fargate: the ENI's address, not the binding", fargate: true,
			task: types.Task{Attachments: []types.Attachment{eni}, Containers: []types.Container{bound}}, want: "172.30.0.5:8080"},
		{name: "fargate: no attachment yet", fargate: true, task: types.Task{Containers: []types.Container{bound}}, want: ""},
		{name: "fargate: another attachment", fargate: true,
			task: types.Task{Attachments: []types.Attachment{{Type: aws.String("Other"), Details: eni.Details}}}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bench{cfg: config{Fargate: tt.fargate}}
			if got := b.webAddr(tt.task); got != tt.want {
				t.Errorf("webAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderFargateReport(t *testing.T) {
	res := &results{cfg: config{Fargate: true, N: 3, Warmup: 1, Poll: 5 * time.Millisecond, Args: []string{"-n", "3"}},
		date: time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC), loadStart: "1.00 2.00 3.00", loadEnd: "4.00 5.00 6.00"}
	for _, d := range []time.Duration{100, 120, 200} {
		res.gantry = append(res.gantry, gantryStart{Running: d * time.Millisecond, HTTP: (d + 10) * time.Millisecond,
			CPU: cpuSample{Client: 10 * time.Millisecond, Server: 20 * time.Millisecond, Agent: 30 * time.Millisecond, Docker: 40 * time.Millisecond}})
	}
	for _, d := range []time.Duration{90, 100, 110} {
		res.docker = append(res.docker, dockerStart{Return: d * time.Millisecond, HTTP: (d + 5) * time.Millisecond,
			CPU: cpuSample{Docker: 50 * time.Millisecond}})
	}
	got := renderFargateReport(res)
	for _, want := range []string{
		fargateHeading + "\n",
		"go run ./cmd/gantry-bench fargate -n 3",
		"--capacity-provider FARGATE",
		"requiresCompatibilities FARGATE, network mode awsvpc, task cpu 256 and memory 512",
		"1.00 2.00 3.00",
		"| FARGATE: RunTask → lastStatus RUNNING | 120.0 ms | 200.0 ms | 200.0 ms | 140.0 ms |",
		"| `docker run -d`: command returns | 100.0 ms | 110.0 ms | 110.0 ms | 100.0 ms |",
		"**1.20** for RUNNING against the command's return (goal ≤ 1.3: **met**)",
		"| FARGATE RunTask | 10.0 ms | 20.0 ms | 30.0 ms | 40.0 ms | 100.0 ms |",
		"| `docker run -d` | 0.0 ms | 0.0 ms | 0.0 ms | 50.0 ms | 50.0 ms |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Agent memory") {
		t.Error("the Fargate report has the memory measurement's section")
	}
}

func TestReplaceSectionKeepsTheOtherBenchmarksSection(t *testing.T) {
	doc := "# T\n\n" + sectionHeading + "\n\nagent body\n\n" + fargateHeading + "\n\nold fargate\n\n### Findings\n\nwhy\n\n## Next\n"
	got := replaceSection(doc, fargateHeading+"\n\nnew fargate\n")
	want := "# T\n\n" + sectionHeading + "\n\nagent body\n\n" + fargateHeading + "\n\nnew fargate\n\n### Findings\n\nwhy\n\n## Next\n"
	if got != want {
		t.Errorf("replaceSection:\n got %q\nwant %q", got, want)
	}
	got = replaceSection("# T\n\n"+sectionHeading+"\n\nagent body\n", fargateHeading+"\n\nfirst\n")
	want = "# T\n\n" + sectionHeading + "\n\nagent body\n\n" + fargateHeading + "\n\nfirst\n"
	if got != want {
		t.Errorf("append beside the agent section:\n got %q\nwant %q", got, want)
	}
}
