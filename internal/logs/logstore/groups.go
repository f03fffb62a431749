package logstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Group describes a log group. The caller builds its ARN.
type Group struct {
	// Name is the group's name.
	Name string
	// CreationTime is when the group was created, in ms since the epoch.
	CreationTime int64
	// RetentionDays is how long events are kept; 0 means forever.
	RetentionDays int
	// StoredBytes is the sum of the group's streams' stored bytes.
	StoredBytes int64
}

func (g *group) public() Group {
	return Group{Name: g.name, CreationTime: g.rec.CreationTime, RetentionDays: g.rec.RetentionDays,
		StoredBytes: g.storedBytes.Load()}
}

// CreateGroup creates an empty group with the given tags (nil for none) and
// returns it. Errors: ErrInvalidArgument (empty name, a NUL byte, longer
// than 512 bytes), ErrExists, ErrClosed.
func (s *Store) CreateGroup(name string, tags map[string]string) (Group, error) {
	if !validName(name) {
		return Group{}, fmt.Errorf("create group %q: name: %w", name, ErrInvalidArgument)
	}
	if err := s.enterWrite(); err != nil {
		return Group{}, err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[name] != nil {
		return Group{}, fmt.Errorf("create group %q: %w", name, ErrExists)
	}
	g := &group{name: name, streams: map[string]*stream{},
		rec: groupRecord{CreationTime: s.nowMs(), Tags: maps.Clone(tags)}}
	if len(g.rec.Tags) == 0 {
		g.rec.Tags = nil
	}
	if err := s.putGroup(g, g.rec); err != nil {
		return Group{}, fmt.Errorf("create group %q: %w", name, err)
	}
	s.groups[name] = g
	return g.public(), nil
}

// putGroup writes rec as g's record, synced. The caller holds s.mu.
func (s *Store) putGroup(g *group, rec groupRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.db.Set(groupKey(g.name), v, pebble.Sync)
}

// DeleteGroup deletes a group with all its streams and events. Appends in
// flight to its streams finish first or fail with ErrNotFound. Errors:
// ErrNotFound, ErrClosed.
func (s *Store) DeleteGroup(name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return fmt.Errorf("delete group %q: %w", name, ErrNotFound)
	}
	for _, st := range g.streams {
		st.mu.Lock()
		st.deleted = true
		st.mu.Unlock()
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, p := range [][]byte{eventGroupPrefix(name), streamPrefix(name), lastPrefix(name)} {
		if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return fmt.Errorf("delete group %q: %w", name, err)
		}
	}
	if err := b.Delete(groupKey(name), nil); err != nil {
		return fmt.Errorf("delete group %q: %w", name, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("delete group %q: %w", name, err)
	}
	delete(s.groups, name)
	s.storedBytes.Add(-g.storedBytes.Load())
	g.wake()
	return nil
}

// Group returns the named group. Errors: ErrNotFound, ErrClosed.
func (s *Store) Group(name string) (Group, error) {
	if err := s.enter(); err != nil {
		return Group{}, err
	}
	defer s.leave()
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[name]
	if g == nil {
		return Group{}, fmt.Errorf("group %q: %w", name, ErrNotFound)
	}
	return g.public(), nil
}

// GroupQuery selects groups for ListGroups.
type GroupQuery struct {
	// Prefix keeps the groups whose names start with it.
	Prefix string
	// Pattern keeps the groups whose names contain it, ignoring case
	// (DescribeLogGroups' logGroupNamePattern). At most one of Prefix and
	// Pattern may be set.
	Pattern string
	// Cursor resumes a listing where the previous page ended; "" starts
	// at the beginning.
	Cursor string
	// Limit is the page size; 0 means 50, AWS's default.
	Limit int
}

// ListGroups returns one page of groups in name order and a cursor for the
// next page, "" when there is none. Errors: ErrInvalidArgument (both Prefix
// and Pattern set, a negative Limit, a malformed Cursor), ErrClosed.
func (s *Store) ListGroups(q GroupQuery) ([]Group, string, error) {
	if q.Prefix != "" && q.Pattern != "" || q.Limit < 0 {
		return nil, "", fmt.Errorf("list groups: query: %w", ErrInvalidArgument)
	}
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	lower := []byte(prefixGroup + q.Prefix)
	upper := prefixEnd(lower)
	start := lower
	if q.Cursor != "" {
		after, err := decodeNameCursor(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list groups: cursor: %w", err)
		}
		start = append([]byte(prefixGroup+after), 0)
		if bytes.Compare(start, lower) < 0 {
			start = lower
		}
	}
	if err := s.enter(); err != nil {
		return nil, "", err
	}
	defer s.leave()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, "", fmt.Errorf("list groups: %w", err)
	}
	pattern := strings.ToLower(q.Pattern)
	var out []Group
	next := ""
	for ok := it.SeekGE(start); ok; ok = it.Next() {
		name := string(it.Key()[len(prefixGroup):])
		if pattern != "" && !strings.Contains(strings.ToLower(name), pattern) {
			continue
		}
		s.mu.RLock()
		g := s.groups[name]
		var pg Group
		if g != nil {
			pg = g.public()
		}
		s.mu.RUnlock()
		if g == nil {
			continue
		}
		if len(out) == limit {
			next = encodeNameCursor(out[len(out)-1].Name)
			break
		}
		out = append(out, pg)
	}
	if err := closeIter(it); err != nil {
		return nil, "", fmt.Errorf("list groups: %w", err)
	}
	return out, next, nil
}

func encodeNameCursor(name string) string {
	return "n/" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func decodeNameCursor(c string) (string, error) {
	rest, ok := strings.CutPrefix(c, "n/")
	if !ok {
		return "", ErrInvalidArgument
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", ErrInvalidArgument
	}
	return string(b), nil
}

// SetRetention sets how many days the group's events are kept; 0 keeps
// them forever. The API layer checks days against AWS's allowed values.
// Errors: ErrInvalidArgument (negative days), ErrNotFound, ErrClosed.
func (s *Store) SetRetention(group string, days int) error {
	if days < 0 {
		return fmt.Errorf("set retention of %q: days %d: %w", group, days, ErrInvalidArgument)
	}
	return s.updateGroup(group, "set retention", func(r *groupRecord) { r.RetentionDays = days })
}

// SetTags changes a group's tags atomically: it sets every key in set
// (overwriting existing values) and removes every key in remove
// (TagResource and UntagResource). Errors: ErrNotFound, ErrClosed.
func (s *Store) SetTags(group string, set map[string]string, remove []string) error {
	return s.updateGroup(group, "set tags", func(r *groupRecord) {
		t := maps.Clone(r.Tags)
		if t == nil {
			t = map[string]string{}
		}
		maps.Copy(t, set)
		for _, k := range remove {
			delete(t, k)
		}
		if len(t) == 0 {
			t = nil
		}
		r.Tags = t
	})
}

// Tags returns a copy of a group's tags (an empty, non-nil map when it has
// none). Errors: ErrNotFound, ErrClosed.
func (s *Store) Tags(group string) (map[string]string, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[group]
	if g == nil {
		return nil, fmt.Errorf("tags of %q: %w", group, ErrNotFound)
	}
	t := maps.Clone(g.rec.Tags)
	if t == nil {
		t = map[string]string{}
	}
	return t, nil
}

func (s *Store) updateGroup(name, op string, change func(*groupRecord)) error {
	if err := s.enterWrite(); err != nil {
		return err
	}
	defer s.leave()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[name]
	if g == nil {
		return fmt.Errorf("%s of %q: %w", op, name, ErrNotFound)
	}
	rec := g.rec
	change(&rec)
	if err := s.putGroup(g, rec); err != nil {
		return fmt.Errorf("%s of %q: %w", op, name, err)
	}
	g.rec = rec
	return nil
}

// Notify returns a channel that is closed after the next append of events
// to any stream of the group, or when the group is deleted. Live tailing
// (StartLiveTail, long polls of FilterLogEvents) waits on it instead of
// polling: take the channel, read or scan, then wait on the channel (with
// the request's context) and read again. Errors: ErrNotFound, ErrClosed.
func (s *Store) Notify(group string) (<-chan struct{}, error) {
	ch, _, err := s.Watch(group)
	return ch, err
}

// Watch is Notify with the group's generation: the number of appends
// (and deletions) the group has seen, which the channel's closing moves
// past. A reader on another server keeps the generation it scanned at and
// asks later whether it moved, so that nothing appended between its scan
// and its wait is missed. Errors: ErrNotFound, ErrClosed.
func (s *Store) Watch(group string) (<-chan struct{}, uint64, error) {
	if err := s.enter(); err != nil {
		return nil, 0, err
	}
	defer s.leave()
	s.mu.RLock()
	g := s.groups[group]
	s.mu.RUnlock()
	if g == nil {
		return nil, 0, fmt.Errorf("notify: group %q: %w", group, ErrNotFound)
	}
	g.notifyMu.Lock()
	defer g.notifyMu.Unlock()
	if g.notify == nil {
		g.notify = make(chan struct{})
	}
	return g.notify, g.wakes, nil
}
