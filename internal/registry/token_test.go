package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// getToken asks the token endpoint of base for scopes with basic
// credentials user and pass.
func getToken(t *testing.T, base, user, pass string, scopes ...string) (int, tokenResponse, string) {
	t.Helper()
	q := url.Values{"service": {TokenService}, "scope": scopes}
	req, _ := http.NewRequest(http.MethodGet, base+"/token?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr tokenResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatalf("token response %s: %v", b, err)
		}
	}
	return resp.StatusCode, tr, string(b)
}

// TestTokenFlow: with the Bearer challenge, a request without credentials
// names the token endpoint, the service and the scope it needs; the token
// endpoint issues a signed token for the scopes the authorizer grants
// (push left out where it refuses); the registry accepts the token for
// what it grants, and refuses it (401 UNAUTHORIZED, insufficient_scope)
// on another repository or action; an expired or forged token is refused
// with invalid_token; basic credentials still work.
func TestTokenFlow(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().Unix())
	repos := &fakeRepos{repos: map[string]Settings{"app": {}, "other": {}, "readonly": {}}}
	r, err := New(context.Background(), Options{Dir: t.TempDir(), Secret: []byte("0123456789abcdef0123"), Repositories: repos,
		Auth: fakeAuth{"u", "p"}, Challenge: ChallengeBearer, Now: func() time.Time { return time.Unix(now.Load(), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	r.SetAuthorizer(func(_ context.Context, akid string, _ *http.Request, repository, op string) error {
		if repository == "readonly" && (op == "PutImage" || op == "InitiateLayerUpload") {
			return errors.New("no pushes to readonly")
		}
		return nil
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c := client{t, srv.URL}

	get := func(path, auth string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Accept", schema2)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
	}

	// The challenges.
	st, ch, body := get("/v2/", "")
	if want := `Bearer realm="` + srv.URL + `/token",service="ecr.amazonaws.com"`; st != 401 || ch != want || !strings.Contains(body, "UNAUTHORIZED") {
		t.Fatalf("GET /v2/ without credentials: %d %q %s", st, ch, body)
	}
	if st, ch, _ = get("/v2/app/manifests/v1", ""); st != 401 || !strings.HasSuffix(ch, `,scope="repository:app:pull"`) {
		t.Fatalf("manifest without credentials: %d %q", st, ch)
	}

	// The token endpoint: credentials required and checked.
	if st, _, body := getToken(t, srv.URL, "", "", "repository:app:pull"); st != 401 || !strings.Contains(body, "UNAUTHORIZED") {
		t.Fatalf("token without credentials: %d %s", st, body)
	}
	if st, _, body := getToken(t, srv.URL, "u", "wrong", "repository:app:pull"); st != 401 || !strings.Contains(body, "UNAUTHORIZED") {
		t.Fatalf("token with a wrong password: %d %s", st, body)
	}
	st, tr, body := getToken(t, srv.URL, "u", "p", "repository:app:pull,push", "repository:readonly:pull,push")
	if st != 200 || tr.Token == "" || tr.AccessToken != tr.Token || tr.ExpiresIn != 300 || tr.IssuedAt == "" {
		t.Fatalf("token: %d %s", st, body)
	}
	cl, err := r.verifyToken(tr.Token, time.Unix(now.Load(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if !cl.allows("repository", "app", "push") || !cl.allows("repository", "readonly", "pull") || cl.allows("repository", "readonly", "push") || cl.Subject != "u" {
		t.Fatalf("granted: %+v", cl)
	}
	bearer := "Bearer " + tr.Token

	// A push and a pull with the token.
	m := c.manifest("app", "tok")
	if st, _, b := c.do(http.MethodPut, "/v2/app/manifests/v1", m, "Content-Type", schema2, "Authorization", bearer); st != http.StatusCreated {
		t.Fatalf("manifest put with a token: %d %s", st, b)
	}
	if st, _, b := get("/v2/app/manifests/v1", bearer); st != 200 || b != string(m) {
		t.Fatalf("manifest get with a token: %d %s", st, b)
	}
	if st, _, _ := get("/v2/", bearer); st != 200 {
		t.Fatalf("GET /v2/ with a token: %d", st)
	}
	// Not on another repository, nor an action it does not grant.
	if st, ch, b := get("/v2/other/manifests/v1", bearer); st != 401 || !strings.Contains(b, "UNAUTHORIZED") ||
		!strings.Contains(ch, `scope="repository:other:pull",error="insufficient_scope"`) {
		t.Fatalf("token of app on other: %d %q %s", st, ch, b)
	}
	if st, _, b := c.do(http.MethodPost, "/v2/readonly/blobs/uploads/", nil, "Authorization", bearer); st != 401 || !strings.Contains(b, "UNAUTHORIZED") {
		t.Fatalf("push to readonly with a pull token: %d %s", st, b)
	}
	if st, _, b := get("/v2/_catalog", bearer); st != 401 {
		t.Fatalf("catalog without its scope: %d %s", st, b)
	}
	// Forged: another signature, or claims changed under the signature.
	parts := strings.Split(tr.Token, ".")
	forged := []string{
		parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		parts[0] + "." + strings.TrimRight(parts[1], "=") + "e30" + "." + parts[2],
		"not-a-token",
	}
	for _, f := range forged {
		if st, ch, b := get("/v2/app/manifests/v1", "Bearer "+f); st != 401 || !strings.Contains(b, "UNAUTHORIZED") || !strings.Contains(ch, `error="invalid_token"`) {
			t.Fatalf("forged token %q: %d %q %s", f, st, ch, b)
		}
	}
	// A token signed with another registry's secret.
	other, err := New(context.Background(), Options{Dir: t.TempDir(), Secret: []byte("another-secret-of-20"), Repositories: repos, Auth: fakeAuth{"u", "p"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	foreign := other.signTokenClaims(*cl)
	if st, _, b := get("/v2/app/manifests/v1", "Bearer "+foreign); st != 401 || !strings.Contains(b, "invalid token") {
		t.Fatalf("token of another registry: %d %s", st, b)
	}
	// Expired.
	now.Add(301)
	if st, ch, b := get("/v2/app/manifests/v1", bearer); st != 401 || !strings.Contains(b, "token expired") || !strings.Contains(ch, `error="invalid_token"`) {
		t.Fatalf("expired token: %d %q %s", st, ch, b)
	}
	// Basic credentials still work beside the token flow.
	if st, _, b := c.do(http.MethodGet, "/v2/app/manifests/v1", nil, "Accept", schema2); st != 200 {
		t.Fatalf("basic credentials with the Bearer challenge: %d %s", st, b)
	}
	// Bad scopes are refused.
	if st, _, _ := getToken(t, srv.URL, "u", "p", "repository:app"); st != 400 {
		t.Fatalf("a scope without actions: %d", st)
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want access
		ok   bool
	}{
		{"repository:app:pull", access{"repository", "app", []string{"pull"}}, true},
		{"repository:team/app:pull,push,pull", access{"repository", "team/app", []string{"pull", "push"}}, true},
		{"repository(plugin):app:pull", access{"repository", "app", []string{"pull"}}, true},
		{"registry:catalog:*", access{"registry", "catalog", []string{"*"}}, true},
		{"repository:app", access{}, false},
		{"repository:app:", access{}, false},
		{"nonsense", access{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseScope(tt.in)
			if ok != tt.ok || (ok && (got.Type != tt.want.Type || got.Name != tt.want.Name || strings.Join(got.Actions, ",") != strings.Join(tt.want.Actions, ","))) {
				t.Fatalf("parseScope(%q) = %+v %v, want %+v %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}
