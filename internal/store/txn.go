package store

import "errors"

// ErrCompacted is reported by a watch or a read at a revision whose
// history the store no longer holds.
var ErrCompacted = errors.New("revision compacted")

// LeaseID names a lease. Zero is no lease.
type LeaseID int64

// Item is one key as read: its value and revisions.
type Item struct {
	Key   string
	Value []byte
	// ModRev is the revision of the key's latest write (of its deletion,
	// in a delete event); CreateRev that of its creation; Version counts
	// its writes since creation (1 after the creation).
	ModRev    int64
	CreateRev int64
	Version   int64
	// Lease is the lease the key is attached to, zero if none.
	Lease LeaseID
}

// cmpTarget is what a comparison looks at.
type cmpTarget uint8

const (
	cmpMod cmpTarget = iota
	cmpCreate
	cmpLease
	cmpPrefixModBelow
)

// Cmp is a comparison guarding a transaction, built by ModRevisionIs,
// Absent, CreateRevisionIs, LeaseIs or UnchangedSince.
type Cmp struct {
	target cmpTarget
	key    string
	n      int64
}

// ModRevisionIs holds while key's mod revision is rev (0: the key is
// absent).
func ModRevisionIs(key string, rev int64) Cmp { return Cmp{target: cmpMod, key: key, n: rev} }

// Absent holds while key does not exist.
func Absent(key string) Cmp { return Cmp{target: cmpCreate, key: key} }

// CreateRevisionIs holds while key exists as created at revision rev: it
// has not been deleted and created again since.
func CreateRevisionIs(key string, rev int64) Cmp { return Cmp{target: cmpCreate, key: key, n: rev} }

// LeaseIs holds while key is attached to lease id (0: to none, or absent).
func LeaseIs(key string, id LeaseID) Cmp { return Cmp{target: cmpLease, key: key, n: int64(id)} }

// UnchangedSince holds while no key under prefix was written after
// revision rev (deletions are not seen).
func UnchangedSince(prefix string, rev int64) Cmp {
	return Cmp{target: cmpPrefixModBelow, key: prefix, n: rev + 1}
}

// opKind is what an operation does.
type opKind uint8

const (
	opGet opKind = iota
	opCount
	opPut
	opDelete
	opDeletePrefix
)

// Op is an operation of a transaction, built by OpPut, OpPutLeased,
// OpPutKeepLease, OpDelete, OpDeletePrefix, OpGet or OpCount.
type Op struct {
	kind        opKind
	key         string
	value       []byte
	lease       LeaseID
	ignoreLease bool
}

// OpPut writes value at key, detached from any lease.
func OpPut(key string, value []byte) Op { return Op{kind: opPut, key: key, value: value} }

// OpPutLeased writes value at key, attached to lease (deleted with it).
func OpPutLeased(key string, value []byte, lease LeaseID) Op {
	return Op{kind: opPut, key: key, value: value, lease: lease}
}

// OpPutKeepLease writes value at key and keeps the key's lease.
func OpPutKeepLease(key string, value []byte) Op {
	return Op{kind: opPut, key: key, value: value, ignoreLease: true}
}

// OpDelete deletes key (nothing if it is absent).
func OpDelete(key string) Op { return Op{kind: opDelete, key: key} }

// OpDeletePrefix deletes every key that starts with prefix.
func OpDeletePrefix(prefix string) Op { return Op{kind: opDeletePrefix, key: prefix} }

// OpGet reads key: its TxnResult.Reads entry holds the item, if any.
func OpGet(key string) Op { return Op{kind: opGet, key: key} }

// OpCount reads whether key exists: its TxnResult.Reads entry has Count
// 1 or 0 and no items.
func OpCount(key string) Op { return Op{kind: opCount, key: key} }

// Read is the outcome of a read in a transaction.
type Read struct {
	Items []Item
	Count int64
}

// TxnResult is the outcome of a transaction.
type TxnResult struct {
	// Succeeded reports whether every comparison held (and the operations
	// were applied).
	Succeeded bool
	// Revision is the store's revision after the transaction.
	Revision int64
	// Reads has one entry per operation: the outcome of OpGet and OpCount,
	// zero for writes. Empty when the transaction did not succeed.
	Reads []Read
}

// Range is a read of the keys from From (included) to End (excluded); of
// From alone when End is empty.
type Range struct {
	From, End string
	// Limit bounds the items returned (0: all); Count still counts every
	// key of the range.
	Limit int
	// Rev reads at that past revision (0: the current one). ErrCompacted
	// if it is gone.
	Rev int64
	// KeysOnly leaves the values out; CountOnly returns no items.
	KeysOnly, CountOnly bool
}

// RangeResult is the outcome of a Range.
type RangeResult struct {
	Items []Item
	// Count is the number of keys in the range, limit or not.
	Count int64
	// Revision is the store revision the read saw.
	Revision int64
}

// Event is one change seen by a watch: the key as written, or, when
// Deleted, the key deleted (Value empty, ModRev the deletion's revision).
type Event struct {
	Item
	Deleted bool
}

// WatchResponse is a batch of changes, in revision order.
type WatchResponse struct {
	Events []Event
	// Revision is the store revision the watch has reached.
	Revision int64
	// Progress is set on a progress notification (no events).
	Progress bool
	// Err ends the watch: ErrCompacted when the history from the asked
	// revision is gone, or the backend's failure.
	Err error
}

// PrefixEnd returns the end of the range of keys that start with prefix.
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}
