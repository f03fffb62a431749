package logship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// shipper ships one container's output. Its reader goroutine reads the
// runtime's log stream from the checkpoint and assembles events into
// pending; its sender (the goroutine of run) cuts batches from pending,
// writes each to the checkpoint as in flight, sends it until the sink
// acknowledges it, then moves the checkpoint past it.
type shipper struct {
	m         *Manager
	taskArn   string
	container string
	id        string
	opts      Options
	rawOpts   map[string]string
	path      string
	req       *ecsapi.GantryPutLogEventsRequest // template
	log       *slog.Logger
	finished  chan struct{}
	// acked is set (by the sender only) when an acknowledgement moved the
	// checkpoint in memory and it is not yet written; journal is the
	// sender's checkpoint file.
	acked   bool
	journal *journal

	mu           sync.Mutex
	cancel       context.CancelFunc
	asm          *assembler
	pending      []event
	pendingBytes int
	pendingSince time.Time
	lastBatch    time.Time // when the last batch was cut
	limit        int       // bytes read ahead of the server
	dropped      int64
	reason       string
	readDone     bool // the reader saw the end of a stopped container
	done         bool // readDone, and every event shipped or dropped
	wake         chan struct{}
	space        chan struct{}
	lastTS       int64
	notify       bool // reason changed: call Manager.changed once unlocked

	// The spool (see spool): while spooling, the reader appends the
	// events it assembles to sp instead of pending, and the sender takes
	// them back into pending in order. spoolBytes is what this shipper has
	// charged to the Manager's bound; spoolBroken is set once the spool
	// failed, so the shipper goes on without one.
	sp          *spool
	spooling    bool
	spoolBytes  int64
	spoolBroken bool
	// unreachable is set while the last attempt to send a batch failed;
	// in blocking mode the spool starts only then (a server that is
	// merely behind leaves the rest in the runtime's log files).
	unreachable bool
}

func (m *Manager) newShipper(taskArn, container, id string, raw map[string]string, o Options) *shipper {
	s := &shipper{
		m: m, taskArn: taskArn, container: container, id: id, opts: o, rawOpts: raw,
		path:     checkpointPath(m.cfg.Dir, m.producer(taskArn, container)),
		req:      m.request(taskArn, container, id, o),
		log:      m.log.With("task", taskArn, "container", container),
		finished: make(chan struct{}),
		wake:     make(chan struct{}, 1), space: make(chan struct{}, 1),
		limit: blockingBuffer,
	}
	if o.NonBlocking {
		s.limit = DefaultMaxBufferSize
		if o.MaxBufferSize > 0 {
			s.limit = int(o.MaxBufferSize)
		}
	}
	s.asm = newAssembler(o.Multiline, s.push)
	return s
}

// stop cancels the shipper and waits for it.
func (s *shipper) stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-s.finished
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// push takes an assembled event (s.mu held). An event that does not fit
// in the memory buffer goes to the spool, and so do all the events after
// it until the spool has been shipped; in non-blocking mode an event that
// fits in neither is dropped.
func (s *shipper) push(e event) {
	if s.spooling {
		s.spoolPush(e)
		return
	}
	over := s.pendingBytes+e.size > s.limit && len(s.pending) > 0
	// An unreachable server starts the spool at once: what waits in
	// memory would not survive the agent, and the runtime's files rotate.
	if (over || s.unreachable) && s.startSpool() {
		s.spoolPush(e)
		return
	}
	if s.opts.NonBlocking && over {
		s.drop("buffer full")
		return
	}
	first := len(s.pending) == 0
	if first {
		s.pendingSince = time.Now()
	}
	s.pending = append(s.pending, e)
	s.pendingBytes += e.size
	if first || len(s.pending) == MaxBatchEvents || s.pendingBytes >= MaxBatchBytes && s.pendingBytes-e.size < MaxBatchBytes {
		// The sender waits for the first event, then for BatchDelay or a
		// full batch: waking it for every event would cost a wake-up each.
		signal(s.wake)
	}
}

// drop counts an event dropped (s.mu held), says so in the agent's log
// (at the first and every 1,000th) and in the reason.
func (s *shipper) drop(why string) {
	s.dropped++
	if s.dropped == 1 || s.dropped%1000 == 0 {
		s.log.Warn("awslogs buffer full, dropping log events", "dropped", s.dropped, "why", why)
	}
	s.reason = fmt.Sprintf("awslogs: dropped %d log events: %s", s.dropped, why)
	s.notify = true
}

// spoolCost is what an event is charged against the spools' bound: its
// record, at most.
func spoolCost(e event) int64 { return int64(len(e.msg)) + spoolHeader + 32 }

// startSpool starts spooling (s.mu held): the events waiting in memory
// are written to the (empty) spool first, so that the spool holds every
// event after the batch in flight, in order. False when there is no spool
// (off, or failed).
func (s *shipper) startSpool() bool {
	if !s.canSpool() {
		return false
	}
	if s.sp == nil {
		sp, err := openSpool(spoolPath(s.path))
		if err != nil {
			s.log.Error("open log spool: going on without one", "err", err)
			s.spoolBroken = true
			return false
		}
		s.sp = sp
	}
	// The events in memory go to disk even beyond the bound (by the
	// memory buffer at most): they are read already.
	var cost int64
	for _, e := range s.pending {
		cost += spoolCost(e)
	}
	s.m.reserveSpool(cost+spoolCost(event{}), true)
	for i := range s.pending {
		end, err := s.sp.append(s.pending[i])
		if err != nil {
			s.log.Error("write log spool: going on without one", "err", err)
			s.spoolBroken = true
			for j := range s.pending[:i] {
				s.pending[j].spoolEnd = 0
			}
			_ = s.sp.reset()
			s.m.releaseSpool(cost + spoolCost(event{}))
			return false
		}
		s.pending[i].spoolEnd = end
	}
	s.m.releaseSpool(spoolCost(event{}))
	s.spoolBytes += cost
	s.sp.read = s.sp.write
	s.spooling = true
	s.log.Info("server unreachable or behind: keeping log events in the spool on disk", "buffered", s.pendingBytes)
	return true
}

// canSpool reports whether the shipper may start spooling (s.mu held):
// there is a spool with room, and the mode is non-blocking or the server
// unreachable.
func (s *shipper) canSpool() bool {
	return s.m.cfg.SpoolSize >= 0 && !s.spoolBroken && s.m.spoolUsed.Load() < s.m.cfg.SpoolSize &&
		(s.opts.NonBlocking || s.unreachable)
}

// spoolPush appends e to the spool (s.mu held, spooling). In non-blocking
// mode an event beyond the spools' bound is dropped; in blocking mode the
// reader stops reading before that (wait), so the bound is passed by an
// event at most.
func (s *shipper) spoolPush(e event) {
	cost := spoolCost(e)
	if !s.m.reserveSpool(cost, !s.opts.NonBlocking) {
		s.drop("buffer full")
		return
	}
	if _, err := s.sp.append(e); err != nil {
		s.m.releaseSpool(cost)
		s.drop("spool: " + err.Error())
		return
	}
	s.spoolBytes += cost
	if len(s.pending) == 0 {
		signal(s.wake)
	}
}

// refill takes events from the spool into pending (s.mu held), about
// twice a batch's worth.
func (s *shipper) refill() {
	if !s.spooling || s.sp.read >= s.sp.write {
		return
	}
	room := max(s.limit, blockingBuffer) - s.pendingBytes
	if room <= 0 {
		return
	}
	events, err := s.sp.load(room)
	if err != nil || len(events) == 0 {
		s.log.Error("log spool unreadable: dropping what is left of it", "err", err, "bytes", s.sp.write-s.sp.read)
		s.sp.read = s.sp.write
		s.reason = fmt.Sprintf("awslogs: dropped %d log events and a spool that could not be read", s.dropped)
		s.notify = true
		return
	}
	if len(s.pending) == 0 {
		s.pendingSince = time.Now()
	}
	for _, e := range events {
		s.pendingBytes += e.size
	}
	s.pending = append(s.pending, events...)
}

// endSpool stops spooling once every event of the spool has been
// acknowledged: the spool is emptied and the checkpoint says so, on disk,
// before the reader may start a new spool (both under s.mu).
func (s *shipper) endSpool(cp *checkpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.spooling || s.sp.read < s.sp.write || cp.SpoolOff < s.sp.write {
		return
	}
	s.spooling = false
	if err := s.sp.reset(); err != nil {
		s.log.Error("empty log spool", "err", err)
		s.spoolBroken = true
	}
	s.m.releaseSpool(s.spoolBytes)
	s.spoolBytes = 0
	cp.SpoolOff = 0
	if err := s.journal.save(cp, true); err != nil {
		s.log.Error("save log checkpoint", "err", err)
	}
	s.acked = false
	s.log.Info("log spool shipped")
	signal(s.space)
}

// openLeftSpool takes up the spool an earlier run of the agent left,
// from offset off (after the batch in flight), and returns where the
// reader resumes: after the last event spooled, else at from.
func (s *shipper) openLeftSpool(cp *checkpoint, from Pos, off int64) Pos {
	path := spoolPath(s.path)
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		if cp.SpoolOff != 0 {
			cp.SpoolOff = 0
			if err := s.journal.save(cp, true); err != nil {
				s.log.Error("save log checkpoint", "err", err)
			}
		}
		return from
	}
	sp, err := openSpool(path)
	if err != nil {
		s.log.Error("log spool left by the previous run unreadable: reading the output from the checkpoint", "err", err)
		return from
	}
	if sp.write == 0 {
		sp.close()
		cp.SpoolOff = 0
		return from
	}
	sp.read = min(off, sp.write)
	s.m.reserveSpool(sp.write, true)
	s.mu.Lock()
	s.sp, s.spooling, s.spoolBytes = sp, true, sp.write
	s.mu.Unlock()
	s.log.Info("shipping the log spool the previous run left", "bytes", sp.write-sp.read)
	return sp.last
}

// run is the sender; it starts the reader and returns when the output is
// all shipped or ctx ends.
func (s *shipper) run(ctx context.Context) {
	s.journal = &journal{path: s.path}
	defer s.journal.close()
	cp, err := loadCheckpoint(s.path)
	fresh := errors.Is(err, os.ErrNotExist)
	if err != nil && !fresh {
		s.log.Error("log checkpoint unreadable, shipping the output from its start", "err", err)
	}
	cp.Producer, cp.Task, cp.Container, cp.ContainerID = s.req.Producer, s.taskArn, s.container, s.id
	cp.Options = s.rawOpts
	if fresh {
		// Written at once, so that a restarted agent finds the container
		// even if its task is gone by then (Manager.Resume).
		if err := s.journal.save(&cp, true); err != nil {
			s.log.Error("save log checkpoint", "err", err)
		}
	}
	s.mu.Lock()
	s.dropped = cp.Dropped
	if s.dropped > 0 {
		s.reason = fmt.Sprintf("awslogs: dropped %d log events", s.dropped)
	}
	s.mu.Unlock()
	// The reader starts before the batch in flight is sent again: the
	// server may be unreachable for long, and the runtime's files rotate
	// meanwhile. That batch is sent until it is acknowledged (or refused),
	// so the reader starts after it, or after the spool the previous run
	// left.
	from, spoolOff := cp.Pos, cp.SpoolOff
	if in := cp.Inflight; in != nil {
		from = in.End
		if in.SpoolEnd > 0 {
			spoolOff = in.SpoolEnd
		}
		if n := len(in.Events); n > 0 {
			s.mu.Lock()
			s.lastTS = in.Events[n-1].Timestamp
			s.mu.Unlock()
		}
	}
	from = s.openLeftSpool(&cp, from, spoolOff)
	var rwg sync.WaitGroup
	rctx, rcancel := context.WithCancel(ctx)
	defer func() {
		rcancel()
		rwg.Wait()
	}()
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		s.read(rctx, from)
	}()
	if in := cp.Inflight; in != nil {
		s.log.Info("re-sending the log batch in flight before the restart", "seq", in.Seq, "events", len(in.Events))
		if !s.send(ctx, &cp, in) {
			return
		}
	}
	tick := time.NewTicker(s.m.cfg.MultilineFlush / 4)
	defer tick.Stop()
	// The checkpoint after an acknowledgement is written only once the
	// shipper has been idle for a tick, or when it stops: the next batch's
	// in-flight save records the same position, and a lost one only makes
	// a restarted agent re-send the acknowledged batch, which the server
	// de-duplicates.
	defer s.saveAcked(&cp)
	for {
		s.endSpool(&cp)
		batch, end, spoolEnd, ok := s.next(ctx, tick.C, func() { s.endSpool(&cp); s.saveAcked(&cp) })
		if !ok {
			return
		}
		if batch == nil { // drained
			s.saveAcked(&cp)
			s.m.changed(s.taskArn)
			return
		}
		in := &inflight{Seq: cp.NextSeq, End: end, SpoolEnd: spoolEnd, Events: batch}
		cp.Inflight = in
		if err := s.journal.save(&cp, true); err != nil {
			s.log.Error("save log checkpoint", "err", err)
		}
		if !s.send(ctx, &cp, in) {
			return
		}
	}
}

// next waits for the next batch: a full one, one whose first event has
// waited BatchDelay (and BatchInterval since the last one), or the rest
// once the reader is done; idle is called at each tick while there is
// nothing to send. It returns a nil
// batch with ok once everything is shipped, and !ok when ctx ends.
func (s *shipper) next(ctx context.Context, tick <-chan time.Time, idle func()) (batch []ecsapi.GantryLogEvent, end Pos, spoolEnd int64, ok bool) {
	for {
		s.mu.Lock()
		if s.sp != nil {
			if err := s.sp.flush(); err != nil {
				s.log.Error("write log spool", "err", err)
			}
		}
		s.refill()
		if len(s.pending) == 0 {
			if s.readDone {
				s.done = true
				s.mu.Unlock()
				return nil, Pos{}, 0, true
			}
		} else {
			wait := max(s.m.cfg.BatchDelay-time.Since(s.pendingSince), s.m.cfg.BatchInterval-time.Since(s.lastBatch))
			// A spool with more to ship makes the batch full: it ships
			// as fast as the server takes it.
			full := len(s.pending) >= MaxBatchEvents || s.pendingBytes >= MaxBatchBytes ||
				s.spooling && s.sp.read < s.sp.write
			if full || wait <= 0 || s.readDone {
				s.lastBatch = time.Now()
				events, rest := cutBatch(s.pending)
				batch = make([]ecsapi.GantryLogEvent, len(events))
				for i, e := range events {
					ts := max(e.ts, s.lastTS) // chronological, as PutLogEvents wants
					s.lastTS = ts
					batch[i] = ecsapi.GantryLogEvent{Timestamp: ts, Message: e.msg}
					s.pendingBytes -= e.size
				}
				end, spoolEnd = events[len(events)-1].pos, events[len(events)-1].spoolEnd
				s.pending = append(s.pending[:0:0], rest...)
				if len(rest) > 0 {
					s.pendingSince = time.Now()
				}
				s.mu.Unlock()
				signal(s.space)
				return batch, end, spoolEnd, true
			}
			s.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, Pos{}, 0, false
			case <-t.C:
			case <-s.wake:
				t.Stop()
			}
			continue
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, Pos{}, 0, false
		case <-s.wake:
		case now := <-tick:
			s.mu.Lock()
			s.asm.flushStale(now, s.m.cfg.MultilineFlush)
			s.mu.Unlock()
			idle()
		}
	}
}

// send sends the in-flight batch until the sink acknowledges or rejects
// it, then moves the checkpoint past it. False when ctx ended first.
func (s *shipper) send(ctx context.Context, cp *checkpoint, in *inflight) bool {
	req := *s.req
	req.BatchSeq = in.Seq
	req.Events = in.Events
	backoff := 200 * time.Millisecond
	for {
		err := s.m.cfg.Sink.PutLogBatch(ctx, &req)
		s.mu.Lock()
		s.unreachable = err != nil && !errors.Is(err, ErrRejected) && ctx.Err() == nil
		s.mu.Unlock()
		if err == nil {
			break
		}
		signal(s.space) // a reader waiting in blocking mode may spool now
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, ErrRejected) {
			s.mu.Lock()
			s.dropped += int64(len(in.Events))
			s.reason = fmt.Sprintf("awslogs: dropped %d log events: %v", s.dropped, err)
			s.mu.Unlock()
			s.log.Warn("log batch rejected, dropping it", "seq", in.Seq, "events", len(in.Events), "err", err)
			s.m.changed(s.taskArn)
			break
		}
		s.log.Warn("send log batch, retrying", "seq", in.Seq, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.m.cfg.MaxBackoff)
	}
	s.mu.Lock()
	cp.Dropped = s.dropped
	s.mu.Unlock()
	cp.Pos, cp.NextSeq, cp.Inflight = in.End, in.Seq+1, nil
	if in.SpoolEnd > 0 {
		cp.SpoolOff = in.SpoolEnd
	}
	s.acked = true
	return true
}

// saveAcked writes the checkpoint if an acknowledgement moved it since it
// was last written.
func (s *shipper) saveAcked(cp *checkpoint) {
	if !s.acked {
		return
	}
	s.acked = false
	if err := s.journal.save(cp, false); err != nil {
		s.log.Error("save log checkpoint", "err", err)
	}
}

// read follows the container's output from the frame after from until
// the container has stopped and all it wrote is read, or ctx ends.
func (s *shipper) read(ctx context.Context, from Pos) {
	pos := from
	backoff := 200 * time.Millisecond
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for ctx.Err() == nil {
		st, err := s.m.cfg.Source.InspectContainer(ctx, s.id)
		if errors.Is(err, runtime.ErrNotFound) {
			s.log.Warn("container gone before its output was all read", "id", s.id)
			s.finishRead()
			return
		}
		if err != nil {
			s.log.Warn("inspect container for its logs", "err", err)
			if !pause(backoff) {
				return
			}
			backoff = min(2*backoff, s.m.cfg.MaxBackoff)
			continue
		}
		if st.State == runtime.StateCreated {
			if !pause(200 * time.Millisecond) { // not started yet: no output to follow
				return
			}
			continue
		}
		stopped := st.State == runtime.StateStopped
		var since time.Time
		if !pos.IsZero() {
			since = time.Unix(0, pos.TS).Add(-resumeSlack)
		}
		stream, err := s.m.cfg.Source.ReadLogs(ctx, s.id, since)
		if err != nil {
			if errors.Is(err, runtime.ErrNotFound) {
				s.finishRead()
				return
			}
			s.log.Warn("read container logs", "err", err)
			if !pause(backoff) {
				return
			}
			backoff = min(2*backoff, s.m.cfg.MaxBackoff)
			continue
		}
		pos, err = s.consume(ctx, stream, pos)
		_ = stream.Close()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("read container logs", "err", err)
			if !pause(backoff) {
				return
			}
			continue
		}
		backoff = 200 * time.Millisecond
		if stopped {
			s.finishRead()
			return
		}
	}
}

// consume feeds the stream's frames after pos to the assembler and
// returns the position of the last one. A nil error is the stream's end.
func (s *shipper) consume(ctx context.Context, stream runtime.LogStream, pos Pos) (Pos, error) {
	skipping := !pos.IsZero()
	var runTS int64
	var runN int
	slack := resumeSlack.Nanoseconds()
	for {
		f, err := stream.Next()
		if errors.Is(err, io.EOF) {
			return pos, nil
		}
		if err != nil {
			return pos, err
		}
		ts := f.Time.UnixNano()
		if ts == runTS {
			runN++
		} else {
			runTS, runN = ts, 1
		}
		p := Pos{TS: ts, N: runN}
		if skipping {
			if p == pos {
				skipping = false
				continue
			}
			if ts <= pos.TS+slack {
				continue
			}
			s.log.Warn("log checkpoint not found in the container's output (rotated away?): some lines may be missing or repeated", "checkpoint", pos)
			skipping = false
		}
		if !s.wait(ctx) {
			return pos, ctx.Err()
		}
		s.mu.Lock()
		s.asm.add(f, p, time.Now())
		notify := s.notify
		s.notify = false
		s.mu.Unlock()
		if notify {
			s.m.changed(s.taskArn)
		}
		pos = p
	}
}

// wait blocks, in blocking mode, while the events read ahead of the
// server exceed the memory buffer and the spools' bound is reached (or
// there is no spool): the rest waits in the runtime's log files.
func (s *shipper) wait(ctx context.Context) bool {
	for {
		s.mu.Lock()
		var over bool
		if !s.opts.NonBlocking {
			if s.spooling {
				over = s.m.spoolUsed.Load() >= s.m.cfg.SpoolSize
			} else {
				over = s.pendingBytes >= s.limit && !s.canSpool()
			}
		}
		s.mu.Unlock()
		if !over {
			return true
		}
		// Other containers' spools free space too: look again now and then.
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-s.space:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *shipper) finishRead() {
	s.mu.Lock()
	s.asm.flush()
	s.readDone = true
	s.mu.Unlock()
	signal(s.wake)
}
