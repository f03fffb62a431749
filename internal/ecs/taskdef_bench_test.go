package ecs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// The benchmarks of the task definition API measure the whole path: HTTP,
// SigV4 verification, JSON, the operation and embedded etcd, on a real
// server in this process. Each runs three ways in the same run:
//
//   - sdk: the AWS SDK for Go v2 ECS client, as users call Gantry. The
//     client's own CPU (request building, signing, response parsing) runs on
//     the same cores and is part of the figure.
//   - presigned: a lean client that signs one request up front and replays
//     it (the server accepts a signature for five minutes), so nearly all
//     the CPU measured is the server's.
//   - etcd: the physical limit beside them, raw etcd operations of the same
//     size through the server's own etcd client (a put of a record for
//     Register, a get of one for Describe).
//   - http-floor (Describe): the presigned client against a handler that
//     only writes the same response bytes: what net/http costs on its own.
//
// Rates are reported as req/s. See docs/performance.md for the figures and
// the command that reproduces them.

// benchTaskDef is a typical small task definition: one container with a
// port, environment and logging.
func benchTaskDef(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family:      aws.String(family),
		NetworkMode: "awsvpc",
		Cpu:         aws.String("256"),
		Memory:      aws.String("512"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:         aws.String("app"),
			Image:        aws.String("public.ecr.aws/docker/library/nginx:1.27"),
			PortMappings: []types.PortMapping{{ContainerPort: aws.Int32(80), Protocol: "tcp"}},
			Environment:  []types.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String("bench")}},
			LogConfiguration: &types.LogConfiguration{LogDriver: "awslogs",
				Options: map[string]string{"awslogs-group": "/ecs/bench", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}},
		}},
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole"),
		RequiresCompatibilities: []types.Compatibility{"FARGATE"},
	}
}

// benchWireBody is benchTaskDef as the JSON body the SDK would send.
func benchWireBody(b *testing.B, family string) []byte {
	in := ecsapi.RegisterTaskDefinitionRequest{
		Family:      family,
		NetworkMode: "awsvpc",
		Cpu:         "256",
		Memory:      "512",
		ContainerDefinitions: []ecsapi.ContainerDefinition{{
			Name:         "app",
			Image:        "public.ecr.aws/docker/library/nginx:1.27",
			PortMappings: []ecsapi.PortMapping{{ContainerPort: aws.Int32(80), Protocol: "tcp"}},
			Environment:  []ecsapi.KeyValuePair{{Name: "MODE", Value: "bench"}},
			LogConfiguration: &ecsapi.LogConfiguration{LogDriver: "awslogs",
				Options: map[string]string{"awslogs-group": "/ecs/bench", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}},
		}},
		ExecutionRoleArn:        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
		RequiresCompatibilities: []ecsapi.Compatibility{"FARGATE"},
	}
	body, err := json.Marshal(in)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchClient is an SDK client of env whose HTTP transport keeps as many
// idle connections as the benchmark has goroutines (the SDK's default keeps
// 10 per host, and the rest would reconnect for every call).
func benchClient(b *testing.B, env *apitest.Env) *ecs.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return ecs.New(ecs.Options{
		Region:       apitest.Region,
		BaseEndpoint: aws.String(env.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: tr},
	})
}

// presigned replays one signed request.
type presigned struct {
	url    string
	body   []byte
	header http.Header
	client *http.Client
}

func newPresigned(b *testing.B, url, op string, body []byte) *presigned {
	req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", ecsapi.TargetPrefix+"."+op)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", apitest.Region, time.Now()); err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &presigned{url: url + "/", body: body, header: req.Header, client: &http.Client{Transport: tr}}
}

func (p *presigned) do() error {
	req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		return err
	}
	req.Header = p.header
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runRate runs op in parallel with par goroutines per GOMAXPROCS and
// reports the rate achieved (req/s), the CPU time of the whole process per
// request (cpu-us/op: client, server and etcd together), and the rate that
// CPU time allows on GOMAXPROCS cores (req/s-cpu), which does not depend
// on what else runs on the machine.
func runRate(b *testing.B, par int, op func() error) {
	var failed atomic.Value
	b.SetParallelism(par)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		}
	})
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	perOp := cpu.Seconds() / float64(b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(perOp*1e6, "cpu-us/op")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0))/perOp, "req/s-cpu")
}

// BenchmarkRegisterTaskDefinition registers revisions of one family from
// many goroutines at once (the hardest case: one family's revisions are
// numbered one after another), through the SDK, through a presigned
// client, and beside them raw etcd puts of the same size.
func BenchmarkRegisterTaskDefinition(b *testing.B) {
	env := apitest.Start(b, apitest.Options{})
	ctx := context.Background()
	const par = 32
	b.Run("sdk", func(b *testing.B) {
		c := benchClient(b, env)
		in := benchTaskDef("bench-sdk")
		runRate(b, par, func() error {
			_, err := c.RegisterTaskDefinition(ctx, in)
			return err
		})
	})
	b.Run("presigned", func(b *testing.B) {
		p := newPresigned(b, env.URL, "RegisterTaskDefinition", benchWireBody(b, "bench-presigned"))
		runRate(b, par, p.do)
	})
	b.Run("etcd-put", func(b *testing.B) {
		out, err := env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("bench-sdk")})
		if err != nil {
			b.Fatal(err)
		}
		rec, _ := json.Marshal(map[string]any{"taskDefinition": out.TaskDefinition})
		st := env.Server.ECS.Store
		var n atomic.Int64
		runRate(b, par, func() error {
			_, err := st.Txn(ctx, nil, store.OpPut(store.Key("bench", fmt.Sprint(n.Add(1))), rec))
			return err
		})
		_, _ = st.Txn(ctx, nil, store.OpDeletePrefix(store.Key("bench")+"/"))
	})
}

// BenchmarkDescribeTaskDefinition describes the latest revision of a family
// from many goroutines at once, through the SDK, through a presigned
// client, and beside them raw etcd gets of the same record.
func BenchmarkDescribeTaskDefinition(b *testing.B) {
	env := apitest.Start(b, apitest.Options{})
	ctx := context.Background()
	if _, err := env.Client.RegisterTaskDefinition(ctx, benchTaskDef("bench")); err != nil {
		b.Fatal(err)
	}
	const par = 8
	b.Run("sdk", func(b *testing.B) {
		c := benchClient(b, env)
		in := &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("bench")}
		runRate(b, par, func() error {
			_, err := c.DescribeTaskDefinition(ctx, in)
			return err
		})
	})
	b.Run("presigned", func(b *testing.B) {
		p := newPresigned(b, env.URL, "DescribeTaskDefinition", []byte(`{"taskDefinition":"bench"}`))
		runRate(b, par, p.do)
	})
	b.Run("http-floor", func(b *testing.B) {
		// The same exchange against a handler that only answers the
		// response bytes: what net/http itself costs here.
		resp, err := env.Client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("bench")})
		if err != nil {
			b.Fatal(err)
		}
		canned, _ := json.Marshal(map[string]any{"taskDefinition": resp.TaskDefinition})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			_, _ = w.Write(canned)
		}))
		b.Cleanup(srv.Close)
		p := newPresigned(b, srv.URL, "DescribeTaskDefinition", []byte(`{"taskDefinition":"bench"}`))
		runRate(b, par, p.do)
	})
	b.Run("etcd-get", func(b *testing.B) {
		st := env.Server.ECS.Store
		key := store.Key("taskdefs", "bench", "0000000001")
		runRate(b, par, func() error {
			resp, err := st.Range(ctx, store.Range{From: key})
			if err == nil && len(resp.Items) != 1 {
				err = fmt.Errorf("%s not found", key)
			}
			return err
		})
	})
}
