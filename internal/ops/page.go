package ops

import (
	"encoding/base64"
	"encoding/json"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// pageToken is what an opaque nextToken carries: the last key returned and
// a fingerprint of the request's filters, so a token is only accepted by the
// listing that issued it.
type pageToken struct {
	After string `json:"a"`
	Scope string `json:"s,omitempty"`
}

// encodeToken returns the nextToken resuming after key for a listing scoped
// by scope.
func encodeToken(after, scope string) string {
	b, _ := json.Marshal(pageToken{After: after, Scope: scope})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken returns the key to resume after ("" for no token).
func decodeToken(tok, scope string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	var pt pageToken
	if err == nil {
		err = json.Unmarshal(b, &pt)
	}
	if err != nil || pt.Scope != scope || pt.After == "" {
		return "", apierror.InvalidParameter("Invalid nextToken.")
	}
	return pt.After, nil
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
