package registry

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"
)

// MaxManifestBytes bounds a manifest, as ECR's 4 MiB.
const MaxManifestBytes = 4 << 20

// realm is the realm of the registry's basic-authentication challenge.
const realm = "Gantry Registry"

// routeRE splits a registry path into the repository name, the kind of
// resource and the rest (a reference, a digest or an upload).
var routeRE = regexp.MustCompile(`^/v2/(.+?)/(manifests|blobs|tags)/(.*)$`)

// ServeHTTP serves the registry protocol (/v2/...) behind Gantry's front
// door: authentication, repositories that exist, immutable tags.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == tokenPath {
		r.serveToken(w, req)
		return
	}
	if !strings.HasPrefix(req.URL.Path, "/v2/") && req.URL.Path != "/v2" {
		writeError(w, http.StatusNotFound, errcode.ErrorCodeUnsupported.WithMessage("not a registry API path"))
		return
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	m := routeRE.FindStringSubmatch(req.URL.Path)
	if m != nil && m[2] == "blobs" && r.validDownload(req, m[1], m[3]) {
		r.app.ServeHTTP(w, req)
		return
	}
	// The scope a challenge names: what this request needs.
	scope := ""
	if m != nil {
		scope = "repository:" + m[1] + ":pull"
		if action := requestAction(req.Method, m[2], m[3]); action != "pull" {
			scope += "," + action
		}
	}
	var akid string
	var tok *claims
	if bearer, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		c, err := r.verifyToken(strings.TrimSpace(bearer), r.now())
		if err != nil {
			r.logger.Info("registry token refused", "err", err)
			r.bearerChallenge(w, req, scope, "invalid_token", errcode.ErrorCodeUnauthorized.WithMessage("authentication required: "+err.Error()))
			return
		}
		akid, tok = c.Subject, c
	} else {
		user, pass, ok := req.BasicAuth()
		if !ok {
			r.challenge(w, req, scope, errcode.ErrorCodeUnauthorized.WithMessage("authentication required"))
			return
		}
		var err error
		akid, err = r.auth.Authenticate(req.Context(), user, pass)
		if err != nil {
			r.logger.Info("registry request refused", "user", user, "err", err)
			r.challenge(w, req, scope, errcode.ErrorCodeUnauthorized.WithMessage("authentication required: "+err.Error()))
			return
		}
	}
	if m == nil {
		// /v2/ (the login check) and /v2/_catalog.
		if tok != nil && strings.HasPrefix(req.URL.Path, "/v2/_catalog") && !tok.allows("registry", "catalog", "*") {
			r.bearerChallenge(w, req, "registry:catalog:*", "insufficient_scope",
				errcode.ErrorCodeUnauthorized.WithMessage("authentication required: the token does not grant registry:catalog:*"))
			return
		}
		r.app.ServeHTTP(w, req)
		return
	}
	if tok != nil {
		action := requestAction(req.Method, m[2], m[3])
		need := []access{{Type: "repository", Name: m[1], Actions: []string{action}}}
		if from := req.URL.Query().Get("from"); from != "" && m[2] == "blobs" {
			// A cross-repository mount reads the source repository.
			need = append(need, access{Type: "repository", Name: from, Actions: []string{"pull"}})
		}
		for _, n := range need {
			if !tok.allows(n.Type, n.Name, n.Actions[0]) {
				want := n.Type + ":" + n.Name + ":" + n.Actions[0]
				r.bearerChallenge(w, req, want, "insufficient_scope",
					errcode.ErrorCodeUnauthorized.WithMessage("authentication required: the token does not grant "+want))
				return
			}
		}
	}
	name := m[1]
	settings, err := r.repos.Settings(req.Context(), name)
	if errors.Is(err, ErrNoRepository) {
		writeError(w, http.StatusNotFound, errcode.ErrorCodeNameUnknown.WithMessage(
			fmt.Sprintf("The repository with name '%s' does not exist in the registry", name)))
		return
	}
	if err != nil {
		r.logger.Error("registry repository lookup", "repository", name, "err", err)
		writeError(w, http.StatusServiceUnavailable, errcode.ErrorCodeUnavailable.WithMessage("repository lookup failed"))
		return
	}
	if fn := r.authorize.Load(); fn != nil {
		op := operationOf(req.Method, m[2], m[3])
		if err := (*fn)(req.Context(), akid, req, name, op); err != nil {
			writeError(w, http.StatusForbidden, errcode.ErrorCodeDenied.WithMessage(err.Error()))
			return
		}
	}
	if r.full != nil && (m[2] == "blobs" || m[2] == "manifests") && (req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch) {
		if reason := r.full(); reason != "" {
			r.logger.Warn("registry push refused: disk full", "repository", name, "reason", reason)
			writeError(w, http.StatusServiceUnavailable, errcode.ErrorCodeUnavailable.WithMessage(
				"the registry's storage is full ("+reason+"); pushes are refused until space is freed, pulls still work"))
			return
		}
	}
	if (m[2] == "blobs" && (req.Method == http.MethodPost || req.Method == http.MethodPut)) ||
		(m[2] == "manifests" && req.Method == http.MethodPut) {
		// A finished upload, a mount or a manifest: not during a garbage
		// collection.
		done, err := r.guard.Write(req.Context())
		if err != nil {
			r.logger.Warn("registry write waited for a garbage collection", "repository", name, "err", err)
			writeError(w, http.StatusServiceUnavailable, errcode.ErrorCodeUnavailable.WithMessage("a garbage collection is running; try again"))
			return
		}
		defer done()
	}
	if m[2] == "manifests" && req.Method == http.MethodPut {
		r.putManifest(w, req, name, m[3], settings)
		return
	}
	r.app.ServeHTTP(w, req)
}

// putManifest checks a manifest push against the repository's tag
// immutability, under the repository's tag lock, then lets distribution
// store it.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, name, ref string, settings Settings) {
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxManifestBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, errcode.ErrorCodeManifestInvalid.WithMessage("reading the manifest: "+err.Error()))
		return
	}
	if len(body) > MaxManifestBytes {
		writeError(w, http.StatusRequestEntityTooLarge, errcode.ErrorCodeManifestInvalid.WithMessage("manifest larger than 4 MiB"))
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if _, err := digest.Parse(ref); err == nil {
		// By digest: no tag moves.
		r.app.ServeHTTP(w, req)
		return
	}
	unlock := r.lockRepo(name)
	defer unlock()
	if err := r.checkTag(req.Context(), name, ref, digest.FromBytes(body), settings); err != nil {
		writeError(w, http.StatusBadRequest, errcode.ErrorCodeTagInvalid.WithMessage(err.Error()))
		return
	}
	r.app.ServeHTTP(w, req)
}

// writeError writes a registry error response.
func writeError(w http.ResponseWriter, status int, e errcode.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = errcode.ServeJSON(discardHeader{w}, e)
}

// challenge answers 401 with the challenge the registry advertises:
// Docker's basic one, or the token flow's (bearerChallenge).
func (r *Registry) challenge(w http.ResponseWriter, req *http.Request, scope string, e errcode.Error) {
	if r.bearer {
		r.bearerChallenge(w, req, scope, "", e)
		return
	}
	// ECR's own challenge: the registry's URL as the realm, its service.
	w.Header().Set("WWW-Authenticate", `Basic realm="`+registryURL(req)+`/",service="`+TokenService+`"`)
	writeError(w, http.StatusUnauthorized, e)
}

// bearerChallenge answers 401 with the token flow's challenge: the token
// endpoint, the service, the scope the request needs, and errKind
// (invalid_token, insufficient_scope) when a token was refused.
func (r *Registry) bearerChallenge(w http.ResponseWriter, req *http.Request, scope, errKind string, e errcode.Error) {
	h := `Bearer realm="` + tokenRealm(req) + `",service="` + TokenService + `"`
	if scope != "" {
		h += `,scope="` + scope + `"`
	}
	if errKind != "" {
		h += `,error="` + errKind + `"`
	}
	w.Header().Set("WWW-Authenticate", h)
	writeError(w, http.StatusUnauthorized, e)
}

// discardHeader lets errcode.ServeJSON write its body after the status
// was written.
type discardHeader struct{ http.ResponseWriter }

func (discardHeader) WriteHeader(int) {}

// DownloadURL returns a URL under base (the registry's own URL) from
// which anyone may GET blob dgst of repository name until expires, as
// ECR's pre-signed layer URLs.
func (r *Registry) DownloadURL(base, name, dgst string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	q := url.Values{"X-Gantry-Expires": {exp}, "X-Gantry-Signature": {r.sign(name, dgst, exp)}}
	return strings.TrimSuffix(base, "/") + "/v2/" + name + "/blobs/" + dgst + "?" + q.Encode()
}

func (r *Registry) sign(name, dgst, exp string) string {
	mac := hmac.New(sha256.New, r.secret)
	fmt.Fprintf(mac, "download\n%s\n%s\n%s", name, dgst, exp)
	return hex.EncodeToString(mac.Sum(nil))
}

// validDownload reports whether req is a GET or HEAD of a blob with a
// valid, unexpired signature of DownloadURL.
func (r *Registry) validDownload(req *http.Request, name, dgst string) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	q := req.URL.Query()
	exp, sig := q.Get("X-Gantry-Expires"), q.Get("X-Gantry-Signature")
	if exp == "" || sig == "" {
		return false
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > n {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(r.sign(name, dgst, exp)))
}

// operationOf is the ECR operation a registry request needs, as ECR's
// documentation lists them for docker pull and push.
func operationOf(method, kind, rest string) string {
	switch {
	case kind == "tags":
		return "ListImages"
	case kind == "manifests" && (method == http.MethodGet || method == http.MethodHead):
		return "BatchGetImage"
	case kind == "manifests" && method == http.MethodDelete:
		return "BatchDeleteImage"
	case kind == "manifests":
		return "PutImage"
	case kind == "blobs" && method == http.MethodHead:
		return "BatchCheckLayerAvailability"
	case kind == "blobs" && method == http.MethodGet && !strings.HasPrefix(rest, "uploads/"):
		return "GetDownloadUrlForLayer"
	case kind == "blobs" && method == http.MethodDelete && !strings.HasPrefix(rest, "uploads/"):
		return "BatchDeleteImage"
	case kind == "blobs" && method == http.MethodPost:
		return "InitiateLayerUpload"
	case kind == "blobs" && method == http.MethodPut:
		return "CompleteLayerUpload"
	}
	return "UploadLayerPart" // PATCH, and GET/DELETE of an upload's state
}
