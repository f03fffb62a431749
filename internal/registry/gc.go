package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
)

// Garbage collection of the blobs no manifest references, online.
//
// distribution's own MarkAndSweep must run with the registry stopped or
// read-only: a push uploads its blobs before the manifest that references
// them, so a sweep between the two deletes them; and a push that finds a
// blob present (docker's HEAD) does not upload it again, so a sweep
// between that check and the manifest deletes a blob the manifest then
// names. Gantry makes its collection safe beside pushes with two rules:
//
//   - A guard: every write that makes a blob or manifest visible (a
//     finished upload or mount, a manifest PUT, the ECR API's
//     CompleteLayerUpload and PutImage) holds the Guard's Write; a
//     collection holds its Collect, which waits for the writes under way
//     and holds new ones back, from its mark to the end of its sweep. So no
//     manifest appears between the mark and the sweep, and a manifest put
//     after a sweep is checked by distribution against the blobs that
//     remain (BLOB_UNKNOWN when one was swept: the push fails, it never
//     leaves an image with missing layers).
//   - A grace age: only blobs older than the grace (their data's
//     modification time) are swept, so the blobs of a push whose manifest
//     has not arrived yet survive.
//
// The default guard (LocalGuard) is a lock of this process. With several
// servers on one storage, the server passes a guard that holds across
// them (internal/ecr's StoreGuard, in etcd).

// Guard keeps a garbage collection apart from the writes that make blobs
// and manifests visible.
type Guard interface {
	// Write waits while a collection runs, then holds a write until done
	// is called. It fails only when ctx ends or the guard cannot be
	// reached.
	Write(ctx context.Context) (done func(), err error)
	// Collect holds new writes back and waits for those under way to end;
	// the collection runs until done is called.
	Collect(ctx context.Context) (done func(), err error)
}

// LocalGuard is a Guard of one process: a read-write lock.
type LocalGuard struct{ mu sync.RWMutex }

// Write implements Guard.
func (g *LocalGuard) Write(context.Context) (func(), error) {
	g.mu.RLock()
	return g.mu.RUnlock, nil
}

// Collect implements Guard.
func (g *LocalGuard) Collect(context.Context) (func(), error) {
	g.mu.Lock()
	return g.mu.Unlock, nil
}

// GCResult is what a garbage collection did.
type GCResult struct {
	// Manifests and Blobs are how many manifests were found and how many
	// blobs they reference (marked).
	Manifests, Marked int
	// Deleted and DeletedBytes are the blobs swept and their size; Young
	// the unreferenced blobs kept because they are younger than the grace.
	Deleted      int
	DeletedBytes int64
	Young        int
}

// blobDataPath is where distribution's storage keeps a blob's data (its
// path layout, registry/storage/paths.go).
func blobDataPath(d digest.Digest) string {
	h := d.Encoded()
	return "/docker/registry/v2/blobs/" + d.Algorithm().String() + "/" + h[:2] + "/" + h + "/data"
}

// CollectGarbage deletes the blobs (layers, configs, manifests) that no
// manifest of any repository references and that are older than grace,
// and the repositories' links to them. Pushes that would make blobs or
// manifests visible wait while it runs.
func (r *Registry) CollectGarbage(ctx context.Context, grace time.Duration, now time.Time) (GCResult, error) {
	var res GCResult
	done, err := r.guard.Collect(ctx)
	if err != nil {
		return res, fmt.Errorf("wait for the writes under way: %w", err)
	}
	defer done()
	enum, ok := r.ns.(distribution.RepositoryEnumerator)
	if !ok {
		return res, errors.New("registry storage cannot enumerate repositories")
	}
	marked := map[digest.Digest]bool{}
	var repos []string
	err = enum.Enumerate(ctx, func(name string) error {
		repos = append(repos, name)
		repo, err := r.repository(ctx, name)
		if err != nil {
			return err
		}
		ms, err := repo.Manifests(ctx)
		if err != nil {
			return err
		}
		me, ok := ms.(distribution.ManifestEnumerator)
		if !ok {
			return errors.New("registry storage cannot enumerate manifests")
		}
		err = me.Enumerate(ctx, func(d digest.Digest) error {
			res.Manifests++
			return mark(ctx, ms, d, marked)
		})
		if isPathNotFound(err) {
			// A repository without manifests (only uploads or links).
			return nil
		}
		return err
	})
	if err != nil && !isPathNotFound(err) {
		return res, fmt.Errorf("mark: %w", err)
	}
	res.Marked = len(marked)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	// Sweep.
	var doomed []digest.Digest
	err = r.ns.Blobs().Enumerate(ctx, func(d digest.Digest) error {
		if marked[d] {
			return nil
		}
		fi, err := r.driver.Stat(ctx, blobDataPath(d))
		if err != nil {
			var nf storagedriver.PathNotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			return err
		}
		if now.Sub(fi.ModTime()) < grace {
			res.Young++
			return nil
		}
		doomed = append(doomed, d)
		res.DeletedBytes += fi.Size()
		return nil
	})
	if err != nil && !isPathNotFound(err) {
		return res, fmt.Errorf("enumerate blobs: %w", err)
	}
	vacuum := storage.NewVacuum(ctx, r.driver)
	gone := map[digest.Digest]bool{}
	for _, d := range doomed {
		if err := vacuum.RemoveBlob(string(d)); err != nil && !isPathNotFound(err) {
			return res, fmt.Errorf("delete blob %s: %w", d, err)
		}
		gone[d] = true
		res.Deleted++
	}
	// The repositories' links to the blobs swept.
	for _, name := range repos {
		repo, err := r.repository(ctx, name)
		if err != nil {
			return res, err
		}
		le, ok := repo.Blobs(ctx).(distribution.ManifestEnumerator)
		if !ok {
			continue
		}
		var links []digest.Digest
		err = le.Enumerate(ctx, func(d digest.Digest) error {
			if gone[d] {
				links = append(links, d)
			}
			return nil
		})
		if err != nil && !isPathNotFound(err) {
			return res, fmt.Errorf("layers of %s: %w", name, err)
		}
		for _, d := range links {
			if err := vacuum.RemoveLayer(name, d); err != nil && !isPathNotFound(err) {
				return res, fmt.Errorf("delete layer link %s of %s: %w", d, name, err)
			}
		}
	}
	if res.Deleted > 0 {
		r.logger.Info("registry garbage collected", "manifests", res.Manifests, "marked", res.Marked,
			"deleted", res.Deleted, "bytes", res.DeletedBytes, "young", res.Young)
	}
	return res, nil
}

// mark marks manifest d of ms and everything it references (an index's
// manifests, recursively).
func mark(ctx context.Context, ms distribution.ManifestService, d digest.Digest, marked map[digest.Digest]bool) error {
	if marked[d] {
		return nil
	}
	marked[d] = true
	m, err := ms.Get(ctx, d)
	if err != nil {
		if isManifestUnknown(err) || isPathNotFound(err) {
			return nil
		}
		return fmt.Errorf("manifest %s: %w", d, err)
	}
	for _, ref := range m.References() {
		if marked[ref.Digest] {
			continue
		}
		if ok, _ := ms.Exists(ctx, ref.Digest); ok {
			if err := mark(ctx, ms, ref.Digest, marked); err != nil {
				return err
			}
			continue
		}
		marked[ref.Digest] = true
	}
	return nil
}
