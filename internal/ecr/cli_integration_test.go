package ecr_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// dockerCLI returns Debian's docker CLI (or one on PATH).
func dockerCLI(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"/usr/bin/docker", "docker"} {
		if p, err := exec.LookPath(bin); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the docker CLI is needed in CI")
	}
	t.Skip("no docker CLI")
	return ""
}

type cli struct {
	t                *testing.T
	aws, docker, url string
	dockerConfig     string
	akid, secret     string
	registryHost     string
	registryURL      string
}

func newCLI(t *testing.T, env *apitest.Env) *cli {
	c := &cli{t: t, aws: testutil.AWSCLI(t), docker: dockerCLI(t), url: env.URL, dockerConfig: t.TempDir(),
		akid: apitest.AccessKeyID, secret: apitest.SecretAccessKey, registryURL: env.Server.RegistryURL}
	c.registryHost = strings.TrimPrefix(c.registryURL, "http://")
	return c
}

func (c *cli) awsCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(c.aws, append(args, "--endpoint-url", c.url, "--region", apitest.Region, "--output", "json")...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.akid, "AWS_SECRET_ACCESS_KEY="+c.secret,
		"AWS_MAX_ATTEMPTS=1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	return cmd
}

// awsJSON runs the aws CLI and decodes its output into out (if not nil).
func (c *cli) awsJSON(out any, args ...string) {
	c.t.Helper()
	b, err := c.awsCmd(args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		c.t.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("aws %s: %v: %s", strings.Join(args, " "), err, b)
		}
	}
}

// awsFails runs the aws CLI, expects it to fail with code, and returns its
// output.
func (c *cli) awsFails(code string, args ...string) string {
	c.t.Helper()
	out, err := c.awsCmd(args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "("+code+")") {
		c.t.Fatalf("aws %s: want %s, got %v: %s", strings.Join(args, " "), code, err, out)
	}
	return string(out)
}

func (c *cli) dockerCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(c.docker, append([]string{"--config", c.dockerConfig}, args...)...)
	return cmd
}

func (c *cli) dockerOK(args ...string) string {
	c.t.Helper()
	out, err := c.dockerCmd(args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *cli) dockerFails(want string, args ...string) {
	c.t.Helper()
	out, err := c.dockerCmd(args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		c.t.Fatalf("docker %s: want a failure saying %q, got %v: %s", strings.Join(args, " "), want, err, out)
	}
}

// login runs `aws ecr get-login-password | docker login`.
func (c *cli) login() {
	c.t.Helper()
	pw, err := c.awsCmd("ecr", "get-login-password").Output()
	if err != nil {
		c.t.Fatalf("aws ecr get-login-password: %v", err)
	}
	cmd := c.dockerCmd("login", "--username", "AWS", "--password-stdin", c.registryURL)
	cmd.Stdin = strings.NewReader(string(pw))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Login Succeeded") {
		c.t.Fatalf("docker login: %v: %s", err, out)
	}
}

type imageDetails struct {
	ImageDetails []struct {
		ImageDigest      string    `json:"imageDigest"`
		ImageTags        []string  `json:"imageTags"`
		ImageSizeInBytes int64     `json:"imageSizeInBytes"`
		ImagePushedAt    time.Time `json:"imagePushedAt"`
	} `json:"imageDetails"`
}

// TestPushPullWithTheCLIs drives the registry with the unmodified aws and
// docker CLIs: create a repository, log in with get-login-password, push
// a locally built image, see it in describe-images, pull it back, move a
// tag, refuse a second push of an immutable tag, and delete with
// batch-delete-image. (The API's refusals are TestImagesThroughTheSDK's.)
func TestPushPullWithTheCLIs(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	c := newCLI(t, env)
	dc := testutil.RequireDocker(t)
	src := testutil.TestServerImage(t)
	// A second image, of another ID, without compiling anything.
	other := c.dockerCmd("build", "-q", "-t", "gantry-test/ecr-other:latest", "-")
	other.Stdin = strings.NewReader("FROM " + src + "\nLABEL " + testutil.LabelTestImage + "=true dev.gantry.test-variant=ecr-other\n")
	if out, err := other.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}

	repo := "gantry-test/" + strings.ToLower(testutil.UniqueID("app"))
	var created struct {
		Repository struct {
			RepositoryURI      string `json:"repositoryUri"`
			RepositoryArn      string `json:"repositoryArn"`
			ImageTagMutability string `json:"imageTagMutability"`
		} `json:"repository"`
	}
	c.awsJSON(&created, "ecr", "create-repository", "--repository-name", repo)
	uri := created.Repository.RepositoryURI
	if uri != c.registryHost+"/"+repo || created.Repository.ImageTagMutability != "MUTABLE" ||
		created.Repository.RepositoryArn != "arn:aws:ecr:"+apitest.Region+":"+apitest.Account+":repository/"+repo {
		t.Fatalf("create-repository: %+v", created.Repository)
	}

	// Without logging in, the registry refuses.
	c.dockerOK("tag", src, uri+":v1")
	t.Cleanup(func() {
		ctx := context.Background()
		for _, ref := range []string{uri + ":v1", uri + ":v2", uri + ":other", "gantry-test/ecr-other:latest"} {
			_, _ = dc.ImageRemove(ctx, ref, image.RemoveOptions{})
		}
	})
	c.dockerFails("no basic auth credentials", "push", uri+":v1")
	// A wrong password does not log in.
	bad := c.dockerCmd("login", "--username", "AWS", "--password-stdin", c.registryURL)
	bad.Stdin = strings.NewReader("gantry1.bm90LWEtdG9rZW4.AAAA")
	if out, err := bad.CombinedOutput(); err == nil {
		t.Fatalf("docker login with a wrong password succeeded: %s", out)
	}
	c.login()
	c.dockerOK("push", uri+":v1")

	var d imageDetails
	c.awsJSON(&d, "ecr", "describe-images", "--repository-name", repo)
	if len(d.ImageDetails) != 1 || !slices.Equal(d.ImageDetails[0].ImageTags, []string{"v1"}) || d.ImageDetails[0].ImageSizeInBytes <= 0 {
		t.Fatalf("describe-images after one push: %+v", d)
	}
	pushed := d.ImageDetails[0].ImagePushedAt
	if time.Since(pushed) > 5*time.Minute || time.Until(pushed) > time.Minute {
		t.Errorf("imagePushedAt %v is not about now", pushed)
	}
	digest1 := d.ImageDetails[0].ImageDigest
	if !strings.Contains(c.dockerOK("inspect", "--format", "{{json .RepoDigests}}", uri+":v1"), digest1) {
		t.Errorf("docker's repo digest differs from ECR's %s", digest1)
	}

	// Pull it back after removing the local tag.
	c.dockerOK("rmi", uri+":v1")
	c.dockerOK("pull", uri+":v1")

	// A moved tag: push another image as v1; the first becomes untagged.
	c.dockerOK("tag", "gantry-test/ecr-other:latest", uri+":other")
	c.dockerOK("tag", "gantry-test/ecr-other:latest", uri+":v1")
	c.dockerOK("push", uri+":v1")

	// IMMUTABLE: the tag may not move again (PutImage's refusal is
	// TestImagesThroughTheSDK's).
	c.awsJSON(nil, "ecr", "put-image-tag-mutability", "--repository-name", repo, "--image-tag-mutability", "IMMUTABLE")
	c.dockerOK("tag", src, uri+":v1")
	c.dockerFails("tag invalid", "push", uri+":v1")
	// batch-delete-image and describe-images agree.
	var del struct {
		ImageIDs []struct {
			ImageDigest string `json:"imageDigest"`
		} `json:"imageIds"`
		Failures []struct {
			FailureCode string `json:"failureCode"`
		} `json:"failures"`
	}
	c.awsJSON(&del, "ecr", "batch-delete-image", "--repository-name", repo, "--image-ids", "imageDigest="+digest1, "imageTag=nosuch")
	if len(del.ImageIDs) != 1 || del.ImageIDs[0].ImageDigest != digest1 || len(del.Failures) != 1 || del.Failures[0].FailureCode != "ImageNotFound" {
		t.Fatalf("batch-delete-image: %+v", del)
	}
	c.awsJSON(&d, "ecr", "describe-images", "--repository-name", repo)
	if len(d.ImageDetails) != 1 || d.ImageDetails[0].ImageDigest == digest1 {
		t.Fatalf("describe-images after batch-delete-image: %+v", d)
	}
	// The registry no longer serves the deleted manifest.
	req, _ := http.NewRequest(http.MethodGet, c.registryURL+"/v2/"+repo+"/manifests/"+digest1, nil)
	req.SetBasicAuth(c.akid, c.secret)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "MANIFEST_UNKNOWN") {
		t.Fatalf("GET of a deleted manifest: %s %s", resp.Status, body)
	}

	// A repository with images is deleted only with --force.
	c.awsFails("RepositoryNotEmptyException", "ecr", "delete-repository", "--repository-name", repo)
	c.awsJSON(nil, "ecr", "delete-repository", "--repository-name", repo, "--force")
	// Pushing to a repository that does not exist is refused.
	c.dockerOK("tag", src, uri+":v2")
	c.dockerFails("does not exist", "push", uri+":v2")
}
