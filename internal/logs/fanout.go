package logs

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
	"github.com/gantry-dev/gantry/internal/peers"
)

// PeerAsker asks the other live servers of the control plane;
// *peers.Client implements it.
type PeerAsker interface {
	Ask(ctx context.Context, op string, in any) ([]peers.Answer, error)
	AskFirst(ctx context.Context, op string, in any, timeout time.Duration) (peers.Answer, bool)
}

// The peer operations of the logs API (see RegisterPeerOps).
const (
	peerOpScan    = "logs/scan"
	peerOpRead    = "logs/read"
	peerOpStreams = "logs/streams"
	peerOpWait    = "logs/wait"
)

// mergedPrefix marks a paging token of a merged (several servers) answer.
const mergedPrefix = "m/"

// cursorDone is a server's entry in a merged FilterLogEvents token once it
// has nothing more to return.
const cursorDone = "-"

// peerScanRequest asks each server for a page of FilterLogEvents from its
// cursor in Cursors (keyed by advertised URL; absent is the start).
type peerScanRequest struct {
	Group         string
	Query         logstore.ScanQuery
	FilterPattern string
	Cursors       map[string]string
}

// peerScanAnswer is one server's page: NotFound when it has no such group.
type peerScanAnswer struct {
	NotFound bool
	Result   logstore.ScanResult
	// Gen is the group's generation before the scan (logstore.Store.Watch).
	Gen uint64
}

// peerStreamsRequest asks for every stream of a group.
type peerStreamsRequest struct {
	Group string
}

// peerStreamsAnswer lists a server's streams of a group.
type peerStreamsAnswer struct {
	NotFound bool
	Streams  []logstore.Stream
}

// RegisterPeerOps registers the operations a server answers its peers
// with, from the local store only.
func (a *API) RegisterPeerOps(s *peers.Server) {
	a.registerGroupOps(s)
	s.Handle(peerOpScan, func(ctx context.Context, body []byte) (any, error) {
		var in peerScanRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return a.localScan(in)
	})
	s.Handle(peerOpRead, func(ctx context.Context, body []byte) (any, error) {
		var in peerReadRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return a.localRead(in)
	})
	s.Handle(peerOpWait, func(ctx context.Context, body []byte) (any, error) {
		var in peerWaitRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return a.localWait(ctx, in)
	})
	s.Handle(peerOpStreams, func(ctx context.Context, body []byte) (any, error) {
		var in peerStreamsRequest
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		return a.localStreams(in.Group)
	})
}

func (a *API) localScan(in peerScanRequest) (peerScanAnswer, error) {
	q := in.Query
	c, ok := in.Cursors[a.Self]
	if c == cursorDone {
		_, gen, _ := a.Store.Watch(in.Group)
		return peerScanAnswer{Gen: gen}, nil
	}
	if ok {
		q.Cursor = c
	}
	var match func(string) bool
	if strings.TrimSpace(in.FilterPattern) != "" {
		p, err := parsePattern(in.FilterPattern)
		if err != nil {
			return peerScanAnswer{}, err
		}
		match = p
	}
	_, gen, _ := a.Store.Watch(in.Group)
	res, err := a.Store.Scan(in.Group, q, match)
	if errors.Is(err, logstore.ErrNotFound) {
		return peerScanAnswer{NotFound: true}, nil
	}
	return peerScanAnswer{Result: res, Gen: gen}, err
}

func (a *API) localStreams(group string) (peerStreamsAnswer, error) {
	var out peerStreamsAnswer
	q := logstore.StreamQuery{Limit: 1000}
	for {
		page, next, err := a.Store.ListStreams(group, q)
		if errors.Is(err, logstore.ErrNotFound) {
			return peerStreamsAnswer{NotFound: true}, nil
		} else if err != nil {
			return out, err
		}
		out.Streams = append(out.Streams, page...)
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

// serverScan is one server's page in a merged FilterLogEvents.
type serverScan struct {
	url string
	res logstore.ScanResult
}

// mergedFilter answers a FilterLogEvents (not tailing) from every live
// server: each scans from its own cursor; the pages are merged in
// (timestamp, stream, server, sequence) order, and the merged page stops
// where the first server that has more stopped, so that no event of a
// later page can sort before one of this page. The nextToken carries one
// cursor per server.
func (a *API) mergedFilter(ctx context.Context, group string, q logstore.ScanQuery, pattern, token string) (*logsapi.FilterLogEventsResponse, error) {
	cursors := map[string]string{}
	if token != "" {
		var err error
		if cursors, err = decodeMerged[map[string]string](token); err != nil {
			return nil, err
		}
	}
	r, err := a.mergeRound(ctx, group, q, pattern, cursors)
	if err != nil {
		return nil, err
	}
	if !r.found && token == "" {
		return nil, errGroupNotFound
	}
	next := ""
	if r.more {
		next = encodeMerged(r.filterCursors())
	}
	return a.filterResponse(r.res, next), nil
}

// round is one merged scan of every server: the merged page, each
// server's cursor after it (cursors, as a tail continues: a server that
// was read to its end stays after the last event it returned), which
// servers were read to their end or have not the group (done), and the
// group's generation on each server before its scan (gens: see
// logstore.Store.Watch).
type round struct {
	res     logstore.ScanResult
	cursors map[string]string
	done    map[string]bool
	gens    map[string]uint64
	found   bool
	more    bool
}

// filterCursors are the cursors of a FilterLogEvents nextToken: those of
// the servers read to their end are cursorDone.
func (r *round) filterCursors() map[string]string {
	out := make(map[string]string, len(r.cursors))
	for u, c := range r.cursors {
		out[u] = c
	}
	for u := range r.done {
		out[u] = cursorDone
	}
	return out
}

// mergeRound scans every live server from its cursor in cursors (absent:
// the query's start) and merges the pages in (timestamp, stream, server,
// sequence) order. The merged page stops where the first server that has
// more stopped, so that no event of a later page can sort before one of
// this page.
func (a *API) mergeRound(ctx context.Context, group string, q logstore.ScanQuery, pattern string, cursors map[string]string) (*round, error) {
	req := peerScanRequest{Group: group, Query: q, FilterPattern: pattern, Cursors: cursors}
	req.Query.Cursor = ""
	answers, err := a.Peers.Ask(ctx, peerOpScan, req)
	if err != nil {
		return nil, storeError(err, "filter log events", errGroupNotFound)
	}
	local, err := a.localScan(req)
	if err != nil {
		return nil, storeError(err, "filter log events", errGroupNotFound)
	}
	r := &round{cursors: map[string]string{}, done: map[string]bool{}, gens: map[string]uint64{}}
	for u, c := range cursors {
		r.cursors[u] = c
	}
	var pages []serverScan
	add := func(url string, p peerScanAnswer) {
		r.gens[url] = p.Gen
		if p.NotFound {
			r.done[url] = true
			return
		}
		r.found = true
		pages = append(pages, serverScan{url, p.Result})
	}
	add(a.Self, local)
	for _, ans := range answers {
		var p peerScanAnswer
		if err := json.Unmarshal(ans.Body, &p); err != nil {
			a.Logger.Warn("a peer's answer is left out", "peer", ans.URL, "err", err)
			continue
		}
		add(ans.URL, p)
	}
	type ref struct {
		page int
		e    logstore.ScanEvent
	}
	less := func(x, y ref) int {
		return cmp.Or(cmp.Compare(x.e.Timestamp, y.e.Timestamp), cmp.Compare(x.e.Stream, y.e.Stream),
			cmp.Compare(pages[x.page].url, pages[y.page].url), cmp.Compare(x.e.Seq, y.e.Seq))
	}
	var all []ref
	var cutoff *ref
	for i, p := range pages {
		for _, e := range p.res.Events {
			all = append(all, ref{i, e})
		}
		if p.res.Cursor == "" {
			continue
		}
		if len(p.res.Events) == 0 {
			// It has more but we cannot tell where: nothing is safe to
			// return before its next page.
			cutoff = &ref{page: -1}
			break
		}
		last := ref{i, p.res.Events[len(p.res.Events)-1]}
		if cutoff == nil || (cutoff.page >= 0 && less(last, *cutoff) < 0) {
			cutoff = &last
		}
	}
	slices.SortFunc(all, less)
	limit := q.Limit
	if limit == 0 {
		limit = logstore.DefaultLimit
	}
	taken := make([]int, len(pages))
	lastTaken := make([]*logstore.ScanEvent, len(pages))
	bytes := 0
	for _, ref := range all {
		if len(r.res.Events) == limit || (cutoff != nil && (cutoff.page < 0 || less(ref, *cutoff) > 0)) {
			break
		}
		bytes += len(ref.e.Message) + EventOverhead
		if bytes > logstore.MaxPageBytes && len(r.res.Events) > 0 {
			break
		}
		r.res.Events = append(r.res.Events, ref.e)
		taken[ref.page]++
		e := ref.e
		lastTaken[ref.page] = &e
	}
	searched := map[string]bool{}
	for i, p := range pages {
		switch {
		case lastTaken[i] != nil && (taken[i] < len(p.res.Events) || p.res.Cursor == ""):
			r.cursors[p.url] = logstore.CursorAfter(lastTaken[i].Stream, lastTaken[i].Timestamp, lastTaken[i].Seq)
		case taken[i] == len(p.res.Events) && p.res.Cursor != "":
			r.cursors[p.url] = p.res.Cursor
		}
		if taken[i] == len(p.res.Events) && p.res.Cursor == "" {
			r.done[p.url] = true
		}
		for _, s := range p.res.Searched {
			done, seen := searched[s.Name]
			searched[s.Name] = s.Completely && (done || !seen)
		}
	}
	// Only the servers that answered keep the paging going: one gone
	// since the last page must not make it endless.
	for _, p := range pages {
		if !r.done[p.url] {
			r.more = true
		}
	}
	for _, name := range slices.Sorted(mapKeys(searched)) {
		r.res.Searched = append(r.res.Searched, logstore.SearchedStream{Name: name, Completely: searched[name]})
	}
	return r, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// encodeMerged is a merged paging token: mergedPrefix and v in JSON,
// base64url.
func encodeMerged(v any) string {
	b, _ := json.Marshal(v)
	return mergedPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// decodeMerged reads a token of encodeMerged; a token not of this form
// is InvalidParameterException.
func decodeMerged[T any](token string) (T, error) {
	var v T
	rest, ok := strings.CutPrefix(token, mergedPrefix)
	if !ok {
		return v, invalidParameter("The specified nextToken is invalid.")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(b, &v) != nil {
		return v, invalidParameter("The specified nextToken is invalid.")
	}
	return v, nil
}

// streamsToken is where a merged DescribeLogStreams page ended: the
// sort key and name of its last stream.
type streamsToken struct {
	Key  int64
	Name string
}

// mergedStreams answers DescribeLogStreams from every live server: the
// union of their streams (a stream on several servers is one, with the
// earliest creation and first event, the latest last event and
// ingestion, and the stored bytes and events summed), ordered and paged
// here.
func (a *API) mergedStreams(ctx context.Context, group string, q logstore.StreamQuery) (*logsapi.DescribeLogStreamsResponse, error) {
	var after *streamsToken
	if q.Cursor != "" {
		t, err := decodeMerged[streamsToken](q.Cursor)
		if err != nil {
			return nil, err
		}
		after = &t
	}
	answers, err := a.Peers.Ask(ctx, peerOpStreams, peerStreamsRequest{Group: group})
	if err != nil {
		return nil, storeError(err, "describe log streams", errGroupNotFound)
	}
	local, err := a.localStreams(group)
	if err != nil {
		return nil, storeError(err, "describe log streams", errGroupNotFound)
	}
	all := []peerStreamsAnswer{local}
	for _, ans := range answers {
		var p peerStreamsAnswer
		if err := json.Unmarshal(ans.Body, &p); err != nil {
			a.Logger.Warn("a peer's answer is left out", "peer", ans.URL, "err", err)
			continue
		}
		all = append(all, p)
	}
	byName := map[string]logstore.Stream{}
	found := false
	for _, p := range all {
		found = found || !p.NotFound
		for _, s := range p.Streams {
			byName[s.Name] = mergeStream(byName[s.Name], s)
		}
	}
	if !found {
		return nil, errGroupNotFound
	}
	key := func(s logstore.Stream) int64 {
		if !q.OrderByLastEventTime {
			return 0
		}
		if s.EventCount == 0 && s.LastIngestionTime == 0 {
			return math.MinInt64
		}
		return s.LastEventTimestamp
	}
	order := func(k1 int64, n1 string, k2 int64, n2 string) int {
		c := cmp.Or(cmp.Compare(k1, k2), cmp.Compare(n1, n2))
		if q.Descending {
			return -c
		}
		return c
	}
	var list []logstore.Stream
	for _, s := range byName {
		if !strings.HasPrefix(s.Name, q.Prefix) {
			continue
		}
		if after != nil && order(key(s), s.Name, after.Key, after.Name) <= 0 {
			continue
		}
		list = append(list, s)
	}
	slices.SortFunc(list, func(x, y logstore.Stream) int { return order(key(x), x.Name, key(y), y.Name) })
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	out := &logsapi.DescribeLogStreamsResponse{LogStreams: []logsapi.LogStream{}}
	if len(list) > limit {
		last := list[limit-1]
		out.NextToken = encodeMerged(streamsToken{key(last), last.Name})
		list = list[:limit]
	}
	for _, s := range list {
		out.LogStreams = append(out.LogStreams, a.logStream(group, s))
	}
	return out, nil
}

// mergeStream combines two servers' records of one stream; a zero acc is
// none.
func mergeStream(acc, s logstore.Stream) logstore.Stream {
	if acc.Name == "" {
		return s
	}
	accEvents, sEvents := acc.EventCount > 0 || acc.LastIngestionTime != 0, s.EventCount > 0 || s.LastIngestionTime != 0
	out := acc
	out.CreationTime = min(acc.CreationTime, s.CreationTime)
	switch {
	case accEvents && sEvents:
		out.FirstEventTimestamp = min(acc.FirstEventTimestamp, s.FirstEventTimestamp)
		out.LastEventTimestamp = max(acc.LastEventTimestamp, s.LastEventTimestamp)
	case sEvents:
		out.FirstEventTimestamp, out.LastEventTimestamp = s.FirstEventTimestamp, s.LastEventTimestamp
	}
	out.LastIngestionTime = max(acc.LastIngestionTime, s.LastIngestionTime)
	out.StoredBytes += s.StoredBytes
	out.EventCount += s.EventCount
	return out
}

// peerWaitRequest holds a peer until its store has events for the group
// that were not there at generation Gens[its URL], or Hold passes.
type peerWaitRequest struct {
	Group string
	Gens  map[string]uint64
	Hold  time.Duration
}

// localWait answers a peer's wait: at once when the group's generation
// has moved since the peer's scan, else when it moves (new events), the
// hold passes or the request ends. A group this server does not hold is
// looked for every groupPoll (an agent that fails over to this server
// brings the group here): found, the wait ends.
func (a *API) localWait(ctx context.Context, in peerWaitRequest) (struct{}, error) {
	hold := min(max(in.Hold, 0), 10*time.Minute)
	t := time.NewTimer(hold)
	defer t.Stop()
	ch, gen, err := a.Store.Watch(in.Group)
	var poll <-chan time.Time
	if err != nil {
		tick := time.NewTicker(groupPoll)
		defer tick.Stop()
		poll = tick.C
	} else if seen, ok := in.Gens[a.Self]; ok && gen != seen {
		return struct{}{}, nil
	} else if !ok && gen != 0 {
		return struct{}{}, nil
	}
	for {
		select {
		case <-poll:
			if _, err := a.Store.Group(in.Group); err != nil {
				continue
			}
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
		case <-a.stopped():
		}
		return struct{}{}, nil
	}
}

// groupPoll is how often a peer's wait looks for a group this server does
// not hold yet.
const groupPoll = 250 * time.Millisecond

// waitMerged waits until a server's store has events for the group that
// its last scan (at generation gens[server]) did not see, TailWait passes,
// the client goes away or the API closes: this server's through its
// store's channel, the others' through a long poll (peerOpWait).
func (a *API) waitMerged(ctx context.Context, group string, gens map[string]uint64) {
	d := a.TailWait
	if d == 0 {
		d = DefaultTailWait
	}
	ch, gen, err := a.Store.Watch(group)
	if err == nil && gen != gens[a.Self] {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	woken := make(chan struct{})
	go func() {
		if _, ok := a.Peers.AskFirst(ctx, peerOpWait, peerWaitRequest{Group: group, Gens: gens, Hold: d}, d+peers.DefaultTimeout); ok {
			close(woken)
		}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-woken:
	case <-t.C:
	case <-ctx.Done():
	case <-a.stopped():
	}
}

// mergedTail answers a tailing FilterLogEvents from every live server:
// each scans from its cursor in cursors; when none has anything new the
// request is held (waitMerged) and scanned again. The answer's nextToken
// is always a tail token with each server's cursor, so a following
// client asks again at once and is held there.
func (a *API) mergedTail(ctx context.Context, group string, q logstore.ScanQuery, pattern string, cursors map[string]string) (*logsapi.FilterLogEventsResponse, error) {
	r, err := a.mergeRound(ctx, group, q, pattern, cursors)
	if err != nil {
		return nil, err
	}
	if len(r.res.Events) == 0 && !r.more {
		a.waitMerged(ctx, group, r.gens)
		if r, err = a.mergeRound(ctx, group, q, pattern, r.cursors); err != nil {
			return nil, err
		}
	}
	return a.filterResponse(r.res, tailPrefix+encodeMerged(r.cursors)), nil
}
