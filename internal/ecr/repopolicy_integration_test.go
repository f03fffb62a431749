package ecr_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/gantry-dev/gantry/internal/apitest"
)

const (
	pullerKey    = "AKIDPULLER0000000000"
	pullerSecret = "puller-secret"
	// pullerIdentity allows only the login: whatever else the key may do
	// on a repository comes from the repository's policy.
	pullerIdentity = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"}]}`
)

// registryGet GETs path of the registry with basic credentials.
func registryGet(t *testing.T, base, user, pass, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.SetBasicAuth(user, pass)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRepositoryPolicyEnforced gives a key whose own policy allows only
// GetAuthorizationToken pull rights through a repository policy: it may
// then pull (the registry and BatchGetImage) but not push (PutImage,
// InitiateLayerUpload, a registry upload), nor touch another repository;
// a Deny in a repository policy refuses even an administrator; and without
// the policy the key may pull nothing.
func TestRepositoryPolicyEnforced(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "puller.json"), []byte(pullerIdentity), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(pullerKey+" "+pullerSecret+" puller puller.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := apitest.Start(t, apitest.Options{CredentialsFile: creds})
	ctx := context.Background()
	admin := newClient(env.URL)
	puller := ecr.New(ecr.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(pullerKey, pullerSecret, "")})
	var sharedDigest string
	for _, r := range []string{"shared", "private"} {
		if _, err := admin.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(r)}); err != nil {
			t.Fatal(err)
		}
		if d := pushImage(t, admin, r, r, "v1"); r == "shared" {
			sharedDigest = d
		}
	}
	reg := env.Server.RegistryURL

	// No repository policy: the key may log in, and nothing else.
	if _, err := puller.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{}); err != nil {
		t.Fatal(err)
	}
	_, err := puller.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("shared"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	wantCode(t, err, "AccessDeniedException")
	if st := registryGet(t, reg, pullerKey, pullerSecret, "/v2/shared/manifests/v1"); st != http.StatusForbidden {
		t.Fatalf("pull without a repository policy: %d", st)
	}

	policy := `{"Version":"2012-10-17","Statement":[
  {"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + apitest.Account + `:user/puller"},
   "Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]},
  {"Sid":"KeepImages","Effect":"Deny","Principal":"*","Action":"ecr:BatchDeleteImage"}]}`
	if _, err := admin.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("shared"), PolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	// Pulls: through the API and the registry.
	if _, err := puller.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("shared"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}}); err != nil {
		t.Fatalf("BatchGetImage allowed by the repository policy: %v", err)
	}
	if st := registryGet(t, reg, pullerKey, pullerSecret, "/v2/shared/manifests/v1"); st != http.StatusOK {
		t.Fatalf("registry pull allowed by the repository policy: %d", st)
	}
	// Not pushes, not another repository.
	_, err = puller.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("shared")})
	wantCode(t, err, "AccessDeniedException")
	_, err = puller.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("shared"), ImageTag: aws.String("v2"), ImageManifest: aws.String(manifest([]byte("{}")))})
	wantCode(t, err, "AccessDeniedException")
	req, _ := http.NewRequest(http.MethodPost, reg+"/v2/shared/blobs/uploads/", nil)
	req.SetBasicAuth(pullerKey, pullerSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("registry upload by a puller: %d", resp.StatusCode)
	}
	if st := registryGet(t, reg, pullerKey, pullerSecret, "/v2/private/manifests/v1"); st != http.StatusForbidden {
		t.Fatalf("pull from a repository without a policy: %d", st)
	}
	// The policy's Deny holds for an administrator too.
	_, err = admin.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("shared"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("v1")}}})
	wantCode(t, err, "AccessDeniedException")
	if !strings.Contains(err.Error(), "ecr:BatchDeleteImage") || !strings.Contains(err.Error(), "with an explicit deny in a resource-based policy") {
		t.Errorf("refusal message: %v", err)
	}
	// The registry's refusal names the repository policy too.
	req, _ = http.NewRequest(http.MethodDelete, reg+"/v2/shared/manifests/"+sharedDigest, nil)
	req.SetBasicAuth(apitest.AccessKeyID, apitest.SecretAccessKey)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "DENIED") || !strings.Contains(string(body), "resource-based policy") {
		t.Errorf("registry delete refused by the repository policy: %d %s", resp.StatusCode, body)
	}
	// Without the policy, the key's pulls end.
	if _, err := admin.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	if st := registryGet(t, reg, pullerKey, pullerSecret, "/v2/shared/manifests/v1"); st != http.StatusForbidden {
		t.Fatalf("pull after the policy was deleted: %d", st)
	}
}
