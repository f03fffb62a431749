package ecr_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/testutil"
)

// onlyAKey may push and pull one repository, "tok/a", and nothing else.
const (
	onlyAKey    = "AKIDONLYA00000000000"
	onlyASecret = "only-a-secret"
)

// TestTokenAuthWithTheDockerCLI serves the registry with the Bearer
// challenge (--registry-auth-challenge bearer) and drives Docker's token
// flow with the unmodified CLIs: `aws ecr get-login-password | docker
// login`, a push and a pull; a key limited to repository A logs in with
// its access key, pushes to A and is refused on B; a token the endpoint
// issued for A is refused on B with UNAUTHORIZED, and a forged one too.
func TestTokenAuthWithTheDockerCLI(t *testing.T) {
	dir := t.TempDir()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:GetAuthorizationToken","Resource":"*"},
{"Effect":"Allow","Action":"ecr:*","Resource":"arn:aws:ecr:` + apitest.Region + `:` + apitest.Account + `:repository/tok/a"}]}`
	if err := os.WriteFile(filepath.Join(dir, "only-a.json"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(onlyAKey+" "+onlyASecret+" only-a only-a.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := apitest.Start(t, apitest.Options{CredentialsFile: creds, Configure: func(c *config.Server) { c.RegistryAuthChallenge = "bearer" }})
	c := newCLI(t, env)
	dc := testutil.RequireDocker(t)
	src := testutil.TestServerImage(t)
	for _, r := range []string{"tok/a", "tok/b"} {
		c.awsJSON(nil, "ecr", "create-repository", "--repository-name", r)
	}
	uriA, uriB := c.registryHost+"/tok/a:v1", c.registryHost+"/tok/b:v1"
	t.Cleanup(func() {
		for _, ref := range []string{uriA, uriB} {
			_, _ = dc.ImageRemove(context.Background(), ref, image.RemoveOptions{})
		}
	})

	// The challenge names the token endpoint.
	resp, err := http.Get(c.registryURL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	realm := c.registryURL + "/token"
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != `Bearer realm="`+realm+`",service="ecr.amazonaws.com"` {
		t.Fatalf("challenge: %d %q", resp.StatusCode, got)
	}

	// get-login-password | docker login, push, pull: through tokens.
	c.login()
	c.dockerOK("tag", src, uriA)
	c.dockerOK("push", uriA)
	c.dockerOK("rmi", uriA)
	c.dockerOK("pull", uriA)

	// A key allowed on A only, logged in with its access key.
	limited := &cli{t: t, aws: c.aws, docker: c.docker, url: c.url, dockerConfig: t.TempDir(), akid: onlyAKey, secret: onlyASecret,
		registryHost: c.registryHost, registryURL: c.registryURL}
	login := limited.dockerCmd("login", "--username", onlyAKey, "--password-stdin", c.registryURL)
	login.Stdin = strings.NewReader(onlyASecret)
	if out, err := login.CombinedOutput(); err != nil || !strings.Contains(string(out), "Login Succeeded") {
		t.Fatalf("docker login with an access key: %v: %s", err, out)
	}
	limited.dockerOK("push", uriA)
	c.dockerOK("tag", src, uriB)
	// docker words the refusal (a token granting nothing on B) as
	// "denied: requested access to the resource is denied".
	limited.dockerFails("requested access to the resource is denied", "push", uriB)

	// A token for A is refused on B; a forged one everywhere.
	q := url.Values{"service": {"ecr.amazonaws.com"}, "scope": {"repository:tok/a:pull", "repository:tok/b:pull"}}
	req, _ := http.NewRequest(http.MethodGet, realm+"?"+q.Encode(), nil)
	req.SetBasicAuth(onlyAKey, onlyASecret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || tok.Token == "" || tok.ExpiresIn != 300 {
		t.Fatalf("token: %d %v %+v", resp.StatusCode, err, tok)
	}
	get := func(path, token string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodGet, c.registryURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
	}
	if st, _, b := get("/v2/tok/a/manifests/v1", tok.Token); st != 200 {
		t.Fatalf("the token on A: %d %s", st, b)
	}
	if st, ch, b := get("/v2/tok/b/manifests/v1", tok.Token); st != 401 || !strings.Contains(b, "UNAUTHORIZED") || !strings.Contains(ch, `error="insufficient_scope"`) {
		t.Fatalf("the token of A on B: %d %q %s", st, ch, b)
	}
	forged := tok.Token[:len(tok.Token)-4] + "AAAA"
	if st, ch, b := get("/v2/tok/a/manifests/v1", forged); st != 401 || !strings.Contains(b, "UNAUTHORIZED") || !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("a forged token: %d %q %s", st, ch, b)
	}
}
