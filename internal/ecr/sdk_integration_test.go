package ecr_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-dev/gantry/internal/apitest"
)

func newClient(url string) *ecr.Client {
	return ecr.New(ecr.Options{Region: apitest.Region, BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// upload pushes blob through the ECR layer operations and returns its
// digest.
func upload(t *testing.T, c *ecr.Client, repo string, blob []byte) string {
	t.Helper()
	ctx := context.Background()
	in, err := c.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	half := len(blob) / 2
	for _, part := range [][2]int{{0, half}, {half, len(blob)}} {
		out, err := c.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String(repo), UploadId: in.UploadId,
			PartFirstByte: aws.Int64(int64(part[0])), PartLastByte: aws.Int64(int64(part[1] - 1)), LayerPartBlob: blob[part[0]:part[1]]})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt64(out.LastByteReceived) != int64(part[1]-1) {
			t.Fatalf("lastByteReceived %d, want %d", aws.ToInt64(out.LastByteReceived), part[1]-1)
		}
	}
	d := digestOf(blob)
	out, err := c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String(repo), UploadId: in.UploadId, LayerDigests: []string{d}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.LayerDigest) != d {
		t.Fatalf("layer digest %s, want %s", aws.ToString(out.LayerDigest), d)
	}
	return d
}

// manifest returns a schema2 image manifest of config and layers.
func manifest(config []byte, layers ...[]byte) string {
	type desc struct {
		MediaType string `json:"mediaType"`
		Size      int    `json:"size"`
		Digest    string `json:"digest"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, "application/vnd.docker.distribution.manifest.v2+json",
		desc{"application/vnd.docker.container.image.v1+json", len(config), digestOf(config)}, []desc{}}
	for _, l := range layers {
		m.Layers = append(m.Layers, desc{"application/vnd.docker.image.rootfs.diff.tar.gzip", len(l), digestOf(l)})
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// pushImage uploads a config and one layer (made unique by seed) and puts
// the manifest with tag (none if empty); it returns the image digest.
func pushImage(t *testing.T, c *ecr.Client, repo, seed, tag string) string {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":"` + seed + `"}`)
	layer := []byte("layer of " + seed + strings.Repeat("x", 100))
	upload(t, c, repo, config)
	upload(t, c, repo, layer)
	in := &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(manifest(config, layer))}
	if tag != "" {
		in.ImageTag = aws.String(tag)
	}
	out, err := c.PutImage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Image.ImageId.ImageDigest)
}

// TestImagesThroughTheSDK drives the ECR API's image and layer operations
// with the AWS SDK for Go v2, and the refusals of bad input.
func TestImagesThroughTheSDK(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	repo := "sdk/images"
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}}); err != nil {
		t.Fatal(err)
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte(strings.Repeat("gantry", 1000))

	// A manifest naming blobs never pushed: LayersNotFoundException, and
	// no image appears.
	_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageTag: aws.String("v1"), ImageManifest: aws.String(manifest(config, layer))})
	wantCode(t, err, "LayersNotFoundException")
	imgs, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil || len(imgs.ImageDetails) != 0 {
		t.Fatalf("after a refused PutImage: %v %+v", err, imgs)
	}

	// The layer operations, with their refusals.
	check, err := c.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: aws.String(repo), LayerDigests: []string{digestOf(layer), "sha256:bad"}})
	if err != nil || len(check.Layers) != 0 || len(check.Failures) != 2 {
		t.Fatalf("check before upload: %v %+v", err, check)
	}
	upload(t, c, repo, config)
	up, err := c.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String(repo), UploadId: up.UploadId, LayerDigests: []string{digestOf(layer)}})
	wantCode(t, err, "EmptyUploadException")
	_, err = c.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String(repo), UploadId: up.UploadId,
		PartFirstByte: aws.Int64(10), PartLastByte: aws.Int64(19), LayerPartBlob: layer[:10]})
	wantCode(t, err, "InvalidLayerPartException") // does not start where the upload ends
	_, err = c.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String(repo), UploadId: aws.String("00000000-0000-0000-0000-000000000000"),
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(9), LayerPartBlob: layer[:10]})
	wantCode(t, err, "UploadNotFoundException")
	// Cut off halfway, then completed with the whole layer's digest: the
	// content does not match and no layer appears.
	if _, err := c.UploadLayerPart(ctx, &ecr.UploadLayerPartInput{RepositoryName: aws.String(repo), UploadId: up.UploadId,
		PartFirstByte: aws.Int64(0), PartLastByte: aws.Int64(int64(len(layer)/2 - 1)), LayerPartBlob: layer[:len(layer)/2]}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteLayerUpload(ctx, &ecr.CompleteLayerUploadInput{RepositoryName: aws.String(repo), UploadId: up.UploadId, LayerDigests: []string{digestOf(layer)}})
	wantCode(t, err, "InvalidLayerException")
	check, _ = c.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: aws.String(repo), LayerDigests: []string{digestOf(layer)}})
	if len(check.Layers) != 0 {
		t.Fatalf("a layer of a mismatched upload is available: %+v", check)
	}
	upload(t, c, repo, layer)
	check, _ = c.BatchCheckLayerAvailability(ctx, &ecr.BatchCheckLayerAvailabilityInput{RepositoryName: aws.String(repo), LayerDigests: []string{digestOf(layer)}})
	if len(check.Layers) != 1 || check.Layers[0].LayerAvailability != types.LayerAvailabilityAvailable || aws.ToInt64(check.Layers[0].LayerSize) != int64(len(layer)) {
		t.Fatalf("check after upload: %+v", check)
	}
	// The download URL fetches the layer without credentials.
	dl, err := c.GetDownloadUrlForLayer(ctx, &ecr.GetDownloadUrlForLayerInput{RepositoryName: aws.String(repo), LayerDigest: aws.String(digestOf(layer))})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(aws.ToString(dl.DownloadUrl))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(layer) {
		t.Fatalf("GET the download URL: %s, %d bytes", resp.Status, len(body))
	}
	tampered := strings.Replace(aws.ToString(dl.DownloadUrl), "X-Gantry-Signature=", "X-Gantry-Signature=0", 1)
	if resp, err := http.Get(tampered); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET a tampered download URL: %v %v", err, resp)
	}

	// Manifests that do not parse, and digests that do not match.
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String("{not json")})
	wantCode(t, err, "InvalidParameterException")
	m := manifest(config, layer)
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(m), ImageDigest: aws.String(digestOf([]byte("other")))})
	wantCode(t, err, "ImageDigestDoesNotMatchException")
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(m), ImageTag: aws.String("bad tag!")})
	wantCode(t, err, "InvalidParameterException")
	put, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(m), ImageTag: aws.String("v1"), ImageDigest: aws.String(digestOf([]byte(m)))})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.Image.ImageId.ImageDigest) != digestOf([]byte(m)) {
		t.Fatalf("PutImage digest %s", aws.ToString(put.Image.ImageId.ImageDigest))
	}
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(m), ImageTag: aws.String("v1")})
	wantCode(t, err, "ImageAlreadyExistsException")

	// A manifest list whose images exist, and one naming an image that
	// does not.
	list := func(digests ...string) string {
		var ms []string
		for _, d := range digests {
			ms = append(ms, fmt.Sprintf(`{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":%d,"digest":"%s","platform":{"architecture":"amd64","os":"linux"}}`, len(m), d))
		}
		return `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[` + strings.Join(ms, ",") + `]}`
	}
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(list(digestOf([]byte("nope")))), ImageTag: aws.String("multi")})
	wantCode(t, err, "ReferencedImagesNotFoundException")
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(list(digestOf([]byte(m)))), ImageTag: aws.String("multi")}); err != nil {
		t.Fatal(err)
	}
	// The image the list names cannot be deleted while the list is there.
	del, err := c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String(repo), ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(digestOf([]byte(m)))}}})
	if err != nil || len(del.ImageIds) != 0 || len(del.Failures) != 1 || del.Failures[0].FailureCode != types.ImageFailureCodeImageReferencedByManifestList {
		t.Fatalf("delete an image a list names: %v %+v", err, del)
	}

	// BatchGetImage by tag and digest, with failures.
	bg, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String(repo), ImageIds: []types.ImageIdentifier{
		{ImageTag: aws.String("v1")}, {ImageTag: aws.String("nosuch")}, {}, {ImageDigest: aws.String("sha256:xyz")}}})
	if err != nil || len(bg.Images) != 1 || aws.ToString(bg.Images[0].ImageManifest) != m || len(bg.Failures) != 3 {
		t.Fatalf("batch-get-image: %v %+v", err, bg)
	}
	codes := map[types.ImageFailureCode]bool{}
	for _, f := range bg.Failures {
		codes[f.FailureCode] = true
	}
	if !codes[types.ImageFailureCodeImageNotFound] || !codes[types.ImageFailureCodeMissingDigestAndTag] || !codes[types.ImageFailureCodeInvalidImageDigest] {
		t.Fatalf("batch-get-image failures: %+v", bg.Failures)
	}

	// Paging of ListImages and DescribeImages.
	for i := range 3 {
		pushImage(t, c, repo, fmt.Sprint("page", i), "")
	}
	var ids []types.ImageIdentifier
	p := ecr.NewListImagesPaginator(c, &ecr.ListImagesInput{RepositoryName: aws.String(repo), MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, pg.ImageIds...)
	}
	if len(ids) != 5 { // v1, multi, and three untagged
		t.Fatalf("list-images pages: %d ids %+v", len(ids), ids)
	}
	untagged, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(untagged.ImageDetails) != 3 {
		t.Fatalf("describe-images UNTAGGED: %v %d", err, len(untagged.ImageDetails))
	}
	_, err = c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("nosuch")}}})
	wantCode(t, err, "ImageNotFoundException")

	// Repository names and tags.
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("UPPER")})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("a//b")})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"sdk/nosuch"}})
	wantCode(t, err, "RepositoryNotFoundException")
	arn := "arn:aws:ecr:" + apitest.Region + ":" + apitest.Account + ":repository/" + repo
	if _, err := c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("tags: %v %+v", err, tags)
	}

	// Repository policies: validated and stored.
	_, err = c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(`{"Statement": 7}`)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(repo)})
	wantCode(t, err, "RepositoryPolicyNotFoundException")
	pol := `{"Version":"2012-10-17","Statement":[{"Sid":"pull","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage"]}]}`
	if _, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo), PolicyText: aws.String(pol)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(repo)})
	if err != nil || aws.ToString(got.PolicyText) != pol {
		t.Fatalf("get-repository-policy: %v %+v", err, got)
	}
}

// TestRepositoriesPaging pages through DescribeRepositories.
func TestRepositoriesPaging(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	for i := range 5 {
		if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("page/r%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := ecr.NewDescribeRepositoriesPaginator(c, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
	}
	if strings.Join(names, ",") != "page/r0,page/r1,page/r2,page/r3,page/r4" {
		t.Fatalf("pages: %v", names)
	}
	_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(0)})
	wantCode(t, err, "InvalidParameterException")
}

// TestLifecyclePolicyExpiresByCountAndAge applies a lifecycle policy
// (preview, then the scheduled run) on a clock moved forward.
func TestLifecyclePolicyExpiresByCountAndAge(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	repo := "sdk/lifecycle"
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
		t.Fatal(err)
	}
	// Three tagged release images, pushed in order, and two untagged.
	var rel []string
	for i := range 3 {
		rel = append(rel, pushImage(t, c, repo, fmt.Sprint("rel", i), fmt.Sprintf("release-%d", i)))
		time.Sleep(20 * time.Millisecond) // distinct pushedAt
	}
	pushImage(t, c, repo, "u0", "")
	pushImage(t, c, repo, "u1", "")
	policy := `{"rules":[
	  {"rulePriority":1,"description":"keep two releases","selection":{"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}},
	  {"rulePriority":2,"description":"untagged after a day","selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}]}`
	_, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(`{"rules":[{"rulePriority":0,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`)})
	wantCode(t, err, "InvalidParameterException")
	if _, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)})
	if err != nil || aws.ToString(got.LifecyclePolicyText) != policy {
		t.Fatalf("get-lifecycle-policy: %v", err)
	}

	// Today only the oldest release expires (by count).
	if _, err := c.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: aws.String(repo)}); err != nil {
		t.Fatal(err)
	}
	pv, err := c.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: aws.String(repo)})
	if err != nil || pv.Status != types.LifecyclePolicyPreviewStatusComplete || len(pv.PreviewResults) != 1 ||
		aws.ToString(pv.PreviewResults[0].ImageDigest) != rel[0] || aws.ToInt32(pv.PreviewResults[0].AppliedRulePriority) != 1 {
		t.Fatalf("preview today: %v %+v", err, pv)
	}

	// Two days later the untagged images are old enough too; the
	// scheduled run expires all three.
	env.Server.ECR.SetNow(func() time.Time { return time.Now().Add(48 * time.Hour) })
	n, err := env.Server.ECR.ApplyLifecyclePolicies(ctx)
	if err != nil || n != 3 {
		t.Fatalf("apply: %d expired, %v", n, err)
	}
	left, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, d := range left.ImageDetails {
		kept = append(kept, d.ImageTags...)
		if len(d.ImageTags) == 0 {
			t.Errorf("untagged image %s survived", aws.ToString(d.ImageDigest))
		}
	}
	if strings.Join(kept, ",") != "release-2,release-1" {
		t.Fatalf("kept %v", kept)
	}
	got, err = c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)})
	if err != nil || got.LastEvaluatedAt == nil {
		t.Fatalf("lastEvaluatedAt after a run: %v %+v", err, got)
	}
	if _, err := c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: aws.String(repo)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: aws.String(repo)})
	wantCode(t, err, "LifecyclePolicyNotFoundException")
}

// TestRegistryTokens checks the registry's logins: a token of
// GetAuthorizationToken, an access key, wrong and expired tokens.
func TestRegistryTokens(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	tok, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	d := tok.AuthorizationData[0]
	if aws.ToString(d.ProxyEndpoint) != env.Server.RegistryURL {
		t.Fatalf("proxyEndpoint %s, want %s", aws.ToString(d.ProxyEndpoint), env.Server.RegistryURL)
	}
	if ttl := time.Until(aws.ToTime(d.ExpiresAt)); ttl < 11*time.Hour || ttl > 12*time.Hour+time.Minute {
		t.Fatalf("token valid for %v, want 12h", ttl)
	}
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	user, pass, _ := strings.Cut(string(raw), ":")
	status := func(user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, env.Server.RegistryURL+"/v2/", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("401 without a basic challenge")
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, user, pass string
		want             int
	}{
		{"token", user, pass, 200},
		{"access key", apitest.AccessKeyID, apitest.SecretAccessKey, 200},
		{"none", "", "", 401},
		{"wrong secret", apitest.AccessKeyID, "nope", 401},
		{"tampered token", user, pass[:len(pass)-2] + "AA", 401},
		{"not a token", "AWS", "hunter2", 401},
	} {
		if got := status(tc.user, tc.pass); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	env.Server.ECR.SetNow(func() time.Time { return time.Now().Add(13 * time.Hour) })
	if got := status(user, pass); got != 401 {
		t.Errorf("expired token: status %d, want 401", got)
	}
}

// TestImagesSurviveRestart restarts the server: repositories, images and
// the tokens issued before stay valid.
func TestImagesSurviveRestart(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("sdk/restart"), ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	d := pushImage(t, c, "sdk/restart", "before", "v1")
	tok, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	env.Restart(t)
	c = newClient(env.URL)
	imgs, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("sdk/restart")})
	if err != nil || len(imgs.ImageDetails) != 1 || aws.ToString(imgs.ImageDetails[0].ImageDigest) != d {
		t.Fatalf("after restart: %v %+v", err, imgs)
	}
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(tok.AuthorizationData[0].AuthorizationToken))
	user, pass, _ := strings.Cut(string(raw), ":")
	req, _ := http.NewRequest(http.MethodGet, env.Server.RegistryURL+"/v2/sdk/restart/manifests/v1", nil)
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != d {
		t.Fatalf("a token of before the restart: %s %s", resp.Status, resp.Header.Get("Docker-Content-Digest"))
	}
	// Still immutable.
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":"after"}`)
	upload(t, c, "sdk/restart", config)
	_, err = c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("sdk/restart"), ImageTag: aws.String("v1"), ImageManifest: aws.String(manifest(config))})
	wantCode(t, err, "ImageTagAlreadyExistsException")
}

// TestConcurrentWrites: concurrent tag writes lose none, and of concurrent
// pushes of one immutable tag exactly one wins.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	env := apitest.Start(t, apitest.Options{})
	c := newClient(env.URL)
	ctx := context.Background()
	repo := "sdk/concurrent"
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo), ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:ecr:" + apitest.Region + ":" + apitest.Account + ":repository/" + repo
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")}}})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tags, err := c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != n {
		t.Fatalf("after %d concurrent TagResource: %v %d tags", n, err, len(tags.Tags))
	}

	var manifests []string
	for i := range 4 {
		config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":%d}`, i))
		upload(t, c, repo, config)
		manifests = append(manifests, manifest(config))
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(manifests))
	for i, m := range manifests {
		go func() {
			_, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageTag: aws.String("v1"), ImageManifest: aws.String(m)})
			results <- result{i, err}
		}()
	}
	winner := -1
	for range manifests {
		r := <-results
		if r.err == nil {
			if winner >= 0 {
				t.Fatalf("two pushes of immutable v1 succeeded: %d and %d", winner, r.i)
			}
			winner = r.i
			continue
		}
		wantCode(t, r.err, "ImageTagAlreadyExistsException")
	}
	if winner < 0 {
		t.Fatal("no push of v1 succeeded")
	}
	d, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	if err != nil || aws.ToString(d.ImageDetails[0].ImageDigest) != digestOf([]byte(manifests[winner])) {
		t.Fatalf("v1 is not the winner's image: %v %+v", err, d)
	}
}
