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

	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/logsapi"
	"github.com/gantry-dev/gantry/internal/peers"
)

// PeerAsker asks the other live servers of the control plane;
// *peers.Client implements it.
type PeerAsker interface {
	Ask(ctx context.Context, op string, in any) ([]peers.Answer, error)
}

// The peer operations of the logs API (see RegisterPeerOps).
const (
	peerOpScan    = "logs/scan"
	peerOpRead    = "logs/read"
	peerOpStreams = "logs/streams"
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
}

// peerReadRequest asks the servers for a page of one stream; with Only
// set only that server answers (the others answer NotFound).
type peerReadRequest struct {
	Group, Stream string
	Query         logstore.ReadQuery
	Only          string
}

// peerReadAnswer is one server's page of a stream: GroupNotFound or
// StreamNotFound when it has not that group or stream; LastIngestion is
// the stream's last ingestion time.
type peerReadAnswer struct {
	GroupNotFound, StreamNotFound bool
	LastIngestion                 int64
	Result                        logstore.ReadResult
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
		return peerScanAnswer{}, nil
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
	res, err := a.Store.Scan(in.Group, q, match)
	if errors.Is(err, logstore.ErrNotFound) {
		return peerScanAnswer{NotFound: true}, nil
	}
	return peerScanAnswer{Result: res}, err
}

func (a *API) localRead(in peerReadRequest) (peerReadAnswer, error) {
	if in.Only != "" && in.Only != a.Self {
		return peerReadAnswer{StreamNotFound: true}, nil
	}
	if _, err := a.Store.Group(in.Group); errors.Is(err, logstore.ErrNotFound) {
		return peerReadAnswer{GroupNotFound: true}, nil
	}
	st, err := a.Store.Stream(in.Group, in.Stream)
	if errors.Is(err, logstore.ErrNotFound) {
		return peerReadAnswer{StreamNotFound: true}, nil
	} else if err != nil {
		return peerReadAnswer{}, err
	}
	res, err := a.Store.Read(in.Group, in.Stream, in.Query)
	if errors.Is(err, logstore.ErrNotFound) {
		return peerReadAnswer{StreamNotFound: true}, nil
	}
	return peerReadAnswer{LastIngestion: st.LastIngestionTime, Result: res}, err
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
	found := !local.NotFound
	var pages []serverScan
	if local.NotFound {
		cursors[a.Self] = cursorDone
	} else {
		pages = append(pages, serverScan{a.Self, local.Result})
	}
	for _, ans := range answers {
		var p peerScanAnswer
		if err := json.Unmarshal(ans.Body, &p); err != nil {
			a.Logger.Warn("a peer's answer is left out", "peer", ans.URL, "err", err)
			continue
		}
		if p.NotFound {
			cursors[ans.URL] = cursorDone
			continue
		}
		found = true
		pages = append(pages, serverScan{ans.URL, p.Result})
	}
	if !found && token == "" {
		return nil, errGroupNotFound
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
	var res logstore.ScanResult
	taken := make([]int, len(pages))
	lastTaken := make([]*logstore.ScanEvent, len(pages))
	bytes := 0
	for _, r := range all {
		if len(res.Events) == limit || (cutoff != nil && (cutoff.page < 0 || less(r, *cutoff) > 0)) {
			break
		}
		bytes += len(r.e.Message) + 26
		if bytes > logstore.MaxPageBytes && len(res.Events) > 0 {
			break
		}
		res.Events = append(res.Events, r.e)
		taken[r.page]++
		e := r.e
		lastTaken[r.page] = &e
	}
	more := false
	searched := map[string]bool{}
	for i, p := range pages {
		switch {
		case taken[i] == len(p.res.Events) && p.res.Cursor == "":
			cursors[p.url] = cursorDone
		case taken[i] == len(p.res.Events):
			cursors[p.url] = p.res.Cursor
		case lastTaken[i] != nil:
			cursors[p.url] = logstore.CursorAfter(lastTaken[i].Stream, lastTaken[i].Timestamp, lastTaken[i].Seq)
		}
		for _, s := range p.res.Searched {
			done, seen := searched[s.Name]
			searched[s.Name] = s.Completely && (done || !seen)
		}
	}
	// Only the servers that answered keep the paging going: one gone
	// since the last page must not make it endless.
	for _, p := range pages {
		if cursors[p.url] != cursorDone {
			more = true
		}
	}
	for _, name := range slices.Sorted(mapKeys(searched)) {
		res.Searched = append(res.Searched, logstore.SearchedStream{Name: name, Completely: searched[name]})
	}
	next := ""
	if more {
		next = encodeMerged(cursors)
	}
	return a.filterResponse(res, next), nil
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

// wrapReadToken is a GetLogEvents token of a merged answer: the store's
// token ("f/..." or "b/...") with the URL of the server that holds the
// stream after the direction, "f/<base64url(server)>/<position>", so that
// it still reads as AWS's forward and backward tokens do.
func wrapReadToken(server, token string) string {
	if len(token) < 2 {
		return token
	}
	return token[:2] + base64.RawURLEncoding.EncodeToString([]byte(server)) + "/" + token[2:]
}

// unwrapReadToken splits a token of wrapReadToken; anything else is
// InvalidParameterException.
func unwrapReadToken(token string) (server, inner string, err error) {
	bad := invalidParameter("The specified nextToken is invalid.")
	if !strings.HasPrefix(token, "f/") && !strings.HasPrefix(token, "b/") {
		return "", "", bad
	}
	enc, rest, ok := strings.Cut(token[2:], "/")
	if !ok {
		return "", "", bad
	}
	u, derr := base64.RawURLEncoding.DecodeString(enc)
	if derr != nil || len(u) == 0 {
		return "", "", bad
	}
	return string(u), token[:2] + rest, nil
}

// mergedRead answers GetLogEvents from the server that holds the stream:
// the one named by the token, else (of those that hold it) the one that
// ingested into it last. Its tokens are wrapped with its URL.
func (a *API) mergedRead(ctx context.Context, group, stream string, q logstore.ReadQuery) (*logsapi.GetLogEventsResponse, error) {
	req := peerReadRequest{Group: group, Stream: stream, Query: q}
	if q.Token != "" {
		var err error
		if req.Only, req.Query.Token, err = unwrapReadToken(q.Token); err != nil {
			return nil, err
		}
	}
	answers, err := a.Peers.Ask(ctx, peerOpRead, req)
	if err != nil {
		return nil, a.streamError(err, group, "get log events")
	}
	local, err := a.localRead(req)
	if err != nil {
		return nil, a.streamError(err, group, "get log events")
	}
	best, bestURL, groupFound := (*peerReadAnswer)(nil), "", false
	consider := func(url string, p peerReadAnswer) {
		groupFound = groupFound || !p.GroupNotFound
		if p.GroupNotFound || p.StreamNotFound {
			return
		}
		if best == nil || p.LastIngestion > best.LastIngestion {
			best, bestURL = &p, url
		}
	}
	consider(a.Self, local)
	for _, ans := range answers {
		var p peerReadAnswer
		if err := json.Unmarshal(ans.Body, &p); err != nil {
			a.Logger.Warn("a peer's answer is left out", "peer", ans.URL, "err", err)
			continue
		}
		consider(ans.URL, p)
	}
	switch {
	case best != nil:
	case !groupFound && req.Only == "":
		return nil, errGroupNotFound
	default:
		return nil, errStreamNotFound
	}
	res := best.Result
	res.NextForwardToken = wrapReadToken(bestURL, res.NextForwardToken)
	res.NextBackwardToken = wrapReadToken(bestURL, res.NextBackwardToken)
	return readResponse(res), nil
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
