package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-dev/gantry/internal/console"
	"github.com/gantry-dev/gantry/internal/store"
)

// consoleSessionsPrefix holds the console's sessions, one key per
// session named by the hash of its ID (the cookie's value is nowhere in
// the store), each attached to a lease that ends when the session does.
var consoleSessionsPrefix = store.Key("console", "sessions") + "/"

// consoleSessions keeps the console's sessions in the server's store, so
// that they survive a restart and every server of a cluster knows them;
// signing out deletes the record (and its lease) for all of them.
type consoleSessions struct{ st *store.Store }

// consoleSession is the stored record: the console's, with the lease
// that expires it.
type consoleSession struct {
	console.SessionRecord
	Lease store.LeaseID `json:"lease"`
}

// Put keeps rec under hash with a lease of ttl.
func (c consoleSessions) Put(ctx context.Context, hash string, rec console.SessionRecord, ttl time.Duration) error {
	lease, err := c.st.Grant(ctx, ttl)
	if err != nil {
		return fmt.Errorf("console session lease: %w", err)
	}
	b, err := json.Marshal(consoleSession{SessionRecord: rec, Lease: lease})
	if err != nil {
		return err
	}
	key := consoleSessionsPrefix + hash
	// The hash names a fresh random token: the key is new.
	resp, err := c.st.Txn(ctx, []store.Cmp{store.Absent(key)}, store.OpPutLeased(key, b, lease))
	if err != nil {
		return fmt.Errorf("put console session: %w", err)
	}
	if !resp.Succeeded {
		_ = c.st.Revoke(ctx, lease)
		return fmt.Errorf("put console session: %w", store.ErrConflict)
	}
	return nil
}

// Get reads the record under hash.
func (c consoleSessions) Get(ctx context.Context, hash string) (console.SessionRecord, bool, error) {
	var rec consoleSession
	if _, err := c.st.Get(ctx, consoleSessionsPrefix+hash, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return console.SessionRecord{}, false, nil
		}
		return console.SessionRecord{}, false, err
	}
	return rec.SessionRecord, true, nil
}

// Delete removes the record under hash and revokes its lease.
func (c consoleSessions) Delete(ctx context.Context, hash string) error {
	key := consoleSessionsPrefix + hash
	var rec consoleSession
	if _, err := c.st.Get(ctx, key, &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if _, err := c.st.Txn(ctx, nil, store.OpDelete(key)); err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	if rec.Lease != 0 {
		// The key is gone; the lease would expire by itself.
		_ = c.st.Revoke(ctx, rec.Lease)
	}
	return nil
}
