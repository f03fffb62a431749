package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Key is the access key a session acts as.
type Key struct {
	AccessKeyID string
	Principal   string
}

// Backend is what the console needs of the server: run an operation as a
// key, ask whether a key's policy allows one, and check a key pair.
type Backend interface {
	// Invoke runs operation op of the service whose SigV4 signing name is
	// service ("ecs", "logs") with input in (a pointer to the
	// operation's input struct), as key, with the same validation and
	// policy as a signed request; it returns a pointer to the output
	// struct or the operation's error (normally *apierror.Error).
	Invoke(ctx context.Context, r *http.Request, key Key, service, op string, in any) (any, error)
	// Allowed returns nil when key's policy lets it call op with in (nil:
	// an empty input), else the refusal.
	Allowed(ctx context.Context, r *http.Request, key Key, service, op string, in any) error
	// CheckSecret returns the key whose ID is akid when secret is its
	// secret access key.
	CheckSecret(akid, secret string) (Key, bool)
}

// Options configure a Handler.
type Options struct {
	// Backend runs the operations. Required.
	Backend Backend
	// SessionTTL is how long a session lasts after sign-in; 0: 8 hours.
	SessionTTL time.Duration
	// LiveInterval is how often a live page's state is looked at; 0: 1s.
	LiveInterval time.Duration
	// Logger receives sign-ins, sign-outs and refusals; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Sessions keeps the sessions; nil: in this process's memory (a
	// restart signs everyone out).
	Sessions SessionStore
}

//go:embed assets templates
var files embed.FS

// Handler serves the console under /console/. The zero value is not
// usable; New makes one.
type Handler struct {
	backend  Backend
	ttl      time.Duration
	interval time.Duration
	logger   *slog.Logger
	now      func() time.Time
	sessions *sessions
	mux      *http.ServeMux
	pages    map[string]*template.Template
	// assets are the embedded files by their hashed names, with the
	// names the templates link to.
	assets    map[string]asset
	assetPath map[string]string
}

type asset struct {
	body        []byte
	contentType string
}

// Prefix is the path under which the console is served.
const Prefix = "/console/"

// New returns the console's handler.
func New(o Options) (*Handler, error) {
	h := &Handler{backend: o.Backend, ttl: o.SessionTTL, interval: o.LiveInterval, logger: o.Logger, now: o.Now}
	if h.ttl <= 0 {
		h.ttl = 8 * time.Hour
	}
	if h.interval <= 0 {
		h.interval = time.Second
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	st := o.Sessions
	if st == nil {
		st = NewMemorySessions(h.now)
	}
	h.sessions = newSessions(st, h.logger)
	if err := h.loadAssets(); err != nil {
		return nil, err
	}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

func (h *Handler) loadAssets() error {
	h.assets, h.assetPath = map[string]asset{}, map[string]string{}
	return fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		sum := sha256.Sum256(b)
		dot := strings.LastIndexByte(name, '.')
		hashed := name[:dot] + "." + hex.EncodeToString(sum[:6]) + name[dot:]
		ct := "application/octet-stream"
		switch name[dot:] {
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		h.assets[hashed] = asset{body: b, contentType: ct}
		h.assetPath[name] = Prefix + "assets/" + hashed
		return nil
	})
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	// The name carries the content's hash: it never changes.
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}
