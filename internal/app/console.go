package app

import (
	"context"
	"net/http"
	"strings"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/console"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

// consoleBackend runs the console's operations through the API server in
// process, as the signed-in key, and checks sign-ins against the
// verifier's keys.
type consoleBackend struct {
	api      *apiserver.Server
	verifier *sigv4.Verifier
}

func (b consoleBackend) Invoke(ctx context.Context, r *http.Request, k console.Key, service, op string, in any) (any, error) {
	return b.api.Invoke(ctx, r, apiserver.Identity{AccessKeyID: k.AccessKeyID, Principal: k.Principal}, service, op, in)
}

func (b consoleBackend) Allowed(ctx context.Context, r *http.Request, k console.Key, service, op string, in any) error {
	return b.api.Allowed(ctx, r, apiserver.Identity{AccessKeyID: k.AccessKeyID, Principal: k.Principal}, service, op, in)
}

func (b consoleBackend) CheckSecret(akid, secret string) (console.Key, bool) {
	c, ok := b.verifier.CheckSecret(akid, secret)
	return console.Key{AccessKeyID: c.AccessKeyID, Principal: c.Principal}, ok
}

// withConsole serves the console under /console/ beside api.
func withConsole(api http.Handler, c http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/console" {
			http.Redirect(w, r, console.Prefix, http.StatusMovedPermanently)
			return
		}
		if strings.HasPrefix(r.URL.Path, console.Prefix) {
			c.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
