package ops

import (
	"context"
	"encoding/base64"
	"encoding/json"

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
	b, _ := json.Marshal(pageToken{After: after, Scope: scope})
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
func listARNs[T any](ctx context.Context, s *Service, prefix, scope, nextToken string, limit int,
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
