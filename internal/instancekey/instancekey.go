// Package instancekey issues, rotates and looks up container instances' own
// access keys (agent identity). An agent joins with a key allowed
// ecs:RegisterContainerInstance on its cluster; once registered it asks for
// its instance's own key, keeps it in its data directory (mode 0600), signs
// everything after with it, and asks for a fresh one before RotateAfter.
//
// Storage: one record per key under instancekeys/<access key ID> holding
// the secret itself (SigV4 needs it to verify: the server derives the day's
// signing key from it, so a one-way hash would not do; etcd is reachable
// only by the server), and per instance the ID of its current key under
// instancekeyof/<cluster>/<instance id>. Issuing writes the new record, points
// the instance at it and gives the replaced key an expiry GracePeriod away,
// in one guarded transaction. Lookups read etcd and are cached for
// CacheTTL, so several servers agree within that time.
package instancekey

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/store"
)

// Defaults of Options.
const (
	DefaultRotateAfter = 12 * time.Hour
	DefaultGracePeriod = 15 * time.Minute
	CacheTTL           = 5 * time.Second
	// KeyPrefix starts every instance key's ID.
	KeyPrefix = "AKGI"
)

// Record is one issued key.
type Record struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	// Cluster and ContainerInstance are the ARNs of the instance.
	Cluster           string    `json:"cluster"`
	ContainerInstance string    `json:"containerInstance"`
	IssuedAt          time.Time `json:"issuedAt"`
	// ExpiresAt is set once the key is replaced (or revoked).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

// current is the index record: the instance's current key, and whether
// the instance's keys were revoked (it was deregistered).
type current struct {
	AccessKeyID string `json:"accessKeyId"`
	Revoked     bool   `json:"revoked,omitempty"`
}

// ErrRevoked is Issue's answer for an instance whose keys were revoked.
var ErrRevoked = errors.New("the container instance's keys were revoked")

// Keys issues and finds instance keys.
type Keys struct {
	st          *store.Store
	rotateAfter time.Duration
	grace       time.Duration
	now         func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	rec     *Record // nil: no such key
	fetched time.Time
}

// New returns Keys kept in st.
func New(st *store.Store) *Keys {
	return &Keys{st: st, rotateAfter: DefaultRotateAfter, grace: DefaultGracePeriod, now: time.Now, cache: map[string]cached{}}
}

// RotateAfter is how long an agent should use a key before asking for the
// next; GracePeriod how long a replaced key stays valid.
func (k *Keys) RotateAfter() time.Duration { return k.rotateAfter }

// GracePeriod is how long a replaced key stays valid.
func (k *Keys) GracePeriod() time.Duration { return k.grace }

func recordKey(akid string) string { return store.Key("instancekeys", akid) }

func indexKey(cluster, instance string) string {
	return store.Key("instancekeyof", lastPart(cluster), lastPart(instance))
}

func lastPart(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and times
	}
	return b
}

func randomString(n int, enc func([]byte) string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return enc(b)
}

// Issue makes a new key for the container instance (cluster and instance
// are ARNs); the instance's previous key, if any, expires GracePeriod
// later.
func (k *Keys) Issue(ctx context.Context, cluster, instance string) (Record, error) {
	rec := Record{
		AccessKeyID:       KeyPrefix + randomString(10, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString),
		SecretAccessKey:   randomString(30, base64.RawURLEncoding.EncodeToString),
		Cluster:           cluster,
		ContainerInstance: instance,
		IssuedAt:          k.now().UTC(),
	}
	for attempt := 0; ; attempt++ {
		err := k.issue(ctx, rec)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt > 20 {
			return Record{}, err
		}
	}
}

func (k *Keys) issue(ctx context.Context, rec Record) error {
	ik := indexKey(rec.Cluster, rec.ContainerInstance)
	var cur current
	curRev, err := k.st.Get(ctx, ik, &cur)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read the instance's key: %w", err)
	}
	if cur.Revoked {
		return ErrRevoked
	}
	cmps := []store.Cmp{store.ModRevisionIs(ik, curRev)}
	ops := []store.Op{store.OpPut(recordKey(rec.AccessKeyID), mustJSON(rec)), store.OpPut(ik, mustJSON(current{AccessKeyID: rec.AccessKeyID}))}
	if cur.AccessKeyID != "" {
		var old Record
		oldRev, err := k.st.Get(ctx, recordKey(cur.AccessKeyID), &old)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("read the instance's key: %w", err)
		default:
			exp := k.now().UTC().Add(k.grace)
			if old.ExpiresAt == nil || old.ExpiresAt.After(exp) {
				old.ExpiresAt = &exp
			}
			cmps = append(cmps, store.ModRevisionIs(recordKey(old.AccessKeyID), oldRev))
			ops = append(ops, store.OpPut(recordKey(old.AccessKeyID), mustJSON(old)))
		}
	}
	res, err := k.st.Txn(ctx, cmps, ops...)
	if err != nil {
		return fmt.Errorf("issue an instance key: %w", err)
	}
	if !res.Succeeded {
		return store.ErrConflict
	}
	k.mu.Lock()
	delete(k.cache, rec.AccessKeyID)
	k.mu.Unlock()
	return nil
}

// Revoke ends every key of the container instance at once (it was
// deregistered): its current key expires now, and the instance is marked so
// that keys replaced within their grace period are refused too and no new
// key is issued. Lookups on this server see it at once, on other servers
// within CacheTTL.
func (k *Keys) Revoke(ctx context.Context, cluster, instance string) error {
	ik := indexKey(cluster, instance)
	for attempt := 0; ; attempt++ {
		var cur current
		curRev, err := k.st.Get(ctx, ik, &cur)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("read the instance's key: %w", err)
		}
		if cur.Revoked {
			break
		}
		cmps := []store.Cmp{store.ModRevisionIs(ik, curRev)}
		ops := []store.Op{store.OpPut(ik, mustJSON(current{AccessKeyID: cur.AccessKeyID, Revoked: true}))}
		if cur.AccessKeyID != "" {
			var old Record
			oldRev, err := k.st.Get(ctx, recordKey(cur.AccessKeyID), &old)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return fmt.Errorf("read the instance's key: %w", err)
			default:
				now := k.now().UTC()
				old.ExpiresAt = &now
				cmps = append(cmps, store.ModRevisionIs(recordKey(old.AccessKeyID), oldRev))
				ops = append(ops, store.OpPut(recordKey(old.AccessKeyID), mustJSON(old)))
			}
		}
		res, err := k.st.Txn(ctx, cmps, ops...)
		if err != nil {
			return fmt.Errorf("revoke the instance's keys: %w", err)
		}
		if res.Succeeded {
			break
		}
		if attempt > 20 {
			return store.ErrConflict
		}
	}
	k.mu.Lock()
	clear(k.cache)
	k.mu.Unlock()
	return nil
}

// Lookup returns the valid key akid, if it is an instance key that has not
// expired. A result is cached for CacheTTL. err is set, and ok false, when
// the store could not be read (an outage, not an unknown key): the caller
// must answer that the service is unavailable, not that the key is bad.
func (k *Keys) Lookup(ctx context.Context, akid string) (rec *Record, ok bool, err error) {
	if !strings.HasPrefix(akid, KeyPrefix) {
		return nil, false, nil
	}
	now := k.now()
	k.mu.Lock()
	c, found := k.cache[akid]
	k.mu.Unlock()
	if !found || now.Sub(c.fetched) > CacheTTL {
		var r Record
		_, err := k.st.Get(ctx, recordKey(akid), &r)
		switch {
		case errors.Is(err, store.ErrNotFound):
			c = cached{fetched: now}
		case err != nil:
			return nil, false, fmt.Errorf("read instance key %s: %w", akid, err)
		default:
			c = cached{rec: &r, fetched: now}
			var cur current
			_, err := k.st.Get(ctx, indexKey(r.Cluster, r.ContainerInstance), &cur)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return nil, false, fmt.Errorf("read the key's instance %s: %w", r.ContainerInstance, err)
			case cur.Revoked:
				c = cached{fetched: now}
			}
		}
		k.mu.Lock()
		if len(k.cache) > 100000 {
			clear(k.cache)
		}
		k.cache[akid] = c
		k.mu.Unlock()
	}
	if c.rec == nil || c.rec.ExpiresAt != nil && !now.Before(*c.rec.ExpiresAt) {
		return nil, false, nil
	}
	return c.rec, true, nil
}
