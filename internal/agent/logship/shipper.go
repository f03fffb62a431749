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

// push takes an assembled event (s.mu held). In non-blocking mode an event
// that does not fit in the buffer is dropped.
func (s *shipper) push(e event) {
	if s.opts.NonBlocking && s.pendingBytes+e.size > s.limit && len(s.pending) > 0 {
		s.dropped++
		if s.dropped == 1 || s.dropped%1000 == 0 {
			s.log.Warn("awslogs buffer full, dropping log events", "dropped", s.dropped)
		}
		s.reason = fmt.Sprintf("awslogs: dropped %d log events: buffer full", s.dropped)
		s.notify = true
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
	if in := cp.Inflight; in != nil {
		s.log.Info("re-sending the log batch in flight before the restart", "seq", in.Seq, "events", len(in.Events))
		if !s.send(ctx, &cp, in) {
			return
		}
		if n := len(in.Events); n > 0 {
			s.mu.Lock()
			s.lastTS = in.Events[n-1].Timestamp
			s.mu.Unlock()
		}
	}
	var rwg sync.WaitGroup
	rctx, rcancel := context.WithCancel(ctx)
	defer func() {
		rcancel()
		rwg.Wait()
	}()
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		s.read(rctx, cp.Pos)
	}()
	tick := time.NewTicker(s.m.cfg.MultilineFlush / 4)
	defer tick.Stop()
	// The checkpoint after an acknowledgement is written only once the
	// shipper has been idle for a tick, or when it stops: the next batch's
	// in-flight save records the same position, and a lost one only makes
	// a restarted agent re-send the acknowledged batch, which the server
	// de-duplicates.
	defer s.saveAcked(&cp)
	for {
		batch, end, ok := s.next(ctx, tick.C, func() { s.saveAcked(&cp) })
		if !ok {
			return
		}
		if batch == nil { // drained
			s.saveAcked(&cp)
			s.m.changed(s.taskArn)
			return
		}
		in := &inflight{Seq: cp.NextSeq, End: end, Events: batch}
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
func (s *shipper) next(ctx context.Context, tick <-chan time.Time, idle func()) (batch []ecsapi.GantryLogEvent, end Pos, ok bool) {
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			if s.readDone {
				s.done = true
				s.mu.Unlock()
				return nil, Pos{}, true
			}
		} else {
			wait := max(s.m.cfg.BatchDelay-time.Since(s.pendingSince), s.m.cfg.BatchInterval-time.Since(s.lastBatch))
			full := len(s.pending) >= MaxBatchEvents || s.pendingBytes >= MaxBatchBytes
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
				end = events[len(events)-1].pos
				s.pending = append(s.pending[:0:0], rest...)
				if len(rest) > 0 {
					s.pendingSince = time.Now()
				}
				s.mu.Unlock()
				signal(s.space)
				return batch, end, true
			}
			s.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, Pos{}, false
			case <-t.C:
			case <-s.wake:
				t.Stop()
			}
			continue
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, Pos{}, false
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
		if err == nil {
			break
		}
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
// server exceed the buffer: the rest waits in the runtime's log files.
func (s *shipper) wait(ctx context.Context) bool {
	for {
		s.mu.Lock()
		over := !s.opts.NonBlocking && s.pendingBytes >= s.limit
		s.mu.Unlock()
		if !over {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-s.space:
		}
	}
}

func (s *shipper) finishRead() {
	s.mu.Lock()
	s.asm.flush()
	s.readDone = true
	s.mu.Unlock()
	signal(s.wake)
}
