package ecr_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/ecr"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/store"
	"github.com/gantry-dev/gantry/internal/testutil"
)

type oneRepo struct{}

func (oneRepo) Settings(context.Context, string) (registry.Settings, error) {
	return registry.Settings{}, nil
}

type anyUser struct{}

func (anyUser) Authenticate(_ context.Context, user, _ string) (string, error) { return user, nil }

// uploadBlob uploads data to repository name of r through the ECR layer
// operations' path.
func uploadBlob(t *testing.T, r *registry.Registry, name string, data []byte) {
	t.Helper()
	ctx := context.Background()
	id, err := r.StartUpload(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.UploadPart(ctx, name, id, 0, data); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CompleteUpload(ctx, name, id, digestOf(data)); err != nil {
		t.Fatal(err)
	}
}

// TestGarbageCollectionWaitsForAnotherServersPush runs two registries
// ("servers") on one storage directory, each with its own etcd client and
// StoreGuard on one etcd. Server A uploads an image's blobs, then starts
// the manifest put and holds it (the body trickles in); server B collects
// garbage with no grace meanwhile. B's collection must wait for A's put to
// end, so the blobs the manifest names survive and the push succeeds;
// with a guard of one process each, B would sweep them under A's put.
func TestGarbageCollectionWaitsForAnotherServersPush(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	dir := t.TempDir()
	var regs [2]*registry.Registry
	for i := range regs {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		guard := &ecr.StoreGuard{Store: store.New(cli)}
		t.Cleanup(func() { guard.Close() })
		r, err := registry.New(context.Background(), registry.Options{Dir: dir, Secret: []byte("0123456789abcdef0123"),
			Repositories: oneRepo{}, Auth: anyUser{}, Guard: guard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		regs[i] = r
	}
	a, b := regs[0], regs[1]
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte("a layer pushed through server A")
	uploadBlob(t, a, "app", config)
	uploadBlob(t, a, "app", layer)
	m := manifest(config, layer)

	// The manifest put, held open on server A.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/app/manifests/v1", pr)
	req.SetBasicAuth("u", "p")
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
	put := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				err = fmt.Errorf("manifest put: %d %s", resp.StatusCode, body)
			}
		}
		put <- err
	}()
	if _, err := pw.Write([]byte(m[:10])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the put holds its write now

	type gcOut struct {
		res registry.GCResult
		err error
		at  time.Time
	}
	gc := make(chan gcOut, 1)
	go func() {
		res, err := b.CollectGarbage(context.Background(), 0, time.Now().Add(time.Second))
		gc <- gcOut{res, err, time.Now()}
	}()
	select {
	case g := <-gc:
		t.Fatalf("server B collected during server A's push: %+v %v", g.res, g.err)
	case <-time.After(time.Second):
	}
	if _, err := pw.Write([]byte(m[10:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-put; err != nil {
		t.Fatalf("the push through server A: %v", err)
	}
	putDone := time.Now()
	var g gcOut
	select {
	case g = <-gc:
	case <-time.After(30 * time.Second):
		t.Fatal("server B's collection never ran after the push")
	}
	if g.err != nil {
		t.Fatal(g.err)
	}
	if g.at.Before(putDone.Add(-time.Second)) || g.res.Deleted != 0 || g.res.Marked != 3 {
		t.Fatalf("collection: %+v (ended %s after the push)", g.res, g.at.Sub(putDone))
	}
	// The image is whole through either server.
	for i, r := range regs {
		if _, _, _, err := r.Manifest(context.Background(), "app", "v1"); err != nil {
			t.Fatalf("server %d: %v", i, err)
		}
		if _, ok, err := r.BlobSize(context.Background(), "app", digestOf(layer)); err != nil || !ok {
			t.Fatalf("server %d: layer %v %v", i, ok, err)
		}
	}
}

// TestStoreGuardLeaseEnds: a collection held by a guard whose server dies
// (its lease revoked) no longer holds writes back through another.
func TestStoreGuardLeaseEnds(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	var guards [2]*ecr.StoreGuard
	for i := range guards {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		guards[i] = &ecr.StoreGuard{Store: store.New(cli)}
	}
	t.Cleanup(func() { guards[1].Close() })
	ctx := context.Background()
	if _, err := guards[0].Collect(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := guards[1].Write(wctx)
	cancel()
	if err == nil {
		t.Fatal("a write went ahead during another server's collection")
	}
	guards[0].Close() // the collecting server is gone
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	done, err := guards[1].Write(wctx)
	if err != nil {
		t.Fatalf("write after the collector's lease ended: %v", err)
	}
	done()
}
