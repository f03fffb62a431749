package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Task definitions.
//
// Storage. Each revision is one record, taskdefs/<family>/<revision %010d>,
// and each family has a counter, families/<family>, holding the last
// revision number ever given. A registration writes the counter and the new
// revision records in one etcd transaction guarded by the counter's mod
// revision, so revisions are 1..N with no gap and none is ever reused, even
// after its record is deleted, and several servers on one etcd cluster can
// register concurrently (the loser of a race re-reads the counter and
// retries).
//
// Group commit. Registrations of one family are serialised in the process
// by a per-family lock, and whoever holds it commits every registration
// that queued up behind the previous commit in the same transaction
// (revisions base+1..base+k). One fsync then serves many registrations, so
// one family registers as fast as many.
//
// Reads. Every read is served from an in-memory view of all task
// definitions, loaded at a known etcd revision and then fed by an etcd watch
// from the next one (an informer). Each write returns only once the view has
// applied the write's revision, so a caller that got an answer from this
// server reads its own writes here. Other servers of the same etcd see a
// write once their watch delivers it, normally within milliseconds.
//
// Deletion. DeleteTaskDefinitions removes the revision records in one
// guarded transaction while answering, and reports them DELETE_IN_PROGRESS
// with deleteRequestedAt, the state ECS shows until no task or service uses
// a revision. Nothing in Gantry holds a revision back yet, so the record is
// gone as soon as the call returns; the family counter stays, so the next
// registration continues the numbering.

// tdMaxBatch bounds the registrations committed in one transaction (etcd
// refuses transactions of more than 128 operations by default) and
// tdMaxBatchBytes their encoded size (external etcd refuses requests over
// 1.5 MiB by default).
const (
	tdMaxBatch      = 64
	tdMaxBatchBytes = 1 << 20
	tdMaxAttempts   = 30
	tdSyncTimeout   = 10 * time.Second
)

// errTaskDefRefMalformed marks a task definition identifier that names no
// possible task definition.
var errTaskDefRefMalformed = errors.New("malformed task definition identifier")

// taskDefState is what the task definition operations of one store share:
// the view and its watch, and the per-family registration queues.
type taskDefState struct {
	store  *store.Store
	logger *slog.Logger
	ready  chan struct{} // closed once the first snapshot is loaded
	once   sync.Once

	mu       sync.RWMutex
	view     *tdView
	rev      int64         // the etcd revision the view reflects
	advanced chan struct{} // closed and replaced whenever rev advances

	ownMu sync.Mutex
	own   map[tdOwnKey]*taskDefRecord // records this process wrote, not yet seen by the watch

	queuesMu sync.Mutex
	queues   map[string]*tdFamilyQueue

	changes []tdChange // apply's scratch (the watch's goroutine only)
}

// tdOwnKey names one version of one revision record.
type tdOwnKey struct {
	family string
	rev    int32
	modRev int64
}

// taskDefs returns the task definition state of s's store, starting it on
// first use and waiting until its view is loaded.
func (s *Service) taskDefs(ctx context.Context) (*taskDefState, error) {
	s.tdMu.Lock()
	if s.td == nil {
		logger := s.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		s.td = &taskDefState{
			store:    s.Store,
			logger:   logger.With("component", "taskdefs"),
			ready:    make(chan struct{}),
			view:     newTDView(),
			advanced: make(chan struct{}),
			own:      map[tdOwnKey]*taskDefRecord{},
			queues:   map[string]*tdFamilyQueue{},
		}
		s.goBackground(s.td.run)
	}
	st := s.td
	s.tdMu.Unlock()
	select {
	case <-st.ready:
		return st, nil
	default:
	}
	t := time.NewTimer(tdSyncTimeout)
	defer t.Stop()
	select {
	case <-st.ready:
		return st, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, errors.New("task definitions: the view of etcd is not loaded")
	}
}

// run keeps the view current until ctx ends: a list of every revision
// record, then the watch (store.Follow, which lists again when the watch
// breaks).
func (st *taskDefState) run(ctx context.Context) {
	_ = st.store.Follow(ctx, store.Follow{Prefix: prefixOf("taskdefs"), Load: st.load, Apply: st.apply, Logger: st.logger})
}

// load swaps the view for the revision records of a snapshot at rev.
func (st *taskDefState) load(rev int64, items []store.Item) {
	v := newTDView()
	for _, kv := range items {
		family, r, ok := parseTaskDefKey(kv.Key)
		if !ok {
			continue
		}
		rec := new(taskDefRecord)
		if err := json.Unmarshal(kv.Value, rec); err != nil {
			st.logger.Error("decode task definition", "key", kv.Key, "err", err)
			continue
		}
		v.put(family, r, kv.ModRev, rec)
	}
	st.mu.Lock()
	st.view = v
	st.advanceLocked(rev)
	st.mu.Unlock()
	st.dropOwn(rev)
	st.once.Do(func() { close(st.ready) })
}

// tdChange is one watched change, decoded outside the view's lock.
type tdChange struct {
	family string
	rev    int32
	modRev int64
	rec    *taskDefRecord // nil for a deletion
}

// apply folds one watch response into the view.
func (st *taskDefState) apply(resp store.WatchResponse) {
	if resp.Progress {
		st.mu.Lock()
		st.advanceLocked(resp.Revision)
		st.mu.Unlock()
		return
	}
	changes := st.changes[:0]
	var last int64
	for _, ev := range resp.Events {
		family, r, ok := parseTaskDefKey(ev.Key)
		last = max(last, ev.ModRev)
		if !ok {
			continue
		}
		ch := tdChange{family: family, rev: r, modRev: ev.ModRev}
		if !ev.Deleted {
			ch.rec = st.takeOwn(tdOwnKey{family, r, ev.ModRev})
			if ch.rec == nil {
				ch.rec = new(taskDefRecord)
				if err := json.Unmarshal(ev.Value, ch.rec); err != nil {
					st.logger.Error("decode task definition", "key", ev.Key, "err", err)
					continue
				}
			}
		}
		changes = append(changes, ch)
	}
	st.mu.Lock()
	for _, ch := range changes {
		if ch.rec == nil {
			st.view.del(ch.family, ch.rev)
		} else {
			st.view.put(ch.family, ch.rev, ch.modRev, ch.rec)
		}
	}
	st.advanceLocked(last)
	st.mu.Unlock()
	st.dropOwn(last)
	clear(changes)
	st.changes = changes[:0]
}

// advanceLocked records that the view reflects rev and wakes the waiters.
// st.mu must be held for writing.
func (st *taskDefState) advanceLocked(rev int64) {
	if rev <= st.rev {
		return
	}
	st.rev = rev
	close(st.advanced)
	st.advanced = make(chan struct{})
}

// sync waits until the view reflects etcd revision rev, so that what was
// written at rev is read back. It gives up quietly after tdSyncTimeout or
// when ctx is done: the write itself has succeeded either way.
func (st *taskDefState) sync(ctx context.Context, rev int64) {
	var timer *time.Timer
	for {
		st.mu.RLock()
		cur, ch := st.rev, st.advanced
		st.mu.RUnlock()
		if cur >= rev {
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if timer == nil {
			timer = time.NewTimer(tdSyncTimeout)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			st.logger.Warn("task definition view is behind", "want", rev, "have", cur)
			return
		}
	}
}

// syncNow waits until the view reflects every write etcd had committed
// when it was called, on any server. The watch covers task definitions
// only, so when the latest writes were elsewhere it asks for a progress
// notification to learn that it is current.
func (st *taskDefState) syncNow(ctx context.Context) {
	cur, err := st.store.Revision(ctx)
	if err != nil {
		return
	}
	st.mu.RLock()
	behind := st.rev < cur
	st.mu.RUnlock()
	if behind {
		_ = st.store.RequestProgress(ctx)
	}
	st.sync(ctx, cur)
}

// putOwn remembers a record this process is writing at modRev, so that the
// watch need not decode it again.
func (st *taskDefState) putOwn(k tdOwnKey, rec *taskDefRecord) {
	st.ownMu.Lock()
	st.own[k] = rec
	st.ownMu.Unlock()
}

// dropOwn forgets the remembered records of revisions up to rev, which the
// view already has: those whose write raced ahead of putOwn, or that a
// reload covered.
func (st *taskDefState) dropOwn(rev int64) {
	st.ownMu.Lock()
	defer st.ownMu.Unlock()
	for k := range st.own {
		if k.modRev <= rev {
			delete(st.own, k)
		}
	}
}

// takeOwn returns and forgets the record remembered for k, if any.
func (st *taskDefState) takeOwn(k tdOwnKey) *taskDefRecord {
	st.ownMu.Lock()
	defer st.ownMu.Unlock()
	rec, ok := st.own[k]
	if ok {
		delete(st.own, k)
	}
	return rec
}

// lookup returns family:rev, or the latest ACTIVE revision when rev is 0.
// The record is shared with the view: never change it.
func (st *taskDefState) lookup(family string, rev int32) (tdEntry, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.view.lookup(family, rev)
}

// tdView is every task definition revision, by family.
type tdView struct {
	families map[string]*tdFamilyView
	names    []string // sorted names of the families that have revisions
}

// tdFamilyView is the revisions of one family.
type tdFamilyView struct {
	revs   []tdEntry // by ascending revision
	active int       // how many are ACTIVE
}

// tdEntry is one revision record and its etcd mod revision.
type tdEntry struct {
	rev    int32
	modRev int64
	rec    *taskDefRecord
}

func newTDView() *tdView { return &tdView{families: map[string]*tdFamilyView{}} }

func searchRev(revs []tdEntry, rev int32) (int, bool) {
	return slices.BinarySearchFunc(revs, rev, func(e tdEntry, r int32) int { return cmp.Compare(e.rev, r) })
}

func (v *tdView) lookup(family string, rev int32) (tdEntry, bool) {
	f := v.families[family]
	if f == nil {
		return tdEntry{}, false
	}
	if rev == 0 {
		for i := len(f.revs) - 1; i >= 0; i-- {
			if f.revs[i].rec.TaskDefinition.Status == tdActive {
				return f.revs[i], true
			}
		}
		return tdEntry{}, false
	}
	i, ok := searchRev(f.revs, rev)
	if !ok {
		return tdEntry{}, false
	}
	return f.revs[i], true
}

// put stores a version of family:rev unless a later one is already there.
func (v *tdView) put(family string, rev int32, modRev int64, rec *taskDefRecord) {
	f := v.families[family]
	if f == nil {
		f = &tdFamilyView{}
		v.families[family] = f
		i, _ := slices.BinarySearch(v.names, family)
		v.names = slices.Insert(v.names, i, family)
	}
	e := tdEntry{rev: rev, modRev: modRev, rec: rec}
	i, found := searchRev(f.revs, rev)
	if found {
		if f.revs[i].modRev >= modRev {
			return
		}
		if f.revs[i].rec.TaskDefinition.Status == tdActive {
			f.active--
		}
		f.revs[i] = e
	} else {
		f.revs = slices.Insert(f.revs, i, e)
	}
	if rec.TaskDefinition.Status == tdActive {
		f.active++
	}
}

// del forgets family:rev, and the family once it has no revision left.
func (v *tdView) del(family string, rev int32) {
	f := v.families[family]
	if f == nil {
		return
	}
	i, found := searchRev(f.revs, rev)
	if !found {
		return
	}
	if f.revs[i].rec.TaskDefinition.Status == tdActive {
		f.active--
	}
	f.revs = slices.Delete(f.revs, i, i+1)
	if len(f.revs) == 0 {
		delete(v.families, family)
		if j, ok := slices.BinarySearch(v.names, family); ok {
			v.names = slices.Delete(v.names, j, j+1)
		}
	}
}

// parseTaskDefKey splits taskdefs/<family>/<revision>.
func parseTaskDefKey(key string) (family string, rev int32, ok bool) {
	rest, ok := strings.CutPrefix(key, prefixOf("taskdefs"))
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(rest[i+1:], 10, 32)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return rest[:i], int32(n), true
}

// tdFamilyQueue serialises the registrations of one family in this process
// and batches them (see the group commit note above).
type tdFamilyQueue struct {
	commit sync.Mutex // held by the registration committing a batch

	mu      sync.Mutex
	pending []*tdRegistration
	// known says lastRev and modRev hold the family counter as this process
	// last wrote or read it; a failed guard clears it.
	known   bool
	lastRev int32
	modRev  int64
}

// tdRegistration is one registration waiting to be committed.
type tdRegistration struct {
	ctx      context.Context
	rec      *taskDefRecord
	finished bool // guarded by the queue's mu
	etcdRev  int64
	err      error
}

func (st *taskDefState) queue(family string) *tdFamilyQueue {
	st.queuesMu.Lock()
	defer st.queuesMu.Unlock()
	q := st.queues[family]
	if q == nil {
		q = &tdFamilyQueue{}
		st.queues[family] = q
	}
	return q
}

// register gives rec the next revision of its family and stores it; it
// returns the etcd revision of the write. rec's revision and ARN are set by
// the committing registration, with arn.
func (st *taskDefState) register(ctx context.Context, rec *taskDefRecord, arn func(string, int32) string) (int64, error) {
	family := rec.TaskDefinition.Family
	q := st.queue(family)
	r := &tdRegistration{ctx: ctx, rec: rec}
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()

	q.commit.Lock()
	defer q.commit.Unlock()
	for {
		q.mu.Lock()
		if r.finished {
			q.mu.Unlock()
			return r.etcdRev, r.err
		}
		// Take up to tdMaxBatch live registrations, in arrival order; the
		// others stay queued for the next commit.
		var batch []*tdRegistration
		keep := q.pending[:0]
		for _, p := range q.pending {
			switch {
			case len(batch) == tdMaxBatch:
				keep = append(keep, p)
			case p.ctx.Err() != nil:
				p.finished, p.err = true, p.ctx.Err()
			default:
				batch = append(batch, p)
			}
		}
		clear(q.pending[len(keep):])
		q.pending = keep
		q.mu.Unlock()
		rest := st.commitBatch(ctx, q, family, batch, arn)
		if len(rest) > 0 {
			q.mu.Lock()
			q.pending = append(rest, q.pending...)
			q.mu.Unlock()
		}
	}
}

// commitBatch commits as many registrations of batch as fit in one
// transaction, retrying when another server moved the family counter, and
// finishes them; it returns those that did not fit.
func (st *taskDefState) commitBatch(ctx context.Context, q *tdFamilyQueue, family string, batch []*tdRegistration, arn func(string, int32) string) []*tdRegistration {
	if len(batch) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	finish := func(rs []*tdRegistration, etcdRev int64, err error) {
		q.mu.Lock()
		for _, r := range rs {
			r.finished, r.etcdRev, r.err = true, etcdRev, err
		}
		q.mu.Unlock()
	}
	fkey := familyKey(family)
	for attempt := 0; ; attempt++ {
		if !q.known {
			var fr familyRecord
			resp, err := st.store.Range(cctx, store.Range{From: fkey})
			if err != nil {
				finish(batch, 0, fmt.Errorf("get %s: %w", fkey, err))
				return nil
			}
			q.lastRev, q.modRev = 0, 0
			if len(resp.Items) > 0 {
				if err := json.Unmarshal(resp.Items[0].Value, &fr); err != nil {
					finish(batch, 0, fmt.Errorf("decode %s: %w", fkey, err))
					return nil
				}
				q.lastRev, q.modRev = fr.LastRevision, resp.Items[0].ModRev
			}
			q.known = true
		}
		ops := make([]store.Op, 0, len(batch)+1)
		size := 0
		n := 0
		var rest []*tdRegistration
		for i, r := range batch {
			rev := q.lastRev + int32(n) + 1
			td := &r.rec.TaskDefinition
			td.Revision = rev
			td.TaskDefinitionArn = arn(family, rev)
			b, err := json.Marshal(r.rec)
			if err != nil {
				finish(batch[i:i+1], 0, fmt.Errorf("encode task definition: %w", err))
				continue
			}
			if n > 0 && size+len(b) > tdMaxBatchBytes {
				rest = batch[i:]
				break
			}
			size += len(b)
			batch[n] = r
			n++
			ops = append(ops, store.OpPut(taskDefKey(family, rev), b))
		}
		committed := batch[:n]
		if n == 0 {
			return rest
		}
		fb, _ := json.Marshal(familyRecord{LastRevision: q.lastRev + int32(n)})
		ops = append(ops, store.OpPut(fkey, fb))
		resp, err := st.store.Txn(cctx, []store.Cmp{store.ModRevisionIs(fkey, q.modRev)}, ops...)
		if err != nil {
			q.known = false
			finish(committed, 0, fmt.Errorf("register %s: %w", family, err))
			return rest
		}
		if resp.Succeeded {
			q.lastRev += int32(n)
			q.modRev = resp.Revision
			for _, r := range committed {
				st.putOwn(tdOwnKey{family, r.rec.TaskDefinition.Revision, resp.Revision}, r.rec)
			}
			finish(committed, resp.Revision, nil)
			return rest
		}
		// Another server registered in this family since we last looked.
		q.known = false
		if attempt+1 >= tdMaxAttempts {
			finish(committed, 0, fmt.Errorf("register %s: %w after %d attempts", family, store.ErrConflict, tdMaxAttempts))
			return rest
		}
		batch = append(committed, rest...)
		time.Sleep(time.Duration(1+rand.IntN(1<<min(attempt, 6))) * time.Millisecond)
	}
}

// RegisterTaskDefinition registers a new revision of a family: the request
// validated as ECS validates it, every member stored as given (task cpu and
// memory normalised to CPU units and MiB as ECS returns them), and the
// derived members added. The revision is the family's next, never reused.
func (s *Service) RegisterTaskDefinition(ctx context.Context, in *ecsapi.RegisterTaskDefinitionRequest) (*ecsapi.RegisterTaskDefinitionResponse, error) {
	td, err := buildTaskDefinition(in)
	if err != nil {
		return nil, err
	}
	if err := checkTaskDefTags(in.Tags); err != nil {
		return nil, err
	}
	st, err := s.taskDefs(ctx)
	if err != nil {
		return nil, err
	}
	td.Status = tdActive
	td.RegisteredAt = ecsapi.NewTimestamp(s.now())
	td.RegisteredBy = CallerFrom(ctx).Principal
	rec := &taskDefRecord{TaskDefinition: td, Tags: in.Tags}
	etcdRev, err := st.register(ctx, rec, s.TaskDefinitionARN)
	if err != nil {
		return nil, err
	}
	st.sync(ctx, etcdRev)
	return &ecsapi.RegisterTaskDefinitionResponse{TaskDefinition: &rec.TaskDefinition, Tags: rec.Tags}, nil
}

// tdRef is a parsed taskDefinition parameter.
type tdRef struct {
	family string
	rev    int32 // 0 when none was given
	// foreign marks an ARN of another region or account: well formed, but
	// naming nothing here.
	foreign bool
}

// parseTaskDefRef parses a family, family:revision or task definition ARN.
// It returns errTaskDefRefMalformed for what can name no task definition,
// and InvalidParameterException for a revision that is not a positive
// integer.
func (s *Service) parseTaskDefRef(id string) (tdRef, error) {
	var ref tdRef
	name := id
	if strings.HasPrefix(id, "arn:") {
		a, ok := ParseARN(id)
		if !ok || a.Type != "task-definition" {
			return ref, errTaskDefRefMalformed
		}
		ref.foreign = a.Region != s.Region || a.Account != s.Account
		name = a.Path
	}
	family, rev, hasRev := strings.Cut(name, ":")
	if !tdValidName(family) {
		return ref, errTaskDefRefMalformed
	}
	ref.family = family
	if hasRev {
		n, err := strconv.ParseInt(rev, 10, 32)
		if err != nil || n < 1 {
			return ref, apierror.InvalidParameter("Invalid revision number. Number: %s", rev)
		}
		ref.rev = int32(n)
	}
	return ref, nil
}

// lookupTaskDef resolves id (family for the latest ACTIVE revision,
// family:revision, or ARN) for other operations such as RunTask; nil if it
// names nothing. The record is shared: copy it before changing anything.
func (s *Service) lookupTaskDef(ctx context.Context, id string) (*taskDefRecord, error) {
	ref, err := s.parseTaskDefRef(id)
	if errors.Is(err, errTaskDefRefMalformed) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ref.foreign {
		return nil, nil
	}
	st, err := s.taskDefs(ctx)
	if err != nil {
		return nil, err
	}
	e, ok := st.lookup(ref.family, ref.rev)
	if !ok {
		return nil, nil
	}
	return e.rec, nil
}

// syncTaskDefs waits until this server's view of task definitions reflects
// etcd revision rev. Code that writes a revision record itself (tagging, for
// instance) calls it before answering so that its caller reads the write.
func (s *Service) syncTaskDefs(ctx context.Context, rev int64) error {
	st, err := s.taskDefs(ctx)
	if err != nil {
		return err
	}
	st.sync(ctx, rev)
	return nil
}

// DescribeTaskDefinition returns a task definition: the latest ACTIVE
// revision of a family, a family:revision, or the one an ARN names, with
// its tags when include has TAGS. Anything else is ClientException "Unable
// to describe task definition.", as ECS answers.
func (s *Service) DescribeTaskDefinition(ctx context.Context, in *ecsapi.DescribeTaskDefinitionRequest) (*ecsapi.DescribeTaskDefinitionResponse, error) {
	withTags := false
	for i, f := range in.Include {
		if f != "TAGS" {
			return nil, tdEnumError(fmt.Sprintf("include.%d.member", i+1), f, f.Values())
		}
		withTags = true
	}
	notFound := func() error { return apierror.Client("Unable to describe task definition.") }
	ref, err := s.parseTaskDefRef(in.TaskDefinition)
	if errors.Is(err, errTaskDefRefMalformed) {
		return nil, notFound()
	}
	if err != nil {
		return nil, err
	}
	if ref.foreign {
		return nil, notFound()
	}
	st, err := s.taskDefs(ctx)
	if err != nil {
		return nil, err
	}
	e, ok := st.lookup(ref.family, ref.rev)
	if !ok {
		return nil, notFound()
	}
	out := &ecsapi.DescribeTaskDefinitionResponse{TaskDefinition: &e.rec.TaskDefinition}
	if withTags {
		out.Tags = e.rec.Tags
	}
	return out, nil
}

// ListTaskDefinitions lists task definition ARNs by family and revision
// (descending both with sort DESC), of one status (ACTIVE by default),
// optionally of one family: familyPrefix is, as in ECS, the full family
// name. Pages hold maxResults (1..100, default 100) ARNs.
func (s *Service) ListTaskDefinitions(ctx context.Context, in *ecsapi.ListTaskDefinitionsRequest) (*ecsapi.ListTaskDefinitionsResponse, error) {
	status := in.Status
	if status == "" {
		status = tdActive
	}
	if err := tdCheckEnum(tdPath("status"), status, status.Values); err != nil {
		return nil, err
	}
	if err := tdCheckEnum(tdPath("sort"), in.Sort, in.Sort.Values); err != nil {
		return nil, err
	}
	desc := in.Sort == "DESC"
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	scope := "taskdefs|" + string(status) + "|" + string(in.Sort) + "|" + in.FamilyPrefix
	after, err := decodeToken(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	var afterFamily string
	var afterRev int32
	if after != "" {
		f, r, ok := strings.Cut(after, ":")
		n, perr := strconv.ParseInt(r, 10, 32)
		if !ok || perr != nil {
			return nil, apierror.InvalidParameter("Invalid nextToken.")
		}
		afterFamily, afterRev = f, int32(n)
	}
	st, err := s.taskDefs(ctx)
	if err != nil {
		return nil, err
	}
	// A list shows what any server had written when it was called.
	st.syncNow(ctx)
	out := &ecsapi.ListTaskDefinitionsResponse{}
	var last tdEntry
	more := false
	st.mu.RLock()
	v := st.view
	visit := func(family string) bool {
		f := v.families[family]
		if f == nil {
			return true
		}
		n := len(f.revs)
		for k := 0; k < n; k++ {
			i := k
			if desc {
				i = n - 1 - k
			}
			e := f.revs[i]
			if after != "" && family == afterFamily && (!desc && e.rev <= afterRev || desc && e.rev >= afterRev) {
				continue
			}
			if e.rec.TaskDefinition.Status != status {
				continue
			}
			if len(out.TaskDefinitionArns) == limit {
				more = true
				return false
			}
			out.TaskDefinitionArns = append(out.TaskDefinitionArns, e.rec.TaskDefinition.TaskDefinitionArn)
			last = e
		}
		return true
	}
	switch {
	case in.FamilyPrefix != "":
		if after == "" || afterFamily == in.FamilyPrefix {
			visit(in.FamilyPrefix)
		}
	case desc:
		i := len(v.names)
		if after != "" {
			j, found := slices.BinarySearch(v.names, afterFamily)
			if found {
				j++
			}
			i = j
		}
		for i--; i >= 0 && visit(v.names[i]); i-- {
		}
	default:
		i := 0
		if after != "" {
			i, _ = slices.BinarySearch(v.names, afterFamily)
		}
		for ; i < len(v.names) && visit(v.names[i]); i++ {
		}
	}
	st.mu.RUnlock()
	if more {
		out.NextToken = encodeToken(last.rec.TaskDefinition.Family+":"+itoa(int64(last.rev)), scope)
	}
	return out, nil
}

// ListTaskDefinitionFamilies lists family names in order, those starting
// with familyPrefix, of a status: ACTIVE families have an ACTIVE revision,
// INACTIVE ones have revisions but none ACTIVE, ALL (the default) is both.
// A family whose revisions were all deleted is listed no more.
func (s *Service) ListTaskDefinitionFamilies(ctx context.Context, in *ecsapi.ListTaskDefinitionFamiliesRequest) (*ecsapi.ListTaskDefinitionFamiliesResponse, error) {
	status := in.Status
	if status == "" {
		status = "ALL"
	}
	if err := tdCheckEnum(tdPath("status"), status, status.Values); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	scope := "families|" + string(status) + "|" + in.FamilyPrefix
	after, err := decodeToken(in.NextToken, scope)
	if err != nil {
		return nil, err
	}
	st, err := s.taskDefs(ctx)
	if err != nil {
		return nil, err
	}
	// A list shows what any server had written when it was called.
	st.syncNow(ctx)
	out := &ecsapi.ListTaskDefinitionFamiliesResponse{}
	st.mu.RLock()
	v := st.view
	i, _ := slices.BinarySearch(v.names, max(after+"\x00", in.FamilyPrefix))
	for ; i < len(v.names); i++ {
		name := v.names[i]
		if !strings.HasPrefix(name, in.FamilyPrefix) {
			break
		}
		active := v.families[name].active > 0
		if status == "ACTIVE" && !active || status == "INACTIVE" && active {
			continue
		}
		if len(out.Families) == limit {
			out.NextToken = encodeToken(out.Families[limit-1], scope)
			break
		}
		out.Families = append(out.Families, name)
	}
	st.mu.RUnlock()
	return out, nil
}

// mutateTaskDef applies change to family:rev with a transaction guarded by
// the record's mod revision, first as the view has it and, after a
// conflict, as etcd has it. change returns the new record, or nil to leave
// it as it is. It returns the record as it ends up (nil if there is none)
// and the etcd revision to sync to.
func (st *taskDefState) mutateTaskDef(ctx context.Context, family string, rev int32, change func(cur *taskDefRecord) (*taskDefRecord, error)) (*taskDefRecord, int64, error) {
	key := taskDefKey(family, rev)
	e, ok := st.lookup(family, rev)
	cur, modRev := e.rec, e.modRev
	for attempt := 0; ; attempt++ {
		if attempt > 0 || !ok {
			resp, err := st.store.Range(ctx, store.Range{From: key})
			if err != nil {
				return nil, 0, fmt.Errorf("get %s: %w", key, err)
			}
			if len(resp.Items) == 0 {
				return nil, resp.Revision, nil
			}
			cur = new(taskDefRecord)
			if err := json.Unmarshal(resp.Items[0].Value, cur); err != nil {
				return nil, 0, fmt.Errorf("decode %s: %w", key, err)
			}
			modRev = resp.Items[0].ModRev
		}
		next, err := change(cur)
		if err != nil {
			return nil, 0, err
		}
		if next == nil {
			return cur, modRev, nil
		}
		b, err := json.Marshal(next)
		if err != nil {
			return nil, 0, fmt.Errorf("encode %s: %w", key, err)
		}
		resp, err := st.store.Txn(ctx, []store.Cmp{store.ModRevisionIs(key, modRev)}, store.OpPut(key, b))
		if err != nil {
			return nil, 0, fmt.Errorf("update %s: %w", key, err)
		}
		if resp.Succeeded {
			st.putOwn(tdOwnKey{family, rev, resp.Revision}, next)
			return next, resp.Revision, nil
		}
		if attempt+1 >= tdMaxAttempts {
			return nil, 0, fmt.Errorf("update %s: %w", key, store.ErrConflict)
		}
	}
}

// DeregisterTaskDefinition marks a revision INACTIVE and stamps
// deregisteredAt. It needs family:revision or an ARN with a revision: a
// bare family is refused. Deregistering an INACTIVE revision changes
// nothing and returns it.
func (s *Service) DeregisterTaskDefinition(ctx context.Context, in *ecsapi.DeregisterTaskDefinitionRequest) (*ecsapi.DeregisterTaskDefinitionResponse, error) {
	notFound := apierror.Client("The specified task definition does not exist.")
	ref, err := s.parseTaskDefRef(in.TaskDefinition)
	if errors.Is(err, errTaskDefRefMalformed) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if ref.rev == 0 {
		return nil, apierror.Client("Revision is missing.")
	}
	if ref.foreign {
		return nil, notFound
	}
	st, err := s.taskDefs(ctx)
	if err != nil {
		return nil, err
	}
	now := ecsapi.NewTimestamp(s.now())
	rec, rev, err := st.mutateTaskDef(ctx, ref.family, ref.rev, func(cur *taskDefRecord) (*taskDefRecord, error) {
		if cur.TaskDefinition.Status != tdActive {
			return nil, nil
		}
		next := *cur
		next.TaskDefinition.Status = tdInactive
		next.TaskDefinition.DeregisteredAt = now
		return &next, nil
	})
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, notFound
	}
	st.sync(ctx, rev)
	return &ecsapi.DeregisterTaskDefinitionResponse{TaskDefinition: &rec.TaskDefinition}, nil
}

// The failure reasons of DeleteTaskDefinitions.
const (
	tdDeleteInvalid  = "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."
	tdDeleteNotFound = "The specified task definition does not exist. Specify a valid account, family, revision and try again."
	tdDeleteActive   = "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
)

// DeleteTaskDefinitions deletes up to 10 INACTIVE revisions, named by
// family:revision or ARN. Each is returned with status DELETE_IN_PROGRESS
// and deleteRequestedAt; its record is removed before the call returns (see
// the note at the top of this file). ACTIVE, unknown and malformed ones are
// reported in failures.
func (s *Service) DeleteTaskDefinitions(ctx context.Context, in *ecsapi.DeleteTaskDefinitionsRequest) (*ecsapi.DeleteTaskDefinitionsResponse, error) {
	if len(in.TaskDefinitions) == 0 {
		return nil, apierror.InvalidParameter("size of TaskDefinition references list must be greater than 0")
	}
	if len(in.TaskDefinitions) > 10 {
		return nil, apierror.InvalidParameter("Size of TaskDefinition references list cannot exceed 10")
	}
	type target struct {
		id     string
		ref    tdRef
		modRev int64
		rec    *taskDefRecord
	}
	out := &ecsapi.DeleteTaskDefinitionsResponse{}
	var targets []*target
	seen := map[string]bool{}
	for _, id := range in.TaskDefinitions {
		ref, err := s.parseTaskDefRef(id)
		switch {
		case err != nil && !errors.Is(err, errTaskDefRefMalformed):
			return nil, err
		case err != nil || ref.rev == 0:
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: id, Reason: tdDeleteInvalid})
		case ref.foreign:
			out.Failures = append(out.Failures, ecsapi.Failure{Arn: id, Reason: tdDeleteNotFound})
		default:
			k := taskDefKey(ref.family, ref.rev)
			if !seen[k] {
				seen[k] = true
				targets = append(targets, &target{id: id, ref: ref})
			}
		}
	}
	st, err := s.taskDefs(ctx)
	if err != nil {
		return nil, err
	}
	now := ecsapi.NewTimestamp(s.now())
	var deletable []*target
	var etcdRev int64
	for attempt := 0; ; attempt++ {
		deletable = deletable[:0]
		var failures []ecsapi.Failure
		for _, t := range targets {
			t.rec = nil
			if attempt == 0 {
				if e, ok := st.lookup(t.ref.family, t.ref.rev); ok {
					t.rec, t.modRev = e.rec, e.modRev
				}
			} else {
				key := taskDefKey(t.ref.family, t.ref.rev)
				resp, err := st.store.Range(ctx, store.Range{From: key})
				if err != nil {
					return nil, fmt.Errorf("get %s: %w", key, err)
				}
				if len(resp.Items) > 0 {
					t.rec = new(taskDefRecord)
					if err := json.Unmarshal(resp.Items[0].Value, t.rec); err != nil {
						return nil, fmt.Errorf("decode %s: %w", key, err)
					}
					t.modRev = resp.Items[0].ModRev
				}
			}
			switch {
			case t.rec == nil:
				failures = append(failures, ecsapi.Failure{Arn: t.id, Reason: tdDeleteNotFound})
			case t.rec.TaskDefinition.Status == tdActive:
				failures = append(failures, ecsapi.Failure{Arn: t.id, Reason: tdDeleteActive})
			default:
				deletable = append(deletable, t)
			}
		}
		if len(deletable) == 0 {
			out.Failures = append(out.Failures, failures...)
			break
		}
		cmps := make([]store.Cmp, len(deletable))
		ops := make([]store.Op, len(deletable))
		for i, t := range deletable {
			key := taskDefKey(t.ref.family, t.ref.rev)
			cmps[i] = store.ModRevisionIs(key, t.modRev)
			ops[i] = store.OpDelete(key)
		}
		resp, err := st.store.Txn(ctx, cmps, ops...)
		if err != nil {
			return nil, fmt.Errorf("delete task definitions: %w", err)
		}
		if resp.Succeeded {
			out.Failures = append(out.Failures, failures...)
			etcdRev = resp.Revision
			break
		}
		if attempt+1 >= tdMaxAttempts {
			return nil, fmt.Errorf("delete task definitions: %w", store.ErrConflict)
		}
	}
	for _, t := range deletable {
		td := t.rec.TaskDefinition
		td.Status = tdDeleteInProgress
		td.DeleteRequestedAt = now
		out.TaskDefinitions = append(out.TaskDefinitions, td)
	}
	if etcdRev > 0 {
		st.sync(ctx, etcdRev)
	}
	return out, nil
}
