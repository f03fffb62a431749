package ecs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/store"
)

// pageToken is what an opaque nextToken carries: the last key returned and
// a fingerprint of the request's filters, so a token is only accepted by the
// listing that issued it.
type pageToken struct {
	After string `json:"a"`
	Scope string `json:"s,omitempty"`
	// Window is, for listings read in windows of the key space (scanPage),
	// the width the last one ended with, in hex.
	Window string `json:"w,omitempty"`
}

// encodeToken returns the nextToken resuming after key for a listing scoped
// by scope.
func encodeToken(after, scope string) string {
	return encodePageToken(pageToken{After: after, Scope: scope})
}

// encodePageToken returns the nextToken that carries pt.
func encodePageToken(pt pageToken) string {
	b, _ := json.Marshal(pt)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken returns the key to resume after ("" for no token).
func decodeToken(tok, scope string) (string, error) {
	pt, err := decodePageToken(tok, scope)
	return pt.After, err
}

// decodePageToken returns the whole token (zero for no token).
func decodePageToken(tok, scope string) (pageToken, error) {
	var pt pageToken
	if tok == "" {
		return pt, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		err = json.Unmarshal(b, &pt)
	}
	if err != nil || pt.Scope != scope || pt.After == "" {
		return pageToken{}, apierror.InvalidParameter("Invalid nextToken.")
	}
	return pt, nil
}

// pageSize validates maxResults (1..max; def when absent).
func pageSize(maxResults *int32, def, max int32) (int, error) {
	if maxResults == nil {
		return int(def), nil
	}
	if *maxResults < 1 || *maxResults > max {
		return 0, apierror.InvalidParameter("maxResults must be between 1 and %d.", max)
	}
	return int(*maxResults), nil
}

// listARNs lists a page of the records of type T under prefix that keep
// accepts, each decoded once, as the ARNs arn gives, resuming after
// nextToken (issued for the same scope) and returning the next one ("" at
// the end).
func listARNs[T any](ctx context.Context, s *API, prefix, scope, nextToken string, limit int,
	keep func(*T) bool, arn func(*T) string) ([]string, string, error) {
	var kept []*T
	items, next, err := s.scanPage(ctx, prefix, scope, nextToken, limit, func(it store.Item) (bool, error) {
		rec := new(T)
		if err := it.Decode(rec); err != nil {
			return false, err
		}
		if !keep(rec) {
			return false, nil
		}
		kept = append(kept, rec)
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	// scanPage looks one accepted record past the page to know there is a
	// next one: the page is the first len(items) kept.
	arns := make([]string, 0, len(items))
	for _, rec := range kept[:len(items)] {
		arns = append(arns, arn(rec))
	}
	return arns, next, nil
}

// scanPage returns up to limit records under prefix that keep accepts, in
// key order, resuming where nextToken (issued for the same scope) left
// off, and the nextToken of the rest ("" when no accepted record follows).
func (s *API) scanPage(ctx context.Context, prefix, scope, nextToken string, limit int, keep func(store.Item) (bool, error)) ([]store.Item, string, error) {
	tok, err := decodePageToken(nextToken, scope)
	if err != nil {
		return nil, "", err
	}
	startAfter := tok.After
	if startAfter != "" && !strings.HasPrefix(startAfter, prefix) {
		return nil, "", apierror.InvalidParameter("Invalid nextToken.")
	}
	width := initialWindow()
	if tok.Window != "" {
		if _, ok := width.SetString(tok.Window, 16); !ok || width.Sign() <= 0 {
			return nil, "", apierror.InvalidParameter("Invalid nextToken.")
		}
	}
	next := func(after string) string {
		return encodePageToken(pageToken{After: after, Scope: scope, Window: width.Text(16)})
	}
	var out []store.Item
	batch := limit + 1
	from := prefix
	if startAfter != "" {
		from = startAfter + "\x00"
	}
	prefixEnd := store.PrefixEnd(prefix)
	// etcd counts every key of a range it is asked for, limit or not, so a
	// page read as [from, end of prefix) would cost the whole rest of the
	// prefix. Read it in windows of the key space instead, grown while
	// they come back sparse and shrunk when they hold many more keys than
	// a page; the next page starts with the width this one ended with.
	for {
		end := windowEnd(prefix, from, width, prefixEnd)
		items, count, err := s.Store.ListRange(ctx, from, end, batch)
		if err != nil {
			return nil, "", err
		}
		if count > int64(2*batch) {
			// Aim the next window at about a page of keys.
			width.Div(width, big.NewInt(count/int64(batch)))
			if width.Sign() == 0 {
				width.SetInt64(1)
			}
		}
		for _, it := range items {
			ok, err := keep(it)
			if err != nil {
				return nil, "", err
			}
			if !ok {
				continue
			}
			if len(out) == limit {
				return out, next(out[limit-1].Key), nil
			}
			out = append(out, it)
		}
		switch {
		case len(items) == batch:
			// The window holds more: go on after the last key read.
			from = items[len(items)-1].Key + "\x00"
		case end == prefixEnd:
			return out, "", nil
		default:
			from = end
			switch {
			case count == 0:
				width.Lsh(width, 4)
			case count < int64(batch):
				width.Lsh(width, 1)
			}
			if width.BitLen() > 8*windowBytes {
				width.Lsh(big.NewInt(1), 8*windowBytes)
			}
		}
	}
}

// windowBytes is how many bytes of a key, after the listing's prefix,
// place it in the key space that listings read in windows.
const windowBytes = 16

// initialWindow is the width of a listing's first window: a 256th of the
// key space of hex IDs (about 2^125 wide as windowBytes-byte numbers).
func initialWindow() *big.Int { return new(big.Int).Lsh(big.NewInt(1), 8*windowBytes-11) }

// windowEnd returns the end of the window of the given width that starts
// at key from: the first windowBytes bytes of from after prefix (padded
// with zeros), as a number, plus width; prefixEnd if that overflows.
func windowEnd(prefix, from string, width *big.Int, prefixEnd string) string {
	var b [windowBytes]byte
	copy(b[:], from[len(prefix):])
	u := new(big.Int).SetBytes(b[:])
	u.Add(u, width)
	if u.BitLen() > 8*windowBytes {
		return prefixEnd
	}
	u.FillBytes(b[:])
	return prefix + string(b[:])
}
