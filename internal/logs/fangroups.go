package logs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
	"github.com/gantry-dev/gantry/internal/peers"
)

// Log groups and streams with several servers. Each server's store holds
// the groups and streams it was asked to create or ingested into, so one
// group may be on several servers, each with its own part of the events.
// The API shows one: a group (or stream) exists when any live server holds
// it; a server asked to write into a group or stream that only a peer
// holds first takes the group (its tags and retention) into its own store
// (adopt); the changes of a group or stream (deletion, retention, tags)
// are applied on every live server that holds it; DescribeLogGroups
// answers the union.

// The peer operations of groups (see RegisterPeerOps).
const (
	peerOpGroup  = "logs/group"
	peerOpGroups = "logs/groups"
	peerOpApply  = "logs/apply"
)

// peerGroupRequest asks a server for one group (and, when Stream is set,
// whether it holds that stream of it).
type peerGroupRequest struct {
	Group, Stream string
}

// peerGroupAnswer is a server's record of a group.
type peerGroupAnswer struct {
	Found, StreamFound bool
	Group              logstore.Group
	Tags               map[string]string
}

// peerGroupsRequest asks a server for all its groups that match.
type peerGroupsRequest struct {
	Prefix, Pattern string
}

// peerGroupsAnswer lists a server's groups.
type peerGroupsAnswer struct {
	Groups []logstore.Group
}

// The changes peerApplyRequest carries.
const (
	applyDeleteGroup  = "deleteGroup"
	applyDeleteStream = "deleteStream"
	applyRetention    = "retention"
	applyTags         = "tags"
)

// peerApplyRequest is a change of a group or stream to apply on every
// server that holds it.
type peerApplyRequest struct {
	Op            string
	Group, Stream string
	Days          int
	Set           map[string]string
	Remove        []string
}

// peerApplyAnswer says whether the server held what was changed.
type peerApplyAnswer struct {
	NotFound bool
}

func (a *API) registerGroupOps(s *peers.Server) {
	handle := s.Handle
	handle(peerOpGroup, func(ctx context.Context, body []byte) (any, error) {
		var in peerGroupRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return a.localGroup(in)
	})
	handle(peerOpGroups, func(ctx context.Context, body []byte) (any, error) {
		var in peerGroupsRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		groups, err := a.localGroups(in)
		return peerGroupsAnswer{Groups: groups}, err
	})
	handle(peerOpApply, func(ctx context.Context, body []byte) (any, error) {
		var in peerApplyRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return a.localApply(in)
	})
}

func (a *API) localGroup(in peerGroupRequest) (peerGroupAnswer, error) {
	g, err := a.Store.Group(in.Group)
	if errors.Is(err, logstore.ErrNotFound) {
		return peerGroupAnswer{}, nil
	} else if err != nil {
		return peerGroupAnswer{}, err
	}
	tags, err := a.Store.Tags(in.Group)
	if err != nil && !errors.Is(err, logstore.ErrNotFound) {
		return peerGroupAnswer{}, err
	}
	out := peerGroupAnswer{Found: true, Group: g, Tags: tags}
	if in.Stream != "" {
		_, err := a.Store.Stream(in.Group, in.Stream)
		out.StreamFound = err == nil
	}
	return out, nil
}

func (a *API) localGroups(in peerGroupsRequest) ([]logstore.Group, error) {
	var out []logstore.Group
	q := logstore.GroupQuery{Prefix: in.Prefix, Pattern: in.Pattern, Limit: 1000}
	for {
		page, next, err := a.Store.ListGroups(q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

func (a *API) localApply(in peerApplyRequest) (peerApplyAnswer, error) {
	var err error
	switch in.Op {
	case applyDeleteGroup:
		err = a.Store.DeleteGroup(in.Group)
	case applyDeleteStream:
		err = a.Store.DeleteStream(in.Group, in.Stream)
	case applyRetention:
		err = a.Store.SetRetention(in.Group, in.Days)
	case applyTags:
		err = a.Store.SetTags(in.Group, in.Set, in.Remove)
	default:
		return peerApplyAnswer{}, fmt.Errorf("unknown change %q", in.Op)
	}
	if errors.Is(err, logstore.ErrNotFound) {
		return peerApplyAnswer{NotFound: true}, nil
	}
	return peerApplyAnswer{}, err
}

// applyEverywhere applies a change on this server and every live peer.
// found says whether any of them held the group (or stream); the error is
// this server's (a peer that fails is logged and left out).
//
// A deletion or retention change that some server held is then recorded
// in etcd (records.go), for the servers that are down now.
func (a *API) applyEverywhere(ctx context.Context, in peerApplyRequest) (found bool, err error) {
	at := a.now()
	found, err = a.applyLive(ctx, in)
	if err != nil || !found {
		return found, err
	}
	if err := a.record(ctx, in, at); err != nil {
		a.Logger.Warn("a change of a log group is applied on the live servers but not recorded for the others", "group", in.Group, "err", err)
		return found, apierror.New(CodeServiceUnavailable, "The change was applied on the live servers but could not be recorded; retry the request.")
	}
	return found, nil
}

// applyLive applies a change on this server and every live peer.
func (a *API) applyLive(ctx context.Context, in peerApplyRequest) (found bool, err error) {
	local, err := a.localApply(in)
	if err != nil {
		return false, err
	}
	found = !local.NotFound
	if a.Peers == nil {
		return found, nil
	}
	answers, err := a.Peers.Ask(ctx, peerOpApply, in)
	if err != nil {
		return found, err
	}
	for _, ans := range answers {
		var p peerApplyAnswer
		if json.Unmarshal(ans.Body, &p) == nil && !p.NotFound {
			found = true
		}
	}
	return found, nil
}

// peerGroup asks the live peers for a group (and stream); the first that
// holds it answers.
func (a *API) peerGroup(ctx context.Context, group, stream string) (peerGroupAnswer, error) {
	if a.Peers == nil {
		return peerGroupAnswer{}, nil
	}
	answers, err := a.Peers.Ask(ctx, peerOpGroup, peerGroupRequest{Group: group, Stream: stream})
	if err != nil {
		return peerGroupAnswer{}, err
	}
	var out peerGroupAnswer
	for _, ans := range answers {
		var p peerGroupAnswer
		if json.Unmarshal(ans.Body, &p) != nil || !p.Found {
			continue
		}
		if !out.Found || p.StreamFound && !out.StreamFound {
			out = p
		}
	}
	return out, nil
}

// adoptGroup returns the group from this server's store; when only a peer
// holds it, it is first created here with the peer's tags and retention.
// Errors: logstore.ErrNotFound when no live server holds it.
func (a *API) adoptGroup(ctx context.Context, name string) (logstore.Group, error) {
	g, err := a.Store.Group(name)
	if !errors.Is(err, logstore.ErrNotFound) || a.Peers == nil {
		return g, err
	}
	p, perr := a.peerGroup(ctx, name, "")
	if perr != nil || !p.Found {
		return g, err
	}
	g, err = a.Store.CreateGroup(name, p.Tags)
	if errors.Is(err, logstore.ErrExists) {
		return a.Store.Group(name)
	} else if err != nil {
		return g, err
	}
	if p.Group.RetentionDays != 0 {
		if err := a.Store.SetRetention(name, p.Group.RetentionDays); err != nil {
			return g, err
		}
		g.RetentionDays = p.Group.RetentionDays
	}
	a.Logger.Info("log group adopted from a peer", "group", name)
	return g, nil
}

// adoptStream makes sure this server's store holds a stream that a peer
// holds (PutLogEvents to a stream created through another server).
// Errors: logstore.ErrNotFound when no live server holds it.
func (a *API) adoptStream(ctx context.Context, group, stream string) error {
	if _, err := a.Store.Stream(group, stream); !errors.Is(err, logstore.ErrNotFound) || a.Peers == nil {
		return err
	}
	p, err := a.peerGroup(ctx, group, stream)
	if err != nil || !p.StreamFound {
		return fmt.Errorf("stream %q: %w", stream, logstore.ErrNotFound)
	}
	if _, err := a.adoptGroup(ctx, group); err != nil {
		return err
	}
	if _, err := a.Store.CreateStream(group, stream); err != nil && !errors.Is(err, logstore.ErrExists) {
		return err
	}
	return nil
}

// mergedGroups answers DescribeLogGroups (without logGroupIdentifiers)
// from every live server: the union of their groups in name order (a
// group on several servers is one, with the earliest creation time, the
// stored bytes summed and the retention of the record created first),
// paged here; the nextToken is mergedPrefix and the page's last name.
func (a *API) mergedGroups(ctx context.Context, in *logsapi.DescribeLogGroupsRequest) (*logsapi.DescribeLogGroupsResponse, error) {
	var after string
	if in.NextToken != "" {
		var err error
		if after, err = decodeMerged[string](in.NextToken); err != nil {
			return nil, err
		}
	}
	req := peerGroupsRequest{Prefix: in.LogGroupNamePrefix, Pattern: in.LogGroupNamePattern}
	answers, err := a.Peers.Ask(ctx, peerOpGroups, req)
	if err != nil {
		return nil, storeError(err, "describe log groups", errGroupNotFound)
	}
	local, err := a.localGroups(req)
	if err != nil {
		return nil, storeError(err, "describe log groups", errGroupNotFound)
	}
	byName := map[string]logstore.Group{}
	add := func(groups []logstore.Group) {
		for _, g := range groups {
			// The store matches the pattern ignoring case; AWS does not.
			if in.LogGroupNamePattern != "" && !strings.Contains(g.Name, in.LogGroupNamePattern) {
				continue
			}
			if g.Name <= after && after != "" {
				continue
			}
			acc, ok := byName[g.Name]
			if !ok {
				byName[g.Name] = g
				continue
			}
			if g.CreationTime < acc.CreationTime {
				acc.CreationTime, acc.RetentionDays = g.CreationTime, g.RetentionDays
			}
			acc.StoredBytes += g.StoredBytes
			byName[g.Name] = acc
		}
	}
	add(local)
	for _, ans := range answers {
		var p peerGroupsAnswer
		if err := json.Unmarshal(ans.Body, &p); err != nil {
			a.Logger.Warn("a peer's answer is left out", "peer", ans.URL, "err", err)
			continue
		}
		add(p.Groups)
	}
	list := slices.SortedFunc(func(yield func(logstore.Group) bool) {
		for _, g := range byName {
			if !yield(g) {
				return
			}
		}
	}, func(x, y logstore.Group) int { return cmp.Compare(x.Name, y.Name) })
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	out := &logsapi.DescribeLogGroupsResponse{LogGroups: []logsapi.LogGroup{}}
	if len(list) > limit {
		list = list[:limit]
		out.NextToken = encodeMerged(list[limit-1].Name)
	}
	for _, g := range list {
		out.LogGroups = append(out.LogGroups, a.logGroup(g, in.LogGroupNamePattern != ""))
	}
	return out, nil
}
