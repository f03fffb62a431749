package authz_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/ecsclient"
)

// Over TLS (a generated development CA): clients that trust the CA reach
// the API and the policies and agent identity hold as over HTTP; a client
// that does not trust it is refused by its own verification.
func TestPoliciesAndIdentityOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, doc := range map[string]string{"ro.json": readOnlyPolicy, "join.json": joinPolicy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("AKIDREADONLY00000000 ro-secret reader ro.json\nAKIDJOIN000000000000 join-secret joiner join.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := apitest.Start(t, apitest.Options{CredentialsFile: creds, Configure: func(c *config.Server) { c.TLSGenerate = true }})
	if !strings.HasPrefix(env.URL, "https://") {
		t.Fatalf("URL %s", env.URL)
	}
	caFile := filepath.Join(env.DataDir, "tls", "ca.pem")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	sdk := func(akid, secret string) *ecs.Client {
		return ecs.New(ecs.Options{Region: apitest.Region, BaseEndpoint: aws.String(env.URL), HTTPClient: httpc,
			Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")})
	}
	ctx := context.Background()
	admin := sdk(apitest.AccessKeyID, apitest.SecretAccessKey)
	if _, err := admin.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	ro := sdk("AKIDREADONLY00000000", "ro-secret")
	if _, err := ro.ListClusters(ctx, &ecs.ListClustersInput{}); err != nil {
		t.Fatalf("read-only key reads over TLS: %v", err)
	}
	_, err = ro.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x")})
	var ad *types.AccessDeniedException
	if !errors.As(err, &ad) {
		t.Fatalf("want AccessDeniedException over TLS, got %v", err)
	}

	// The agent's client verifies the server against the CA.
	join := ecsclient.New(env.URL, apitest.Region, "AKIDJOIN000000000000", "join-secret")
	if err := join.TrustPEM(ca); err != nil {
		t.Fatal(err)
	}
	arn, err := register(t, join, "prod")
	if err != nil {
		t.Fatalf("register over TLS: %v", err)
	}
	var key ecsapi.GantryIssueInstanceCredentialsResponse
	if err := join.Call(ctx, "GantryIssueInstanceCredentials", &ecsapi.GantryIssueInstanceCredentialsRequest{Cluster: "prod", ContainerInstance: arn}, &key); err != nil {
		t.Fatal(err)
	}
	inst := ecsclient.New(env.URL, apitest.Region, key.AccessKeyId, key.SecretAccessKey)
	if err := inst.TrustPEM(ca); err != nil {
		t.Fatal(err)
	}
	if err := inst.Call(ctx, "GantryPollTasks", &ecsapi.GantryPollTasksRequest{Cluster: "prod", ContainerInstance: arn}, nil); err != nil {
		t.Fatalf("instance polls over TLS: %v", err)
	}
	wantDenied(t, "instance key describes clusters", inst.Call(ctx, "DescribeClusters", &ecsapi.DescribeClustersRequest{}, nil))

	// A client that does not trust the CA does not talk to the server.
	untrusting := ecsclient.New(env.URL, apitest.Region, apitest.AccessKeyID, apitest.SecretAccessKey)
	err = untrusting.Call(ctx, "ListClusters", &ecsapi.ListClustersRequest{}, nil)
	var ue x509.UnknownAuthorityError
	if !errors.As(err, &ue) {
		t.Fatalf("a client without the CA: %v", err)
	}
	// The generated keys are private.
	for _, f := range []string{"ca-key.pem", "server-key.pem"} {
		if fi, err := os.Stat(filepath.Join(env.DataDir, "tls", f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi.Mode(), err)
		}
	}
}
