package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRepos is an in-memory Repositories.
type fakeRepos struct {
	mu    sync.Mutex
	repos map[string]Settings
}

func (f *fakeRepos) Settings(_ context.Context, name string) (Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.repos[name]
	if !ok {
		return Settings{}, ErrNoRepository
	}
	return s, nil
}

// fakeAuth accepts one user and password.
type fakeAuth struct{ user, pass string }

func (f fakeAuth) Authenticate(_ context.Context, user, pass string) (string, error) {
	if user == f.user && pass == f.pass {
		return user, nil
	}
	return "", errors.New("invalid username or password")
}

func newTestRegistry(t *testing.T) (*Registry, *fakeRepos, *httptest.Server) {
	t.Helper()
	repos := &fakeRepos{repos: map[string]Settings{"app": {}, "frozen": {ImmutableTags: true, ImmutableExclusions: []string{"latest"}}, "mostly": {ImmutableOnly: []string{"release-*"}}}}
	r, err := New(context.Background(), Options{Dir: t.TempDir(), Secret: []byte("0123456789abcdef0123"), Repositories: repos, Auth: fakeAuth{"u", "p"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, repos, srv
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path string, body []byte, hdr ...string) (int, http.Header, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	req.SetBasicAuth("u", "p")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// pushBlob uploads b monolithically to repo.
func (c client) pushBlob(repo string, b []byte) string {
	c.t.Helper()
	st, h, body := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if st != http.StatusAccepted {
		c.t.Fatalf("start upload: %d %s", st, body)
	}
	loc := h.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	loc = strings.TrimPrefix(loc, c.base)
	d := sha(b)
	st, _, body = c.do(http.MethodPut, loc+sep+"digest="+d, b, "Content-Type", "application/octet-stream")
	if st != http.StatusCreated {
		c.t.Fatalf("finish upload: %d %s", st, body)
	}
	return d
}

func (c client) manifest(repo string, seed string) []byte {
	c.t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":"` + seed + `"}`)
	layer := []byte("layer " + seed)
	cd, ld := c.pushBlob(repo, config), c.pushBlob(repo, layer)
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":` + strconv.Itoa(len(config)) + `,"digest":"` + cd + `"},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":` + strconv.Itoa(len(layer)) + `,"digest":"` + ld + `"}]}`)
}

const schema2 = "application/vnd.docker.distribution.manifest.v2+json"

func TestFrontDoor(t *testing.T) {
	r, _, srv := newTestRegistry(t)
	c := client{t, srv.URL}

	// No credentials, wrong credentials: 401 with a basic challenge.
	for _, auth := range [][2]string{{"", ""}, {"u", "wrong"}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
		if auth[0] != "" {
			req.SetBasicAuth(auth[0], auth[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") || !strings.Contains(string(b), "UNAUTHORIZED") {
			t.Fatalf("auth %v: %d %q %s", auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
		}
	}
	if st, _, _ := c.do(http.MethodGet, "/v2/", nil); st != 200 {
		t.Fatalf("GET /v2/ with credentials: %d", st)
	}
	// A repository ECR does not know.
	if st, _, body := c.do(http.MethodPost, "/v2/nosuch/blobs/uploads/", nil); st != 404 || !strings.Contains(body, "NAME_UNKNOWN") {
		t.Fatalf("push to an unknown repository: %d %s", st, body)
	}

	// A manifest naming a blob never pushed is refused.
	bogus := []byte(`{"schemaVersion":2,"mediaType":"` + schema2 + `","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"` + sha([]byte("{}")) + `"},"layers":[]}`)
	if st, _, body := c.do(http.MethodPut, "/v2/app/manifests/v1", bogus, "Content-Type", schema2); st != 400 || !strings.Contains(body, "BLOB_UNKNOWN") {
		t.Fatalf("manifest with unknown blobs: %d %s", st, body)
	}
	if imgs, err := r.Images(context.Background(), "app"); err != nil || len(imgs) != 0 {
		t.Fatalf("images after a refused manifest: %v %v", imgs, err)
	}

	// Immutable tags: a tag may be pushed once, again with the same
	// manifest, not with another; an excluded tag moves.
	m1, m2 := c.manifest("frozen", "1"), c.manifest("frozen", "2")
	for _, step := range []struct {
		ref    string
		body   []byte
		status int
	}{
		{"v1", m1, 201}, {"v1", m1, 201}, {"v1", m2, 400}, {"latest", m1, 201}, {"latest", m2, 201},
	} {
		st, _, body := c.do(http.MethodPut, "/v2/frozen/manifests/"+step.ref, step.body, "Content-Type", schema2)
		if st != step.status {
			t.Fatalf("PUT frozen:%s: %d %s, want %d", step.ref, st, body, step.status)
		}
		if st == 400 && !strings.Contains(body, "TAG_INVALID") {
			t.Fatalf("immutable refusal: %s", body)
		}
	}
	// A mutable repository whose release tags are immutable.
	n1, n2 := c.manifest("mostly", "1"), c.manifest("mostly", "2")
	for _, step := range []struct {
		ref    string
		body   []byte
		status int
	}{
		{"dev", n1, 201}, {"dev", n2, 201}, {"release-1", n1, 201}, {"release-1", n2, 400},
	} {
		if st, _, body := c.do(http.MethodPut, "/v2/mostly/manifests/"+step.ref, step.body, "Content-Type", schema2); st != step.status {
			t.Fatalf("PUT mostly:%s: %d %s, want %d", step.ref, st, body, step.status)
		}
	}
	img, err := r.Image(context.Background(), "frozen", "v1")
	if err != nil || img.Digest != sha(m1) {
		t.Fatalf("frozen:v1 is %v %v, want %s", img.Digest, err, sha(m1))
	}

	// A signed download URL works without credentials until it expires,
	// for that blob only.
	layer := c.pushBlob("app", []byte("downloadable"))
	u := r.DownloadURL(srv.URL, "app", layer, time.Now().Add(time.Minute))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "downloadable" {
		t.Fatalf("signed download: %d %q", resp.StatusCode, b)
	}
	for name, bad := range map[string]string{
		"expired":      r.DownloadURL(srv.URL, "app", layer, time.Now().Add(-time.Second)),
		"other blob":   strings.Replace(u, layer, sha([]byte("x")), 1),
		"other repo":   strings.Replace(u, "/v2/app/", "/v2/frozen/", 1),
		"no signature": strings.Split(u, "?")[0],
	} {
		resp, err := http.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("%s download: %d, want 401", name, resp.StatusCode)
		}
	}
}

// TestS3StorageIsConfigurable builds a registry on distribution's s3
// driver (pointed at a closed port: nothing is tested of S3 itself) and
// sees its errors surface as errors.
func TestS3StorageIsConfigurable(t *testing.T) {
	r, err := New(context.Background(), Options{Driver: "s3", Parameters: map[string]any{
		"region": "us-east-1", "bucket": "gantry-images", "regionendpoint": "http://127.0.0.1:1",
		"accesskey": "AKID", "secretkey": "SECRET", "forcepathstyle": true,
	}, Secret: []byte("0123456789abcdef0123"), Repositories: &fakeRepos{}, Auth: fakeAuth{}})
	if err != nil {
		t.Fatalf("New on s3: %v", err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := r.BlobSize(ctx, "app", sha([]byte("x"))); err == nil {
		t.Fatal("a blob lookup on an unreachable S3 did not fail")
	}
	if _, err := New(context.Background(), Options{Driver: "nosuch", Secret: []byte("0123456789abcdef0123"), Repositories: &fakeRepos{}, Auth: fakeAuth{}}); err == nil {
		t.Fatal("an unknown driver was accepted")
	}
}

// TestFullDiskRefusesPushesServesPulls: while Options.Full reports a full
// disk, blob uploads and manifest puts get 503 UNAVAILABLE with the
// reason; pulls go on; pushes resume by themselves once it reports room.
func TestFullDiskRefusesPushesServesPulls(t *testing.T) {
	var full atomic.Pointer[string]
	repos := &fakeRepos{repos: map[string]Settings{"app": {}}}
	r, err := New(context.Background(), Options{Dir: t.TempDir(), Secret: []byte("0123456789abcdef0123"), Repositories: repos, Auth: fakeAuth{"u", "p"},
		Full: func() string {
			if p := full.Load(); p != nil {
				return *p
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c := client{t, srv.URL}
	m := c.manifest("app", "one")
	if st, _, body := c.do(http.MethodPut, "/v2/app/manifests/v1", m, "Content-Type", schema2); st != http.StatusCreated {
		t.Fatalf("push: %d %s", st, body)
	}
	reason := "the data directory's disk has 10 bytes free, less than the 64 kept in reserve"
	full.Store(&reason)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/v2/app/blobs/uploads/"},
		{http.MethodPut, "/v2/app/manifests/v2"},
	} {
		st, _, body := c.do(tc.method, tc.path, m, "Content-Type", schema2)
		if st != http.StatusServiceUnavailable || !strings.Contains(body, `"UNAVAILABLE"`) || !strings.Contains(body, reason) {
			t.Fatalf("%s %s on a full disk: %d %s", tc.method, tc.path, st, body)
		}
	}
	if st, _, body := c.do(http.MethodGet, "/v2/app/manifests/v1", nil, "Accept", schema2); st != http.StatusOK || body != string(m) {
		t.Fatalf("pull on a full disk: %d %s", st, body)
	}
	if st, _, _ := c.do(http.MethodGet, "/v2/app/manifests/v2", nil, "Accept", schema2); st != http.StatusNotFound {
		t.Fatalf("a manifest was stored on a full disk: %d", st)
	}
	full.Store(nil)
	if st, _, body := c.do(http.MethodPut, "/v2/app/manifests/v2", c.manifest("app", "two"), "Content-Type", schema2); st != http.StatusCreated {
		t.Fatalf("push after space returned: %d %s", st, body)
	}
}
