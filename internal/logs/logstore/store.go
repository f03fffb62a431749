package logstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Errors returned by the Store. Methods wrap them with context; match them
// with errors.Is.
var (
	// ErrNotFound: the named group or stream does not exist.
	ErrNotFound = errors.New("logstore: not found")
	// ErrExists: the group or stream to create already exists.
	ErrExists = errors.New("logstore: already exists")
	// ErrInvalidArgument: a name, cursor, token or query field is malformed.
	ErrInvalidArgument = errors.New("logstore: invalid argument")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("logstore: closed")
	// ErrFull is returned (wrapped, with the reason) for a write while
	// Options.Full says the disk is full; reads and deletes go on.
	ErrFull = errors.New("logstore: the disk is full")
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// MaxBytes bounds the stored bytes of all groups together (message
	// bytes plus 26 per event); 0 means no bound. EnforceRetention drops
	// the oldest events when it is exceeded.
	MaxBytes int64
	// Logger receives the store's and Pebble's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock for creation and ingestion times; nil is time.Now.
	Now func() time.Time
	// RetentionInterval is how often Run enforces retention; 0 is one minute.
	RetentionInterval time.Duration
	// Full, when set, is asked before every write that adds data (events,
	// groups, streams, group settings): a non-empty answer (why the disk is
	// full, such as the server's disk guard finding less free space than
	// its reserve) refuses the write with ErrFull. Reads and deletes go on,
	// and writes resume as soon as it answers "" again.
	Full func() string
}

// Store is an embedded log event store in one directory. Create it with
// Open and release it with Close.
type Store struct {
	db   *pebble.DB
	opts Options
	log  *slog.Logger

	// closeMu is held shared by every operation and exclusively by Close,
	// so Close waits for operations in flight.
	closeMu sync.RWMutex
	closed  bool

	// mu guards the groups map and each group's streams map and record.
	mu     sync.RWMutex
	groups map[string]*group

	// storedBytes is the sum over all groups.
	storedBytes atomic.Int64
}

type group struct {
	name    string
	rec     groupRecord
	streams map[string]*stream
	// storedBytes is the sum over the group's streams.
	storedBytes atomic.Int64

	// notify, when not nil, is closed at the next append (see Notify).
	notifyMu sync.Mutex
	notify   chan struct{}
	// wakes counts the wakes (appends and the deletion), under notifyMu:
	// Watch's generation.
	wakes uint64
}

// wake closes the group's notify channel, if anyone asked for one.
func (g *group) wake() {
	g.notifyMu.Lock()
	g.wakes++
	if g.notify != nil {
		close(g.notify)
		g.notify = nil
	}
	g.notifyMu.Unlock()
}

// groupRecord is the stored form of a group.
type groupRecord struct {
	CreationTime  int64             `json:"c"`
	RetentionDays int               `json:"r,omitempty"`
	Tags          map[string]string `json:"t,omitempty"`
}

type stream struct {
	group *group
	name  string
	// prefix is the stream's event key prefix.
	prefix []byte

	// mu serialises writes to the stream and guards rec and deleted.
	mu      sync.Mutex
	rec     streamRecord
	deleted bool
	// snap is the public form of rec, for reading without mu.
	snap atomic.Pointer[Stream]
}

// streamRecord is the stored form of a stream.
type streamRecord struct {
	CreationTime  int64             `json:"c"`
	FirstEvent    int64             `json:"f,omitempty"`
	LastEvent     int64             `json:"l,omitempty"`
	LastIngestion int64             `json:"i,omitempty"`
	StoredBytes   int64             `json:"b,omitempty"`
	Events        int64             `json:"n,omitempty"`
	NextSeq       uint64            `json:"q,omitempty"`
	Producers     map[string]uint64 `json:"p,omitempty"`
}

// lastIndexTs is the time the stream is indexed under in l/: its last event's
// timestamp, or the minimum when it never had an event.
func (r *streamRecord) lastIndexTs() int64 {
	if r.NextSeq == 0 {
		return minTs
	}
	return r.LastEvent
}

const minTs = -1 << 63

// Open opens (or creates) the store in dir and loads its group and stream
// metadata. Only one Store may have dir open at a time; a second Open fails
// while the first holds Pebble's lock.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = time.Minute
	}
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("open log store: MaxBytes %d: %w", opts.MaxBytes, ErrInvalidArgument)
	}
	log := opts.Logger.With("component", "logstore")
	po := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       64 << 20,
		CacheSize:          32 << 20,
		Logger:             pebbleLogger{log},
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("open log store %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts, log: log, groups: map[string]*group{}}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open log store %s: %w", dir, err)
	}
	return s, nil
}

// load reads every group and stream record into memory.
func (s *Store) load() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixGroup), UpperBound: prefixEnd([]byte(prefixGroup))})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		name := string(it.Key()[len(prefixGroup):])
		g := &group{name: name, streams: map[string]*stream{}}
		if err := json.Unmarshal(it.Value(), &g.rec); err != nil {
			_ = it.Close()
			return fmt.Errorf("decode group %q: %w", name, err)
		}
		s.groups[name] = g
	}
	if err := closeIter(it); err != nil {
		return err
	}
	it, err = s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixStream), UpperBound: prefixEnd([]byte(prefixStream))})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()[len(prefixStream):]
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			continue
		}
		g := s.groups[string(k[:i])]
		if g == nil {
			s.log.Warn("stream without group", "key", string(it.Key()))
			continue
		}
		st := newStream(g, string(k[i+1:]))
		var rec streamRecord
		if err := json.Unmarshal(it.Value(), &rec); err != nil {
			_ = it.Close()
			return fmt.Errorf("decode stream %q: %w", string(it.Key()), err)
		}
		st.setRec(rec)
		g.streams[st.name] = st
		g.storedBytes.Add(st.rec.StoredBytes)
		s.storedBytes.Add(st.rec.StoredBytes)
	}
	return closeIter(it)
}

func closeIter(it *pebble.Iterator) error {
	err := it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

func newStream(g *group, name string) *stream {
	return &stream{group: g, name: name, prefix: eventPrefix(g.name, name)}
}

// Close waits for operations in flight, then flushes and closes the store.
// Later calls return ErrClosed. Close is idempotent: a second call returns
// nil.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close log store: %w", err)
	}
	return nil
}

// enter marks an operation in flight; it fails with ErrClosed after Close.
// The caller must call s.leave.
func (s *Store) enter() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.closeMu.RUnlock() }

// enterWrite is enter for a write that adds data: it also refuses while
// Options.Full reports a full disk.
func (s *Store) enterWrite() error {
	if s.opts.Full != nil {
		if reason := s.opts.Full(); reason != "" {
			return fmt.Errorf("%w: %s", ErrFull, reason)
		}
	}
	return s.enter()
}

func (s *Store) nowMs() int64 { return s.opts.Now().UnixMilli() }

// Stats describes the whole store.
type Stats struct {
	// Groups and Streams count the groups and streams.
	Groups, Streams int
	// StoredBytes is the sum of all groups' stored bytes, the quantity
	// Options.MaxBytes bounds.
	StoredBytes int64
	// DiskBytes is the space Pebble's files take on disk.
	DiskBytes uint64
}

// Stats returns counts and sizes of the store. Errors: ErrClosed.
func (s *Store) Stats() (Stats, error) {
	if err := s.enter(); err != nil {
		return Stats{}, err
	}
	defer s.leave()
	s.mu.RLock()
	st := Stats{Groups: len(s.groups)}
	for _, g := range s.groups {
		st.Streams += len(g.streams)
	}
	s.mu.RUnlock()
	st.StoredBytes = s.storedBytes.Load()
	st.DiskBytes = s.db.Metrics().DiskSpaceUsage()
	return st, nil
}

// Run enforces retention and the disk bound every Options.RetentionInterval
// (one minute by default) until ctx is done or the Store is closed, then
// returns nil. Failures are logged and retried at the next tick.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		res, err := s.EnforceRetention(s.opts.Now())
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			s.log.Error("enforce retention", "err", err)
			continue
		}
		if res.EventsDeleted > 0 {
			s.log.Info("retention enforced", "events", res.EventsDeleted, "bytes", res.BytesDeleted,
				"bound_events", res.BoundEventsDeleted)
		}
	}
}

// pebbleLogger sends Pebble's log lines to slog.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble", "detail", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble", "detail", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error("pebble fatal", "detail", msg)
	panic("logstore: pebble: " + msg)
}
