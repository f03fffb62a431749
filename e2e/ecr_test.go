package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

func ecrClient(url string) *ecr.Client {
	return ecr.New(ecr.Options{Region: apitest.Region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
}

// registryAuth returns Docker's X-Registry-Auth for the Gantry registry,
// from GetAuthorizationToken.
func registryAuth(t *testing.T, cl *ecr.Client) string {
	t.Helper()
	out, err := cl.GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	d := out.AuthorizationData[0]
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	user, pass, _ := strings.Cut(string(raw), ":")
	js, _ := json.Marshal(map[string]string{"username": user, "password": pass,
		"serveraddress": strings.TrimPrefix(aws.ToString(d.ProxyEndpoint), "http://")})
	return base64.URLEncoding.EncodeToString(js)
}

// labelledImage builds FROM base with one more label: an image of other
// ID and the same program, without compiling.
func (c *cluster) labelledImage(base, tag, value string) string {
	c.t.Helper()
	return c.buildImage(tag, fmt.Sprintf("FROM %s\nLABEL dev.gantry.test-image=true dev.gantry.test-variant=%s\n", base, value), nil)
}

// buildImage builds the Dockerfile df, with the files named in files in its
// context, tagged tag, and returns the image's ID.
func (c *cluster) buildImage(tag, df string, files map[string][]byte) string {
	c.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	_, _ = tw.Write([]byte(df))
	for name, b := range files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b))})
		_, _ = tw.Write(b)
	}
	_ = tw.Close()
	ctx := context.Background()
	resp, err := c.docker.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	img, err := c.docker.ImageInspect(ctx, tag)
	if err != nil {
		c.t.Fatalf("build %s: %v", tag, err)
	}
	return img.ID
}

// push pushes local image src to ref of the registry, then removes the
// local tag ref (so an agent on this Engine lacks it).
func (c *cluster) push(src, ref, auth string) {
	c.t.Helper()
	ctx := context.Background()
	if err := c.docker.ImageTag(ctx, src, ref); err != nil {
		c.t.Fatal(err)
	}
	rc, err := c.docker.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		c.t.Fatalf("push %s: %v", ref, err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	if bytes.Contains(body, []byte(`"error"`)) {
		c.t.Fatalf("push %s: %s", ref, body)
	}
	if _, err := c.docker.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// runningImage returns the image ID the task's container runs.
func (c *cluster) runningImage(taskArn string) string {
	c.t.Helper()
	list, err := c.docker.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "com.amazonaws.ecs.task-arn="+taskArn))})
	if err != nil || len(list) != 1 {
		c.t.Fatalf("containers of %s: %v %d", taskArn, err, len(list))
	}
	return list[0].ImageID
}

// TestTasksOfRegistryImages pushes an image to Gantry's registry, runs
// tasks of it on an agent that lacks it, by repositoryUri and by the ECR
// host form, then moves :latest to another image with PutImage (ECR's
// retag) and sees a new task run the new image (pull behaviour default).
func TestTasksOfRegistryImages(t *testing.T) {
	t.Parallel()
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	ecl := ecrClient(c.env.URL)
	repo := strings.ToLower(testutil.UniqueID("e2e/app"))
	cr, err := ecl.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	uri := aws.ToString(cr.Repository.RepositoryUri)
	auth := registryAuth(t, ecl)
	v1 := c.labelledImage(c.image, "gantry-test/ecr-e2e:v1", "1")
	v2 := c.labelledImage(c.image, "gantry-test/ecr-e2e:v2", "2")
	t.Cleanup(func() {
		// The task containers go first (they hold the images), then the
		// images by ID, with every name the pulls gave them.
		ctx := context.Background()
		if id, err := agent.LoadInstanceID(c.dataDir); err == nil {
			_ = testutil.RemoveLabelled(ctx, c.docker, "dev.gantry.instance="+id)
		}
		for _, ref := range []string{v1, v2} {
			_, _ = c.docker.ImageRemove(ctx, ref, image.RemoveOptions{Force: true})
		}
	})
	c.push("gantry-test/ecr-e2e:v1", uri+":latest", auth)
	c.push("gantry-test/ecr-e2e:v2", uri+":v2", auth)

	// By repositoryUri: the agent pulls with its own login.
	td := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ecr-uri"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", uri+":latest")}})
	a := aws.ToString(c.run(td).TaskArn)
	c.waitStatus(a, "RUNNING", 90*time.Second)
	if got := c.runningImage(a); got != v1 {
		t.Fatalf("task by repositoryUri runs %s, want %s", got, v1)
	}

	// By the ECR host form: the task needs ecr-auth, which the agent
	// advertises, and the name maps to the registry.
	ecrName := apitest.Account + ".dkr.ecr." + apitest.Region + ".amazonaws.com/" + repo + ":latest"
	td = c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ecr-host"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", ecrName)}})
	b := aws.ToString(c.run(td).TaskArn)
	c.waitStatus(b, "RUNNING", 90*time.Second)
	if got := c.runningImage(b); got != v1 {
		t.Fatalf("task by ECR host name runs %s, want %s", got, v1)
	}

	// Move :latest to v2 as ECR users do: BatchGetImage + PutImage.
	bg, err := ecl.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(repo), ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v2")}}})
	if err != nil || len(bg.Images) != 1 {
		t.Fatalf("batch-get-image v2: %v %+v", err, bg)
	}
	if _, err := ecl.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageTag: aws.String("latest"),
		ImageManifest: bg.Images[0].ImageManifest, ImageManifestMediaType: bg.Images[0].ImageManifestMediaType}); err != nil {
		t.Fatal(err)
	}
	d := aws.ToString(c.run(td).TaskArn)
	c.waitStatus(d, "RUNNING", 90*time.Second)
	if got := c.runningImage(d); got != v2 {
		t.Fatalf("after :latest moved, a new task runs %s, want %s", got, v2)
	}

	// An image the registry does not have: CannotPullContainerError.
	td = c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("ecr-missing"),
		ContainerDefinitions: []types.ContainerDefinition{webContainer("web", uri+":nosuch")}})
	e := aws.ToString(c.run(td).TaskArn)
	got := c.waitStatus(e, "STOPPED", 60*time.Second)
	if !strings.HasPrefix(aws.ToString(got.StoppedReason), "CannotPullContainerError") ||
		!strings.HasPrefix(aws.ToString(got.Containers[0].Reason), "CannotPullContainerError") {
		t.Fatalf("task of a missing tag: stoppedReason %q, container reason %q", aws.ToString(got.StoppedReason), aws.ToString(got.Containers[0].Reason))
	}
	for _, arn := range []string{a, b, d} {
		if _, err := c.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(c.name), Task: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
	}
}
