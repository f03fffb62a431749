// Package ecrauth gives the agent what it needs to pull images of Gantry's
// registry as the ECS agent pulls ECR images: the registry's address and a
// login, from ECR's GetAuthorizationToken on the control plane, called with
// the agent's own credentials and cached until shortly before the token
// expires. It also maps the ECR host form of an image,
// ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST], onto the
// registry's address, so that task definitions written for ECR run
// unchanged.
package ecrauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/ecrapi"
)

// Caller calls an operation of a JSON 1.1 service on the control plane
// (ecsclient.Client.CallService).
type Caller interface {
	CallService(ctx context.Context, signingName, targetPrefix, op string, in, out any) error
}

// ecrHostRE matches the host of an ECR image name.
var ecrHostRE = regexp.MustCompile(`^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// IsECRHost reports whether host is an Amazon ECR registry host name.
func IsECRHost(host string) bool { return ecrHostRE.MatchString(host) }

// refresh is how long before its expiry a token is replaced.
const refresh = time.Hour

// retryAfter is how long a failed GetAuthorizationToken is not retried.
const retryAfter = 30 * time.Second

// Resolver resolves image names to what Docker pulls, with the login of
// the control plane's registry. Safe for concurrent use.
type Resolver struct {
	c   Caller
	now func() time.Time

	mu       sync.Mutex
	host     string // the registry's host[:port]; "" when unknown
	auth     string // Docker's X-Registry-Auth for it
	expires  time.Time
	failedAt time.Time
	lastErr  error
}

// New returns a Resolver that asks c for tokens; now is its clock (nil
// for time.Now).
func New(c Caller, now func() time.Time) *Resolver {
	if now == nil {
		now = time.Now
	}
	return &Resolver{c: c, now: now}
}

// splitHost splits an image name into its registry host (empty for Docker
// Hub's short names) and the rest.
func splitHost(image string) (host, rest string) {
	i := strings.IndexByte(image, '/')
	if i < 0 {
		return "", image
	}
	h := image[:i]
	if !strings.ContainsAny(h, ".:") && h != "localhost" {
		return "", image
	}
	return h, image[i+1:]
}

// Resolve returns the reference Docker should use for image and the
// registry authentication to pull it with (empty for none). An ECR host
// form becomes the Gantry registry's name; an image of the Gantry
// registry gets its login. Images of other registries come back as they
// are. An ECR host form that cannot be mapped (the control plane serves no
// registry, or cannot be reached) is an error that says why.
func (r *Resolver) Resolve(ctx context.Context, image string) (ref, auth string, err error) {
	host, rest := splitHost(image)
	if host == "" {
		return image, "", nil
	}
	isECR := IsECRHost(host)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ensure(ctx); err != nil {
		if isECR {
			return "", "", fmt.Errorf("the ECR image %s cannot be mapped to Gantry's registry: %w", image, err)
		}
		return image, "", nil
	}
	switch {
	case isECR:
		return r.host + "/" + rest, r.auth, nil
	case host == r.host:
		return image, r.auth, nil
	}
	return image, "", nil
}

// ensure holds a fresh token, fetching one when needed. The caller holds
// r.mu.
func (r *Resolver) ensure(ctx context.Context) error {
	now := r.now()
	if r.host != "" && now.Before(r.expires.Add(-refresh)) {
		return nil
	}
	if r.lastErr != nil && now.Sub(r.failedAt) < retryAfter {
		if r.host != "" && now.Before(r.expires) {
			return nil // the old token is still valid
		}
		return r.lastErr
	}
	var out ecrapi.GetAuthorizationTokenResponse
	err := r.c.CallService(ctx, ecrapi.SigningName, ecrapi.TargetPrefix, "GetAuthorizationToken", &ecrapi.GetAuthorizationTokenRequest{}, &out)
	if err == nil {
		err = r.take(out)
	}
	if err != nil {
		r.lastErr, r.failedAt = fmt.Errorf("GetAuthorizationToken: %w", err), now
		if r.host != "" && now.Before(r.expires) {
			return nil
		}
		return r.lastErr
	}
	r.lastErr = nil
	return nil
}

func (r *Resolver) take(out ecrapi.GetAuthorizationTokenResponse) error {
	if len(out.AuthorizationData) == 0 {
		return fmt.Errorf("no authorization data")
	}
	d := out.AuthorizationData[0]
	u, err := url.Parse(d.ProxyEndpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("the control plane serves no registry (proxyEndpoint %q)", d.ProxyEndpoint)
	}
	raw, err := base64.StdEncoding.DecodeString(d.AuthorizationToken)
	if err != nil {
		return fmt.Errorf("authorization token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return fmt.Errorf("authorization token is not user:password")
	}
	js, _ := json.Marshal(map[string]string{"username": user, "password": pass, "serveraddress": u.Host})
	r.host, r.auth = u.Host, base64.URLEncoding.EncodeToString(js)
	r.expires = r.now().Add(12 * time.Hour)
	if d.ExpiresAt != nil {
		r.expires = d.ExpiresAt.Time
	}
	return nil
}
