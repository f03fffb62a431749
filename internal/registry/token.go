package registry

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
)

// Docker's token authentication (the distribution token specification):
// a request without credentials is answered 401 with
//
//	WWW-Authenticate: Bearer realm="<registry>/token",service="ecr.amazonaws.com",scope="repository:app:pull"
//
// when the registry advertises Bearer (Options.Challenge); the client
// then GETs the realm with basic credentials (an access key and its
// secret, or AWS and a GetAuthorizationToken password) and the scopes it
// needs, and the token endpoint answers a token signed with the
// registry's secret carrying the scopes the caller's policies grant
// (checked through the AuthorizeFunc as the registry's requests are).
// The registry accepts it as `Authorization: Bearer <token>` until it
// expires, for the repositories and actions it names; each request is
// still authorised as a basic one is, so a policy change applies at once.

// Challenges a registry may advertise.
const (
	// ChallengeBasic advertises Docker's basic authentication, as ECR
	// does (the default).
	ChallengeBasic = "basic"
	// ChallengeBearer advertises the token flow.
	ChallengeBearer = "bearer"
)

// TokenService is the service of the registry's tokens and challenges:
// ECR's.
const TokenService = "ecr.amazonaws.com"

// DefaultTokenTTL is how long a registry token is valid.
const DefaultTokenTTL = 5 * time.Minute

// tokenPath is where the registry serves its token endpoint.
const tokenPath = "/token"

// access is the access a token grants on one resource (the token
// specification's claim set).
type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// claims are a registry token's claims (a JWT's, signed HS256).
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Expiry    int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Access    []access `json:"access"`
}

// allows reports whether the claims grant action on repository name.
func (c *claims) allows(typ, name, action string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// tokenKey is the key registry tokens are signed with, derived from the
// registry's secret (apart from the download URLs' signatures).
func (r *Registry) tokenKey() []byte {
	mac := hmac.New(sha256.New, r.secret)
	mac.Write([]byte("gantry registry token"))
	return mac.Sum(nil)
}

// signTokenClaims returns the signed token of c.
func (r *Registry) signTokenClaims(c claims) string {
	body, _ := json.Marshal(c)
	unsigned := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(body)
	mac := hmac.New(sha256.New, r.tokenKey())
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Errors of a bearer token.
var (
	errTokenInvalid = errors.New("invalid token")
	errTokenExpired = errors.New("token expired")
)

// verifyToken checks token's signature, audience and times.
func (r *Registry) verifyToken(token string, now time.Time) (*claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return nil, errTokenInvalid
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errTokenInvalid
	}
	mac := hmac.New(sha256.New, r.tokenKey())
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, errTokenInvalid
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errTokenInvalid
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil || c.Audience != TokenService {
		return nil, errTokenInvalid
	}
	if now.Unix() >= c.Expiry || now.Unix() < c.NotBefore-60 {
		return nil, errTokenExpired
	}
	return &c, nil
}

// parseScope parses one scope of a token request,
// "repository:samalba/my-app:pull,push" (a resource type may carry a
// class, "repository(plugin)").
func parseScope(s string) (access, bool) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok {
		return access{}, false
	}
	i := strings.LastIndex(rest, ":")
	if i <= 0 {
		return access{}, false
	}
	if j := strings.IndexByte(typ, '('); j > 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:j]
	}
	var actions []string
	for _, a := range strings.Split(rest[i+1:], ",") {
		if a != "" && !slices.Contains(actions, a) {
			actions = append(actions, a)
		}
	}
	return access{Type: typ, Name: rest[:i], Actions: actions}, len(actions) > 0
}

// actionOperations are the ECR operations a token action needs on a
// repository: docker's pull and push, and a manifest's deletion.
var actionOperations = map[string][]string{
	"pull":   {"BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability"},
	"push":   {"PutImage", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload", "BatchCheckLayerAvailability"},
	"delete": {"BatchDeleteImage"},
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

// serveToken serves the token endpoint (GET /token?service=&scope=...).
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, errcode.ErrorCodeUnsupported.WithMessage("the token endpoint answers GET"))
		return
	}
	user, pass, ok := req.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		writeError(w, http.StatusUnauthorized, errcode.ErrorCodeUnauthorized.WithMessage("authentication required"))
		return
	}
	akid, err := r.auth.Authenticate(req.Context(), user, pass)
	if err != nil {
		r.logger.Info("registry token refused", "user", user, "err", err)
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		writeError(w, http.StatusUnauthorized, errcode.ErrorCodeUnauthorized.WithMessage("authentication required: "+err.Error()))
		return
	}
	q := req.URL.Query()
	if svc := q.Get("service"); svc != "" && svc != TokenService {
		writeError(w, http.StatusBadRequest, errcode.ErrorCodeUnsupported.WithMessage("unknown service "+svc))
		return
	}
	var granted []access
	for _, param := range q["scope"] {
		for _, s := range strings.Fields(param) {
			want, ok := parseScope(s)
			if !ok {
				writeError(w, http.StatusBadRequest, errcode.ErrorCodeUnsupported.WithMessage("invalid scope "+s))
				return
			}
			if g := r.grant(req, akid, want); len(g.Actions) > 0 {
				granted = append(granted, g)
			}
		}
	}
	now := r.now()
	ttl := r.tokenTTL
	var id [12]byte
	_, _ = rand.Read(id[:])
	tok := r.signTokenClaims(claims{Issuer: "gantry", Subject: akid, Audience: TokenService,
		Expiry: now.Add(ttl).Unix(), NotBefore: now.Unix(), IssuedAt: now.Unix(), ID: hex.EncodeToString(id[:]), Access: granted})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(ttl / time.Second),
		IssuedAt: now.UTC().Format(time.RFC3339)})
}

// grant is the part of want that the caller of akid may do: the
// registry's catalog to any caller; on a repository, each action whose
// ECR operations the authorizer allows. What is refused is left out, as
// the token specification says.
func (r *Registry) grant(req *http.Request, akid string, want access) access {
	g := access{Type: want.Type, Name: want.Name}
	switch want.Type {
	case "registry":
		if want.Name == "catalog" {
			g.Actions = []string{"*"}
		}
		return g
	case "repository":
	default:
		return g
	}
	actions := want.Actions
	if slices.Contains(actions, "*") {
		actions = []string{"pull", "push", "delete"}
	}
	fn := r.authorize.Load()
	for _, a := range actions {
		ops, ok := actionOperations[a]
		if !ok {
			continue
		}
		allowed := true
		if fn != nil {
			for _, op := range ops {
				if err := (*fn)(req.Context(), akid, req, want.Name, op); err != nil {
					r.logger.Info("registry token: action refused", "repository", want.Name, "action", a, "err", err)
					allowed = false
					break
				}
			}
		}
		if allowed {
			g.Actions = append(g.Actions, a)
		}
	}
	return g
}

// requestAction is the token action a registry request of method on
// kind (manifests, blobs, tags) and rest (a reference, a digest,
// uploads/...) needs.
func requestAction(method, kind, rest string) string {
	upload := kind == "blobs" && strings.HasPrefix(rest, "uploads")
	switch {
	case upload:
		return "push"
	case method == http.MethodGet || method == http.MethodHead:
		return "pull"
	case method == http.MethodDelete:
		return "delete"
	}
	return "push"
}

// registryURL is the registry's base URL, as req reached it.
func registryURL(req *http.Request) string {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host
}

// tokenRealm is the absolute URL of the token endpoint, as req reached
// the registry.
func tokenRealm(req *http.Request) string { return registryURL(req) + tokenPath }
