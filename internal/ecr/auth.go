package ecr

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/caller"
	"github.com/gantry-dev/gantry/internal/ecrapi"
)

// tokenPrefix starts every registry password Gantry issues.
const tokenPrefix = "gantry1."

// GetAuthorizationToken returns a token valid for TokenTTL: base64 of
// "AWS:<password>", the docker login of the registry at proxyEndpoint.
// The password is signed with the shared token key and names the
// caller's access key, so it stops working when that key is removed.
func (a *API) GetAuthorizationToken(ctx context.Context, in *ecrapi.GetAuthorizationTokenRequest) (*ecrapi.GetAuthorizationTokenResponse, error) {
	for _, id := range in.RegistryIds {
		if err := a.checkRegistry(id); err != nil {
			return nil, err
		}
	}
	akid := caller.CallerFrom(ctx).AccessKeyID
	if akid == "" {
		return nil, apierror.New(apierror.CodeAccessDenied, "the request has no authenticated caller")
	}
	key, err := a.TokenKey(ctx)
	if err != nil {
		return nil, a.internal("GetAuthorizationToken", err)
	}
	exp := a.now().Add(TokenTTL).Truncate(time.Second)
	pass := signToken(key, akid, exp)
	n := len(in.RegistryIds)
	if n == 0 {
		n = 1
	}
	out := &ecrapi.GetAuthorizationTokenResponse{}
	for range n {
		out.AuthorizationData = append(out.AuthorizationData, ecrapi.AuthorizationData{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:" + pass)),
			ExpiresAt:          ts(exp),
			ProxyEndpoint:      a.RegistryURL,
		})
	}
	return out, nil
}

func signToken(key []byte, akid string, exp time.Time) string {
	payload := akid + "|" + strconv.FormatInt(exp.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(payload))
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." +
		base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Errors of Authenticate.
var (
	errBadCredentials = errors.New("invalid username or password")
	errExpiredToken   = errors.New("your authorization token has expired; reauthenticate and try again")
)

// Authenticate implements registry.Authenticator: user "AWS" with a
// password of GetAuthorizationToken (signed, unexpired, its access key
// still configured), or an access key ID with its secret. It returns the
// access key the credentials stand for.
func (a *API) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if user == "AWS" {
		return a.checkToken(ctx, pass)
	}
	secret, ok := a.Secret(user)
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(pass)) != 1 {
		return "", errBadCredentials
	}
	return user, nil
}

func (a *API) checkToken(ctx context.Context, pass string) (string, error) {
	rest, ok := strings.CutPrefix(pass, tokenPrefix)
	if !ok {
		return "", errBadCredentials
	}
	p64, s64, ok := strings.Cut(rest, ".")
	if !ok {
		return "", errBadCredentials
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(s64)
	if err1 != nil || err2 != nil {
		return "", errBadCredentials
	}
	key, err := a.TokenKey(ctx)
	if err != nil {
		return "", fmt.Errorf("token key: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return "", errBadCredentials
	}
	akid, expS, ok := strings.Cut(string(payload), "|")
	exp, err := strconv.ParseInt(expS, 10, 64)
	if !ok || err != nil {
		return "", errBadCredentials
	}
	if !a.now().Before(time.Unix(exp, 0)) {
		return "", errExpiredToken
	}
	if _, ok := a.Secret(akid); !ok {
		return "", errBadCredentials
	}
	return akid, nil
}
