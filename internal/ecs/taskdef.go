package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/state"
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

// tdMaxAttempts bounds the attempts of a guarded write of task
// definitions.
const tdMaxAttempts = 30

// errTaskDefRefMalformed marks a task definition identifier that names no
// possible task definition.
var errTaskDefRefMalformed = errors.New("malformed task definition identifier")

// RegisterTaskDefinition registers a new revision of a family: the request
// validated as ECS validates it, every member stored as given (task cpu and
// memory normalised to CPU units and MiB as ECS returns them), and the
// derived members added. The revision is the family's next, never reused.
func (s *API) RegisterTaskDefinition(ctx context.Context, in *ecsapi.RegisterTaskDefinitionRequest) (*ecsapi.RegisterTaskDefinitionResponse, error) {
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
	td.RegisteredBy = caller.CallerFrom(ctx).Principal
	rec := &taskDefRecord{TaskDefinition: td, Tags: in.Tags}
	etcdRev, err := st.Register(ctx, rec, s.TaskDefinitionARN)
	if err != nil {
		return nil, err
	}
	st.Sync(ctx, etcdRev)
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
func (s *API) parseTaskDefRef(id string) (tdRef, error) {
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
// names nothing, after catching up with the store. The record is shared: copy it before changing anything.
func (s *API) lookupTaskDef(ctx context.Context, id string) (*taskDefRecord, error) {
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
	e, ok := st.Lookup(ref.family, ref.rev)
	if !ok {
		// A miss may be a registration another server has just made that
		// this server's view has not seen yet: catch up with the store
		// once before answering that it does not exist.
		st.SyncNow(ctx)
		if e, ok = st.Lookup(ref.family, ref.rev); !ok {
			return nil, nil
		}
	}
	return e.Rec, nil
}

// DescribeTaskDefinition returns a task definition: the latest ACTIVE
// revision of a family, a family:revision, or the one an ARN names, with
// its tags when include has TAGS. Anything else is ClientException "Unable
// to describe task definition.", as ECS answers.
func (s *API) DescribeTaskDefinition(ctx context.Context, in *ecsapi.DescribeTaskDefinitionRequest) (*ecsapi.DescribeTaskDefinitionResponse, error) {
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
	e, ok := st.Lookup(ref.family, ref.rev)
	if !ok {
		return nil, notFound()
	}
	out := &ecsapi.DescribeTaskDefinitionResponse{TaskDefinition: &e.Rec.TaskDefinition}
	if withTags {
		out.Tags = e.Rec.Tags
	}
	return out, nil
}

// ListTaskDefinitions lists task definition ARNs by family and revision
// (descending both with sort DESC), of one status (ACTIVE by default),
// optionally of one family: familyPrefix is, as in ECS, the full family
// name. Pages hold maxResults (1..100, default 100) ARNs.
func (s *API) ListTaskDefinitions(ctx context.Context, in *ecsapi.ListTaskDefinitionsRequest) (*ecsapi.ListTaskDefinitionsResponse, error) {
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
	st.SyncNow(ctx)
	out := &ecsapi.ListTaskDefinitionsResponse{}
	var last state.TDEntry
	more := false
	st.Read(func(v *state.TDView) {
		visit := func(family string) bool {
			f := v.Families[family]
			if f == nil {
				return true
			}
			n := len(f.Revs)
			for k := 0; k < n; k++ {
				i := k
				if desc {
					i = n - 1 - k
				}
				e := f.Revs[i]
				if after != "" && family == afterFamily && (!desc && e.Rev <= afterRev || desc && e.Rev >= afterRev) {
					continue
				}
				if e.Rec.TaskDefinition.Status != status {
					continue
				}
				if len(out.TaskDefinitionArns) == limit {
					more = true
					return false
				}
				out.TaskDefinitionArns = append(out.TaskDefinitionArns, e.Rec.TaskDefinition.TaskDefinitionArn)
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
			i := len(v.Names)
			if after != "" {
				j, found := slices.BinarySearch(v.Names, afterFamily)
				if found {
					j++
				}
				i = j
			}
			for i--; i >= 0 && visit(v.Names[i]); i-- {
			}
		default:
			i := 0
			if after != "" {
				i, _ = slices.BinarySearch(v.Names, afterFamily)
			}
			for ; i < len(v.Names) && visit(v.Names[i]); i++ {
			}
		}
	})
	if more {
		out.NextToken = encodeToken(last.Rec.TaskDefinition.Family+":"+itoa(int64(last.Rev)), scope)
	}
	return out, nil
}

// ListTaskDefinitionFamilies lists family names in order, those starting
// with familyPrefix, of a status: ACTIVE families have an ACTIVE revision,
// INACTIVE ones have revisions but none ACTIVE, ALL (the default) is both.
// A family whose revisions were all deleted is listed no more.
func (s *API) ListTaskDefinitionFamilies(ctx context.Context, in *ecsapi.ListTaskDefinitionFamiliesRequest) (*ecsapi.ListTaskDefinitionFamiliesResponse, error) {
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
	st.SyncNow(ctx)
	out := &ecsapi.ListTaskDefinitionFamiliesResponse{}
	st.Read(func(v *state.TDView) {
		i, _ := slices.BinarySearch(v.Names, max(after+"\x00", in.FamilyPrefix))
		for ; i < len(v.Names); i++ {
			name := v.Names[i]
			if !strings.HasPrefix(name, in.FamilyPrefix) {
				break
			}
			active := v.Families[name].Active > 0
			if status == "ACTIVE" && !active || status == "INACTIVE" && active {
				continue
			}
			if len(out.Families) == limit {
				out.NextToken = encodeToken(out.Families[limit-1], scope)
				break
			}
			out.Families = append(out.Families, name)
		}
	})
	return out, nil
}

// DeregisterTaskDefinition marks a revision INACTIVE and stamps
// deregisteredAt. It needs family:revision or an ARN with a revision: a
// bare family is refused. Deregistering an INACTIVE revision changes
// nothing and returns it.
func (s *API) DeregisterTaskDefinition(ctx context.Context, in *ecsapi.DeregisterTaskDefinitionRequest) (*ecsapi.DeregisterTaskDefinitionResponse, error) {
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
	rec, rev, err := st.Mutate(ctx, ref.family, ref.rev, func(cur *taskDefRecord) (*taskDefRecord, error) {
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
	st.Sync(ctx, rev)
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
func (s *API) DeleteTaskDefinitions(ctx context.Context, in *ecsapi.DeleteTaskDefinitionsRequest) (*ecsapi.DeleteTaskDefinitionsResponse, error) {
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
				if e, ok := st.Lookup(t.ref.family, t.ref.rev); ok {
					t.rec, t.modRev = e.Rec, e.ModRev
				}
			} else {
				key := taskDefKey(t.ref.family, t.ref.rev)
				resp, err := s.Store.Range(ctx, store.Range{From: key})
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
		arns := make([]string, len(deletable))
		for i, t := range deletable {
			arns[i] = t.rec.TaskDefinition.TaskDefinitionArn
		}
		// A revision still in use is kept in DELETE_IN_PROGRESS until its
		// use ends (ReapTaskDefinitions); the others go at once.
		used, err := s.taskDefsInUse(ctx, arns)
		if err != nil {
			return nil, err
		}
		cmps := make([]store.Cmp, len(deletable))
		ops := make([]store.Op, len(deletable))
		for i, t := range deletable {
			key := taskDefKey(t.ref.family, t.ref.rev)
			cmps[i] = store.ModRevisionIs(key, t.modRev)
			ops[i] = store.OpDelete(key)
			if used[arns[i]] {
				kept := *t.rec
				kept.TaskDefinition.Status = tdDeleteInProgress
				if kept.TaskDefinition.DeleteRequestedAt == nil {
					kept.TaskDefinition.DeleteRequestedAt = now
				}
				b, err := json.Marshal(&kept)
				if err != nil {
					return nil, err
				}
				ops[i] = store.OpPut(key, b)
			}
		}
		resp, err := s.Store.Txn(ctx, cmps, ops...)
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
		if td.DeleteRequestedAt == nil {
			td.DeleteRequestedAt = now
		}
		out.TaskDefinitions = append(out.TaskDefinitions, td)
	}
	if etcdRev > 0 {
		st.Sync(ctx, etcdRev)
	}
	return out, nil
}
