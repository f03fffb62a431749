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
)

// A stream written through several servers (an agent that failed over,
// PutLogEvents sent to either server) has a part in each server's store.
// GetLogEvents merges the parts in (timestamp, server URL, sequence)
// order, which agrees with each store's own (timestamp, sequence) order.
// A merged token is a position in that order, readKey, so it needs no
// per-server state: each server turns it into a position in its own store
// (readKey.pos).

// readKey is a position in the merged order of a stream's events: the
// event (T, U, S) where T is the timestamp, U the URL of the server that
// holds it and S its sequence in that server's store.
type readKey struct {
	T int64
	U string
	S uint64
}

// compare orders keys: timestamp, then server, then sequence.
func (k readKey) compare(o readKey) int {
	return cmp.Or(cmp.Compare(k.T, o.T), cmp.Compare(k.U, o.U), cmp.Compare(k.S, o.S))
}

// pos is where the events of server url at or after k begin in its own
// store (the events before k end there).
func (k readKey) pos(url string) (int64, uint64) {
	switch c := strings.Compare(url, k.U); {
	case c == 0:
		return k.T, k.S
	case c > 0:
		return k.T, 0
	case k.T == math.MaxInt64:
		return math.MaxInt64, math.MaxUint64
	default:
		return k.T + 1, 0
	}
}

// after is the key right after k.
func (k readKey) after() readKey {
	if k.S == math.MaxUint64 {
		return readKey{T: k.T + 1, U: k.U}
	}
	return readKey{T: k.T, U: k.U, S: k.S + 1}
}

// encodeReadKey is a merged GetLogEvents token: "f/" (the events at or
// after k) or "b/" (those before k), then base64url(JSON of k). It keeps
// AWS's shape, which the AWS CLI's paginator relies on.
func encodeReadKey(forward bool, k readKey) string {
	b, _ := json.Marshal(k)
	d := "b/"
	if forward {
		d = "f/"
	}
	return d + base64.RawURLEncoding.EncodeToString(b)
}

// decodeReadKey reads a token of encodeReadKey; anything else is
// InvalidParameterException.
func decodeReadKey(token string) (forward bool, k readKey, err error) {
	bad := invalidParameter("The specified nextToken is invalid.")
	switch {
	case strings.HasPrefix(token, "f/"):
		forward = true
	case strings.HasPrefix(token, "b/"):
	default:
		return false, k, bad
	}
	b, derr := base64.RawURLEncoding.DecodeString(token[2:])
	if derr != nil || json.Unmarshal(b, &k) != nil {
		return false, k, bad
	}
	return forward, k, nil
}

// peerReadRequest asks each server for its page of one stream: from Key
// (in Forward direction) when set, else as Query says.
type peerReadRequest struct {
	Group, Stream string
	Query         logstore.ReadQuery
	Key           *readKey
	Forward       bool
}

// peerReadAnswer is one server's page of a stream: GroupNotFound or
// StreamNotFound when it has not that group or stream; More when it holds
// events beyond the page (in the direction read).
type peerReadAnswer struct {
	GroupNotFound, StreamNotFound bool
	Events                        []logstore.Event
	More                          bool
}

// localRead reads this server's page of a merged GetLogEvents.
func (a *API) localRead(in peerReadRequest) (peerReadAnswer, error) {
	q := in.Query
	forward := q.StartFromHead
	if in.Key != nil {
		forward = in.Forward
		ts, seq := in.Key.pos(a.Self)
		q.Token = logstore.ReadToken(forward, ts, seq)
	}
	res, err := a.Store.Read(in.Group, in.Stream, q)
	if errors.Is(err, logstore.ErrNotFound) {
		if _, gerr := a.Store.Group(in.Group); errors.Is(gerr, logstore.ErrNotFound) {
			return peerReadAnswer{GroupNotFound: true}, nil
		}
		return peerReadAnswer{StreamNotFound: true}, nil
	} else if err != nil {
		return peerReadAnswer{}, err
	}
	out := peerReadAnswer{Events: res.Events}
	if len(res.Events) > 0 {
		// Is there more beyond the page? One more event tells.
		next := q
		next.Limit = 1
		next.Token = res.NextBackwardToken
		if forward {
			next.Token = res.NextForwardToken
		}
		more, err := a.Store.Read(in.Group, in.Stream, next)
		if err != nil && !errors.Is(err, logstore.ErrNotFound) {
			return peerReadAnswer{}, err
		}
		out.More = len(more.Events) > 0
	}
	return out, nil
}

// readRef is an event of a merged read with the server that holds it.
type readRef struct {
	key readKey
	e   logstore.Event
}

// mergedRead answers GetLogEvents from every live server: each reads its
// part of the stream from the token's position; the parts merge in key
// order. A forward page stops at the last event of the first server (in
// that order) that has more, a backward page at the first event of the
// last such server, so that no event is skipped between pages. At either
// end the token given comes back unchanged, as AWS does.
func (a *API) mergedRead(ctx context.Context, group, stream string, q logstore.ReadQuery) (*logsapi.GetLogEventsResponse, error) {
	req := peerReadRequest{Group: group, Stream: stream, Query: q}
	req.Query.Token = ""
	forward := q.StartFromHead
	if q.Token != "" {
		f, k, err := decodeReadKey(q.Token)
		if err != nil {
			return nil, err
		}
		forward, req.Key, req.Forward = f, &k, f
	}
	answers, err := a.Peers.Ask(ctx, peerOpRead, req)
	if err != nil {
		return nil, a.streamError(err, group, "get log events")
	}
	local, err := a.localRead(req)
	if err != nil {
		return nil, a.streamError(err, group, "get log events")
	}
	type part struct {
		url string
		ans peerReadAnswer
	}
	parts := []part{{a.Self, local}}
	for _, ans := range answers {
		var p peerReadAnswer
		if err := json.Unmarshal(ans.Body, &p); err != nil {
			a.Logger.Warn("a peer's answer is left out", "peer", ans.URL, "err", err)
			continue
		}
		parts = append(parts, part{ans.URL, p})
	}
	groupFound, streamFound := false, false
	var all []readRef
	var cutoff *readKey
	for _, p := range parts {
		groupFound = groupFound || !p.ans.GroupNotFound
		streamFound = streamFound || !(p.ans.GroupNotFound || p.ans.StreamNotFound)
		evs := p.ans.Events
		for _, e := range evs {
			all = append(all, readRef{readKey{e.Timestamp, p.url, e.Seq}, e})
		}
		if !p.ans.More || len(evs) == 0 {
			continue
		}
		if forward {
			last := readKey{evs[len(evs)-1].Timestamp, p.url, evs[len(evs)-1].Seq}
			if cutoff == nil || last.compare(*cutoff) < 0 {
				cutoff = &last
			}
		} else {
			first := readKey{evs[0].Timestamp, p.url, evs[0].Seq}
			if cutoff == nil || first.compare(*cutoff) > 0 {
				cutoff = &first
			}
		}
	}
	switch {
	case !groupFound:
		return nil, errGroupNotFound
	case !streamFound:
		return nil, errStreamNotFound
	}
	slices.SortFunc(all, func(x, y readRef) int { return x.key.compare(y.key) })
	if cutoff != nil {
		all = slices.DeleteFunc(all, func(r readRef) bool {
			if forward {
				return r.key.compare(*cutoff) > 0
			}
			return r.key.compare(*cutoff) < 0
		})
	}
	limit := q.Limit
	if limit == 0 {
		limit = logstore.DefaultLimit
	}
	if len(all) > limit {
		if forward {
			all = all[:limit]
		} else {
			all = all[len(all)-limit:]
		}
	}
	// The page bound of one store holds for the merged page too: keep
	// the events nearest the start of the read, at least one.
	size := 0
	for i := range all {
		j := i
		if !forward {
			j = len(all) - 1 - i
		}
		size += len(all[j].e.Message) + EventOverhead
		if size > logstore.MaxPageBytes && i > 0 {
			if forward {
				all = all[:j]
			} else {
				all = all[j+1:]
			}
			break
		}
	}
	out := &logsapi.GetLogEventsResponse{Events: make([]logsapi.OutputLogEvent, len(all))}
	for i, r := range all {
		ts, ing := r.e.Timestamp, r.e.IngestionTime
		out.Events[i] = logsapi.OutputLogEvent{Timestamp: &ts, Message: r.e.Message, IngestionTime: &ing}
	}
	if len(all) > 0 {
		out.NextForwardToken = encodeReadKey(true, all[len(all)-1].key.after())
		out.NextBackwardToken = encodeReadKey(false, all[0].key)
		return out, nil
	}
	// Nothing on this side: the token given comes back, and the other
	// direction starts where this one did.
	from := readKey{T: math.MaxInt64}
	switch {
	case req.Key != nil:
		from = *req.Key
	case forward && q.StartTime != 0:
		from = readKey{T: q.StartTime}
	case forward:
		from = readKey{T: math.MinInt64}
	case q.EndTime > 0:
		from = readKey{T: q.EndTime}
	}
	tok := q.Token
	if tok == "" {
		tok = encodeReadKey(forward, from)
	}
	out.NextForwardToken, out.NextBackwardToken = tok, tok
	switch {
	case forward:
		out.NextBackwardToken = encodeReadKey(false, from)
	case q.Token == "":
		// The whole range is empty: read forward from its start, so that
		// events appended later are found.
		start := readKey{T: math.MinInt64}
		if q.StartTime != 0 {
			start = readKey{T: q.StartTime}
		}
		out.NextForwardToken = encodeReadKey(true, start)
	default:
		out.NextForwardToken = encodeReadKey(true, from)
	}
	return out, nil
}
