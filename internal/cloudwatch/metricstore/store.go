// Package metricstore is CloudWatch's time-series store: the datapoints
// PutMetricData accepts, kept in Pebble under the server's data directory,
// never in etcd.
//
// Layout (all integers big-endian, so keys sort by time):
//
//	s <series key>                          -> series id (8) | last Append, Unix ms (8)
//	d <hour (4)> <series id (8)> <ms (8)> <seq (8)> -> one datum (see record.go)
//	f <hour> <series id> <ms> <seq>         -> a five-minute statistic set, per unit
//	h <hour> <series id> <ms> <seq>         -> an hourly statistic set, per unit
//
// A series is namespace + metric name + dimensions sorted by name; the
// unit is kept on every datum, as CloudWatch keeps it. Each datum is
// stored as it came (a value, values with counts, or a statistic set), so
// any statistic, percentiles included, is computed exactly at query time
// for any period. Data rows are partitioned by hour: retention rolls
// whole hours up into five-minute, then hourly statistic sets (CloudWatch's
// 15 days, 63 days and 455 days) and drops them with range deletions.
package metricstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// DefaultRetention is how long datapoints are kept: CloudWatch's 15 days
// of one-minute data.
const DefaultRetention = 15 * 24 * time.Hour

// ErrClosed is returned by every method once Close has been called.
var ErrClosed = errors.New("metric store closed")

// ErrFull is returned (wrapped, with the reason) by Append while
// Options.Full says the disk is full; reads go on.
var ErrFull = errors.New("the metric store's disk is full")

// Dimension is a name/value pair of a series.
type Dimension struct{ Name, Value string }

// Series names a metric: namespace, name and dimensions sorted by name.
type Series struct {
	Namespace, Name string
	Dimensions      []Dimension
}

// Options tune a Store.
type Options struct {
	// Retention is how long datapoints are kept as put; 0 is
	// DefaultRetention. Older ones are kept as five-minute statistic sets
	// until Retention5m (0: 63 days), then as hourly ones until
	// Retention1h (0: 455 days), as CloudWatch keeps them. A series with
	// no data put within Retention1h goes.
	Retention, Retention5m, Retention1h time.Duration
	// RetentionInterval is how often Run drops expired data; 0 is a minute.
	RetentionInterval time.Duration
	// Now is the clock of retention; nil is time.Now.
	Now func() time.Time
	// Logger receives the store's log lines; nil discards them.
	Logger *slog.Logger
	// NoSync skips the fsync of each Append (benchmarks only: an
	// acknowledged write may then be lost in a crash).
	NoSync bool
	// Full, when set, is asked before every Append: a non-empty answer
	// (why the disk is full, such as the server's disk guard finding less
	// free space than its reserve) refuses it with ErrFull, writing
	// nothing. Reads go on, and Append works again as soon as it answers "".
	Full func() string
}

// Store is the time-series store. Its methods are safe for concurrent use.
type Store struct {
	db   *pebble.DB
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex
	series map[string]*seriesInfo
	nextID uint64
	closed atomic.Bool
	seq    atomic.Uint64
}

type seriesInfo struct {
	id      uint64
	key     string
	series  Series
	lastPut atomic.Int64 // Unix ms of the last Append with data of the series
	// stored is the lastPut written to the index; rewritten when a minute
	// older than lastPut, so the index is not rewritten on every put.
	stored atomic.Int64
}

const (
	prefixSeries = 's'
	prefixData   = 'd' // data as put
	prefixFive   = 'f' // five-minute statistic sets
	prefixHour   = 'h' // hourly statistic sets
)

// Open opens (or creates) the store in dir. Only one Store may have dir
// open at a time.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Retention5m <= 0 {
		opts.Retention5m = 63 * 24 * time.Hour
	}
	if opts.Retention1h <= 0 {
		opts.Retention1h = 455 * 24 * time.Hour
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = time.Minute
	}
	log := opts.Logger.With("component", "metricstore")
	db, err := pebble.Open(dir, &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       64 << 20,
		CacheSize:          32 << 20,
		Logger:             pebbleLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("open metric store %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts, log: log, series: map[string]*seriesInfo{}, nextID: 1}
	s.seq.Store(uint64(time.Now().UnixNano()))
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open metric store %s: %w", dir, err)
	}
	return s, nil
}

func (s *Store) load() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSeries}, UpperBound: []byte{prefixSeries + 1}})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v := it.Value()
		if len(v) != 16 {
			continue
		}
		key := string(it.Key()[1:])
		ser, err := decodeSeries(key)
		if err != nil {
			s.log.Warn("undecodable series key", "err", err)
			continue
		}
		si := &seriesInfo{id: binary.BigEndian.Uint64(v), key: key, series: ser}
		si.lastPut.Store(int64(binary.BigEndian.Uint64(v[8:])))
		si.stored.Store(si.lastPut.Load())
		s.series[key] = si
		s.nextID = max(s.nextID, si.id+1)
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes the store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Close()
}

// Key is the canonical key of a series (dimensions must be sorted by
// name): each part length-prefixed, so no byte is reserved.
func Key(ser Series) string {
	return string(appendKey(make([]byte, 0, 64), ser))
}

// appendKey appends the canonical key of ser to b.
func appendKey(b []byte, ser Series) []byte {
	b = appendString(b, ser.Namespace)
	b = appendString(b, ser.Name)
	for _, d := range ser.Dimensions {
		b = appendString(b, d.Name)
		b = appendString(b, d.Value)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func decodeSeries(key string) (Series, error) {
	b := []byte(key)
	var parts []string
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return Series{}, errors.New("bad series key")
		}
		parts = append(parts, string(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	if len(parts) < 2 || len(parts)%2 != 0 {
		return Series{}, errors.New("bad series key")
	}
	ser := Series{Namespace: parts[0], Name: parts[1]}
	for i := 2; i < len(parts); i += 2 {
		ser.Dimensions = append(ser.Dimensions, Dimension{parts[i], parts[i+1]})
	}
	return ser, nil
}

// SortDimensions sorts dims by name (then value) in place.
func SortDimensions(dims []Dimension) {
	slices.SortFunc(dims, func(a, b Dimension) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		switch {
		case a.Value < b.Value:
			return -1
		case a.Value > b.Value:
			return 1
		}
		return 0
	})
}

// Datum is one datapoint as put: a time, a unit, and a value, values with
// counts, or a statistic set.
type Datum struct {
	Series Series
	// Time is when the datum was measured (kept to the millisecond).
	Time time.Time
	// Unit is the CloudWatch unit ("None" when not given).
	Unit string
	// HighResolution is StorageResolution 1.
	HighResolution bool
	// Values and Counts (nil Counts: each value once), or Stats.
	Values []float64
	Counts []float64
	Stats  *Stats
}

// Stats is a statistic set.
type Stats struct{ SampleCount, Sum, Min, Max float64 }

// Append stores data in one batch, synced to disk before it returns
// (unless Options.NoSync).
func (s *Store) Append(data []Datum) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.Full != nil {
		if reason := s.opts.Full(); reason != "" {
			return fmt.Errorf("%w: %s", ErrFull, reason)
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	key := make([]byte, 0, 29)
	var val, skey []byte
	putAt := s.opts.Now().UnixMilli()
	for i := range data {
		d := &data[i]
		skey = appendKey(skey[:0], d.Series)
		si, isNew := s.seriesFor(d.Series, skey)
		ms := d.Time.UnixMilli()
		if ms < 0 {
			ms = 0
		}
		if last := si.lastPut.Load(); putAt > last {
			si.lastPut.CompareAndSwap(last, putAt)
		}
		if isNew || si.lastPut.Load()-si.stored.Load() >= time.Minute.Milliseconds() {
			si.stored.Store(si.lastPut.Load())
			var v [16]byte
			binary.BigEndian.PutUint64(v[:], si.id)
			binary.BigEndian.PutUint64(v[8:], uint64(si.lastPut.Load()))
			if err := b.Set(append([]byte{prefixSeries}, si.key...), v[:], nil); err != nil {
				return err
			}
		}
		key = dataKey(key[:0], uint32(ms/3_600_000), si.id, ms)
		key = binary.BigEndian.AppendUint64(key, s.seq.Add(1))
		val = encodeDatum(val[:0], d)
		if err := b.Set(key, val, nil); err != nil {
			return err
		}
	}
	opt := pebble.Sync
	if s.opts.NoSync {
		opt = pebble.NoSync
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if err := b.Commit(opt); err != nil {
		return fmt.Errorf("append %d datapoints: %w", len(data), err)
	}
	return nil
}

// seriesFor returns the series ser, whose key is key, and whether it is
// new.
func (s *Store) seriesFor(ser Series, key []byte) (*seriesInfo, bool) {
	s.mu.RLock()
	si := s.series[string(key)] // no copy for a lookup
	s.mu.RUnlock()
	if si != nil {
		return si, false
	}
	k := string(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if si := s.series[k]; si != nil {
		return si, false
	}
	si = &seriesInfo{id: s.nextID, key: k, series: Series{Namespace: ser.Namespace, Name: ser.Name, Dimensions: slices.Clone(ser.Dimensions)}}
	si.stored.Store(-1)
	s.nextID++
	s.series[k] = si
	return si, true
}

func dataKey(b []byte, hour uint32, id uint64, ms int64) []byte {
	return levelKey(b, prefixData, hour, id, ms)
}

func levelKey(b []byte, prefix byte, hour uint32, id uint64, ms int64) []byte {
	b = append(b, prefix)
	b = binary.BigEndian.AppendUint32(b, hour)
	b = binary.BigEndian.AppendUint64(b, id)
	return binary.BigEndian.AppendUint64(b, uint64(ms))
}

// SeriesInfo is a series and when data was last put into it.
type SeriesInfo struct {
	Series  Series
	Key     string
	LastPut time.Time
}

// List returns the series of namespace (every namespace when empty) in
// key order, after the key after (none when empty), that keep returns
// true for, at most limit (0: all).
func (s *Store) List(namespace, after string, limit int, keep func(SeriesInfo) bool) []SeriesInfo {
	s.mu.RLock()
	all := make([]*seriesInfo, 0, len(s.series))
	for _, si := range s.series {
		if (namespace == "" || si.series.Namespace == namespace) && si.key > after {
			all = append(all, si)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b *seriesInfo) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	var out []SeriesInfo
	for _, si := range all {
		info := SeriesInfo{Series: si.series, Key: si.key, LastPut: time.UnixMilli(si.lastPut.Load())}
		if keep != nil && !keep(info) {
			continue
		}
		out = append(out, info)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out
}

// Lookup returns the series of key, if it has data.
func (s *Store) Lookup(ser Series) (SeriesInfo, bool) {
	k := Key(ser)
	s.mu.RLock()
	si := s.series[k]
	s.mu.RUnlock()
	if si == nil {
		return SeriesInfo{}, false
	}
	return SeriesInfo{Series: si.series, Key: si.key, LastPut: time.UnixMilli(si.lastPut.Load())}, true
}

// Scan calls fn for each datum of ser measured in [from, to), in time
// order (data of one millisecond in the order put). fn must not keep d
// or its slices after it returns.
func (s *Store) Scan(ser Series, from, to time.Time, fn func(d *Datum)) error {
	k := Key(ser)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	si := s.series[k]
	if si == nil {
		return nil
	}
	lo, hi := from.UnixMilli(), to.UnixMilli()
	if lo < 0 {
		lo = 0
	}
	if hi <= lo {
		return nil
	}
	now := s.opts.Now().UnixMilli()
	var d Datum
	d.Series = si.series
	// Oldest first: hourly sets, five-minute sets, then the data as put.
	for _, lv := range []struct {
		prefix byte
		from   time.Duration // the level holds data older than this
	}{{prefixHour, s.opts.Retention5m}, {prefixFive, s.opts.Retention}, {prefixData, 0}} {
		if lv.from > 0 && lo >= now-lv.from.Milliseconds()+hourMs {
			continue
		}
		if err := s.scanLevel(lv.prefix, si.id, lo, hi, &d, fn); err != nil {
			return err
		}
	}
	return nil
}

const hourMs = 3_600_000

func (s *Store) scanLevel(prefix byte, id uint64, lo, hi int64, d *Datum, fn func(d *Datum)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return err
	}
	var seek, end []byte
	for hour := uint32(lo / hourMs); int64(hour)*hourMs < hi; hour++ {
		seek = levelKey(seek[:0], prefix, hour, id, lo)
		end = levelKey(end[:0], prefix, hour, id, hi)
		for ok := it.SeekGE(seek); ok; ok = it.Next() {
			key := it.Key()
			if string(key) >= string(end) {
				break
			}
			ms := int64(binary.BigEndian.Uint64(key[13:21]))
			if err := decodeDatum(it.Value(), d); err != nil {
				s.log.Warn("undecodable datum", "err", err)
				continue
			}
			d.Time = time.UnixMilli(ms)
			fn(d)
		}
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return err
}

// Run applies the retention every RetentionInterval until ctx ends.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.RetentionInterval)
	defer t.Stop()
	for {
		if err := s.Expire(); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Warn("metric retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Expire applies the retention: the hours of data older than Retention
// become five-minute statistic sets, those older than Retention5m hourly
// ones, and hourly ones older than Retention1h go; so do the series with
// no data put within Retention1h.
func (s *Store) Expire() error {
	now := s.opts.Now()
	err := s.rollUp(prefixData, prefixFive, 5*60_000, now.Add(-s.opts.Retention).UnixMilli())
	if err == nil {
		err = s.rollUp(prefixFive, prefixHour, hourMs, now.Add(-s.opts.Retention5m).UnixMilli())
	}
	if cut := now.Add(-s.opts.Retention1h).UnixMilli(); err == nil && cut > 0 {
		s.mu.RLock()
		if s.closed.Load() {
			err = ErrClosed
		} else {
			err = s.db.DeleteRange([]byte{prefixHour}, levelKey(nil, prefixHour, uint32(cut/hourMs), 0, 0)[:5], pebble.Sync)
		}
		s.mu.RUnlock()
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	cut := now.Add(-s.opts.Retention1h).UnixMilli()
	b := s.db.NewBatch()
	defer b.Close()
	for k, si := range s.series {
		if si.lastPut.Load() < cut {
			if err := b.Delete(append([]byte{prefixSeries}, k...), nil); err != nil {
				return err
			}
			delete(s.series, k)
		}
	}
	return b.Commit(pebble.Sync)
}

// rollUp turns the hours of level from older than cut into statistic sets
// of bucket milliseconds in level to, one hour a batch (the sets written
// and the hour deleted together), each hour under the read lock only:
// nothing writes to hours that old (PutMetricData refuses data older than
// two weeks), so appends and scans go on meanwhile.
func (s *Store) rollUp(from, to byte, bucket int64, cut int64) error {
	if cut <= 0 {
		return nil
	}
	cutHour := uint32(cut / hourMs)
	for {
		if err := s.rollUpHour(from, to, bucket, cutHour); err != nil {
			if errors.Is(err, errNothingToRoll) {
				return nil
			}
			return err
		}
	}
}

var errNothingToRoll = errors.New("nothing to roll up")

// rollUpHour rolls up the oldest hour of level from below cutHour, under
// the read lock (Close waits for it; appends and scans go on). It returns
// errNothingToRoll when there is none.
func (s *Store) rollUpHour(from, to byte, bucket int64, cutHour uint32) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	{
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{from}, UpperBound: levelKey(nil, from, cutHour, 0, 0)[:5]})
		if err != nil {
			return err
		}
		if !it.First() {
			err := it.Error()
			if cerr := it.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = errNothingToRoll
			}
			return err
		}
		hour := binary.BigEndian.Uint32(it.Key()[1:5])
		b := s.db.NewBatch()
		var d Datum
		type agg struct {
			unit  string
			stats Stats
		}
		var cur []agg
		var curID uint64
		curBucket := int64(-1)
		flush := func() error {
			for _, a := range cur {
				st := a.stats
				key := levelKey(nil, to, uint32(curBucket/hourMs), curID, curBucket)
				key = binary.BigEndian.AppendUint64(key, s.seq.Add(1))
				if err := b.Set(key, encodeDatum(nil, &Datum{Unit: a.unit, Stats: &st}), nil); err != nil {
					return err
				}
			}
			cur = cur[:0]
			return nil
		}
		var ferr error
		for ok := true; ok && ferr == nil; ok = it.Next() {
			key := it.Key()
			if binary.BigEndian.Uint32(key[1:5]) != hour {
				break
			}
			id := binary.BigEndian.Uint64(key[5:13])
			ms := int64(binary.BigEndian.Uint64(key[13:21]))
			if err := decodeDatum(it.Value(), &d); err != nil {
				continue
			}
			bk := ms - ms%bucket
			if id != curID || bk != curBucket {
				if ferr = flush(); ferr != nil {
					break
				}
				curID, curBucket = id, bk
			}
			i := 0
			for i < len(cur) && cur[i].unit != d.Unit {
				i++
			}
			if i == len(cur) {
				cur = append(cur, agg{unit: d.Unit, stats: Stats{Min: math.Inf(1), Max: math.Inf(-1)}})
			}
			st := &cur[i].stats
			if d.Stats != nil {
				st.SampleCount += d.Stats.SampleCount
				st.Sum += d.Stats.Sum
				st.Min = min(st.Min, d.Stats.Min)
				st.Max = max(st.Max, d.Stats.Max)
				continue
			}
			for j, v := range d.Values {
				c := 1.0
				if d.Counts != nil {
					c = d.Counts[j]
				}
				st.SampleCount += c
				st.Sum += v * c
				st.Min = min(st.Min, v)
				st.Max = max(st.Max, v)
			}
		}
		if ferr == nil {
			ferr = flush()
		}
		err = it.Error()
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = ferr
		}
		if err == nil {
			err = b.DeleteRange(levelKey(nil, from, hour, 0, 0)[:5], levelKey(nil, from, hour+1, 0, 0)[:5], nil)
		}
		if err == nil {
			err = b.Commit(pebble.Sync)
		}
		_ = b.Close()
		if err != nil {
			return fmt.Errorf("roll up hour %d: %w", hour, err)
		}
		return nil
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
	panic("metricstore: pebble: " + msg)
}
