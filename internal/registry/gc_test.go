package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// blobFile is where the filesystem driver under dir keeps blob d.
func blobFile(dir, d string) string {
	return filepath.Join(dir, filepath.FromSlash(blobDataPath(digest.Digest(d))))
}

// refs returns the config and layer digests of a schema2 manifest.
func refs(t *testing.T, m []byte) []string {
	t.Helper()
	var s struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(m, &s); err != nil {
		t.Fatal(err)
	}
	out := []string{s.Config.Digest}
	for _, l := range s.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// TestCollectGarbage pushes two images, deletes one, and collects: the
// deleted image's blobs (config, layer, the manifest itself) are gone from
// disk, the other image still pulls, and the blobs of a push whose
// manifest has not arrived yet survive (younger than the grace), so that
// push completes after the collection.
func TestCollectGarbage(t *testing.T) {
	dir := t.TempDir()
	r, err := New(context.Background(), Options{Dir: dir, Secret: []byte("0123456789abcdef0123"),
		Repositories: &fakeRepos{repos: map[string]Settings{"app": {}}}, Auth: fakeAuth{"u", "p"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c := client{t, srv.URL}
	ctx := context.Background()

	ma, mb := c.manifest("app", "a"), c.manifest("app", "b")
	for tag, m := range map[string][]byte{"a": ma, "b": mb} {
		if st, _, body := c.do(http.MethodPut, "/v2/app/manifests/"+tag, m, "Content-Type", schema2); st != http.StatusCreated {
			t.Fatalf("put %s: %d %s", tag, st, body)
		}
	}
	if err := r.DeleteImage(ctx, "app", sha(ma)); err != nil {
		t.Fatal(err)
	}
	gone := append(refs(t, ma), sha(ma))
	kept := append(refs(t, mb), sha(mb))
	for _, d := range append(gone, kept...) {
		if _, err := os.Stat(blobFile(dir, d)); err != nil {
			t.Fatalf("before the collection, blob %s: %v", d, err)
		}
	}
	// Nothing is old enough yet: a collection with the grace keeps all.
	res, err := r.CollectGarbage(ctx, time.Hour, time.Now())
	if err != nil || res.Deleted != 0 || res.Young != len(gone) {
		t.Fatalf("collection within the grace: %+v %v", res, err)
	}
	// The deleted image's blobs were pushed two hours ago.
	for _, d := range append(gone, kept...) {
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(blobFile(dir, d), old, old); err != nil {
			t.Fatal(err)
		}
	}

	// A push in flight: its blobs are up, its manifest not yet.
	mc := c.manifest("app", "c")
	res, err = r.CollectGarbage(ctx, time.Hour, time.Now())
	if err != nil || res.Deleted != len(gone) || res.Manifests != 1 || res.Young != 2 {
		t.Fatalf("collection: %+v %v", res, err)
	}
	for _, d := range gone {
		if _, err := os.Stat(blobFile(dir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("blob %s of the deleted image is still on disk: %v", d, err)
		}
		if st, _, _ := c.do(http.MethodHead, "/v2/app/blobs/"+d, nil); st != http.StatusNotFound {
			t.Errorf("HEAD of swept blob %s: %d", d, st)
		}
	}
	for _, d := range kept {
		if _, err := os.Stat(blobFile(dir, d)); err != nil {
			t.Errorf("blob %s of the kept image: %v", d, err)
		}
	}
	for _, d := range refs(t, mb) {
		if st, _, _ := c.do(http.MethodGet, "/v2/app/blobs/"+d, nil); st != http.StatusOK {
			t.Errorf("GET of blob %s of the kept image: %d", d, st)
		}
	}
	if st, _, _ := c.do(http.MethodGet, "/v2/app/manifests/b", nil, "Accept", schema2); st != http.StatusOK {
		t.Errorf("GET of the kept image's manifest: %d", st)
	}
	if st, _, body := c.do(http.MethodPut, "/v2/app/manifests/c", mc, "Content-Type", schema2); st != http.StatusCreated {
		t.Fatalf("the push in flight failed after the collection: %d %s", st, body)
	}
	for _, d := range refs(t, mc) {
		if st, _, _ := c.do(http.MethodGet, "/v2/app/blobs/"+d, nil); st != http.StatusOK {
			t.Errorf("GET of blob %s of the push in flight: %d", d, st)
		}
	}
}

// TestCollectGarbageBesidePushes runs collections beside pushes that name
// blobs already present and old enough to be swept (as docker's push
// does when its HEAD finds a blob: it does not upload it again). Each
// manifest PUT is then either refused (BLOB_UNKNOWN: a collection swept
// the blobs first) or accepted, and every manifest the registry accepted
// keeps all its blobs: without the lock from the mark to the end of the
// sweep, a manifest put between them would lose its blobs.
func TestCollectGarbageBesidePushes(t *testing.T) {
	dir := t.TempDir()
	r, err := New(context.Background(), Options{Dir: dir, Secret: []byte("0123456789abcdef0123"),
		Repositories: &fakeRepos{repos: map[string]Settings{"app": {}}}, Auth: fakeAuth{"u", "p"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c := client{t, srv.URL}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	gcs := 0
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := r.CollectGarbage(ctx, time.Hour, time.Now()); err != nil && ctx.Err() == nil {
				t.Errorf("collect: %v", err)
				return
			}
			gcs++
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var accepted [][]byte
	refused := 0
	for i := range 16 {
		m := c.manifest("app", fmt.Sprint("p", i))
		old := time.Now().Add(-2 * time.Hour)
		for _, d := range refs(t, m) {
			if err := os.Chtimes(blobFile(dir, d), old, old); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		st, _, body := c.do(http.MethodPut, fmt.Sprintf("/v2/app/manifests/t%d", i), m, "Content-Type", schema2)
		switch {
		case st == http.StatusCreated:
			accepted = append(accepted, m)
		case st == http.StatusBadRequest && strings.Contains(body, "BLOB_UNKNOWN"):
			refused++
		default:
			t.Fatalf("put t%d: %d %s", i, st, body)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("%d collections; %d pushes accepted, %d refused", gcs, len(accepted), refused)
	if gcs < 2 {
		t.Fatalf("only %d collections ran beside the pushes", gcs)
	}
	// One more, now that nothing races: what was accepted stays.
	if _, err := r.CollectGarbage(context.Background(), time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, m := range accepted {
		for _, d := range append(refs(t, m), sha(m)) {
			if _, err := os.Stat(blobFile(dir, d)); err != nil {
				t.Errorf("blob %s of an accepted manifest: %v", d, err)
			}
		}
	}
}
