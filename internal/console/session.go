package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "gantry_console"

// SessionRecord is what a session store keeps of a session: who it acts
// as and until when. It holds neither the session's ID nor its CSRF
// token, so a reader of the store can use neither.
type SessionRecord struct {
	AccessKeyID string    `json:"accessKeyId"`
	Principal   string    `json:"principal"`
	Expires     time.Time `json:"expires"`
}

// SessionStore keeps sessions by the hash of their ID (hex SHA-256 of
// the cookie's value), so that a server restart, or another server of
// the same cluster, knows them. Records outlive their Expires by no more
// than the store's own expiry allows; the console checks Expires itself.
type SessionStore interface {
	// Put keeps rec under hash for ttl.
	Put(ctx context.Context, hash string, rec SessionRecord, ttl time.Duration) error
	// Get returns the record under hash; ok is false when there is none.
	Get(ctx context.Context, hash string) (rec SessionRecord, ok bool, err error)
	// Delete removes the record under hash (none is not an error).
	Delete(ctx context.Context, hash string) error
}

// MemorySessions is a SessionStore in the process's memory: a restart
// signs everyone out. The zero value is not usable; NewMemorySessions
// makes one.
type MemorySessions struct {
	mu  sync.Mutex
	m   map[string]SessionRecord
	now func() time.Time
}

// NewMemorySessions returns an empty in-memory session store on the clock
// now (nil: time.Now).
func NewMemorySessions(now func() time.Time) *MemorySessions {
	if now == nil {
		now = time.Now
	}
	return &MemorySessions{m: map[string]SessionRecord{}, now: now}
}

// Put implements SessionStore; it also forgets the expired records.
func (ms *MemorySessions) Put(_ context.Context, hash string, rec SessionRecord, _ time.Duration) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	now := ms.now()
	for h, r := range ms.m {
		if !now.Before(r.Expires) {
			delete(ms.m, h)
		}
	}
	ms.m[hash] = rec
	return nil
}

// Get implements SessionStore.
func (ms *MemorySessions) Get(_ context.Context, hash string) (SessionRecord, bool, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	r, ok := ms.m[hash]
	return r, ok, nil
}

// Delete implements SessionStore.
func (ms *MemorySessions) Delete(_ context.Context, hash string) error {
	ms.mu.Lock()
	delete(ms.m, hash)
	ms.mu.Unlock()
	return nil
}

// session is one signed-in browser, as one request sees it.
type session struct {
	// id is the hash of the cookie's value: the store's key.
	id      string
	key     Key
	csrf    string
	expires time.Time
	flashes *flashes
}

type flash struct {
	Error bool
	Text  string
}

// flashes are the messages each session shows once, on its next page,
// by session hash. They live in this server's memory: a message is shown
// by the server that took the action, which is the one the browser's
// redirect comes back to (or is lost in a restart, which is harmless).
type flashes struct {
	mu sync.Mutex
	m  map[string][]flash
}

func (s *session) addFlash(f flash) {
	s.flashes.mu.Lock()
	if len(s.flashes.m) > 10000 {
		clear(s.flashes.m) // bounded: messages are a courtesy
	}
	s.flashes.m[s.id] = append(s.flashes.m[s.id], f)
	s.flashes.mu.Unlock()
}

func (s *session) takeFlash() []flash {
	s.flashes.mu.Lock()
	defer s.flashes.mu.Unlock()
	f := s.flashes.m[s.id]
	delete(s.flashes.m, s.id)
	return f
}

// sessions finds and makes sessions in a SessionStore.
type sessions struct {
	store   SessionStore
	flashes *flashes
	logger  *slog.Logger
}

func newSessions(st SessionStore, logger *slog.Logger) *sessions {
	return &sessions{store: st, flashes: &flashes{m: map[string][]flash{}}, logger: logger}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashID is the store's key of the session whose cookie holds token.
func hashID(token string) string {
	sum := sha256.Sum256([]byte("gantry-console-session\x00" + token))
	return hex.EncodeToString(sum[:])
}

// csrfOf is the CSRF token of the session whose cookie holds token: it
// is derived from the token (under another label than the store's key,
// so the key does not reveal it), so it survives restarts without being
// stored.
func csrfOf(token string) string {
	sum := sha256.Sum256([]byte("gantry-console-csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// create starts a session for k until expires and returns it with the
// cookie's value.
func (ss *sessions) create(ctx context.Context, k Key, now, expires time.Time) (*session, string, error) {
	token := randomToken()
	s := &session{id: hashID(token), key: k, csrf: csrfOf(token), expires: expires, flashes: ss.flashes}
	if err := ss.store.Put(ctx, s.id, SessionRecord{AccessKeyID: k.AccessKeyID, Principal: k.Principal, Expires: expires}, expires.Sub(now)); err != nil {
		return nil, "", err
	}
	return s, token, nil
}

// get returns the live session whose cookie holds token, or nil.
func (ss *sessions) get(ctx context.Context, token string, now time.Time) *session {
	s := ss.byHash(ctx, hashID(token), now)
	if s != nil {
		s.csrf = csrfOf(token)
	}
	return s
}

// byHash returns the live session stored under hash, or nil (without its
// CSRF token).
func (ss *sessions) byHash(ctx context.Context, hash string, now time.Time) *session {
	rec, ok, err := ss.store.Get(ctx, hash)
	if err != nil {
		ss.logger.Warn("console session lookup", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	if !now.Before(rec.Expires) {
		_ = ss.store.Delete(ctx, hash)
		return nil
	}
	return &session{id: hash, key: Key{AccessKeyID: rec.AccessKeyID, Principal: rec.Principal}, expires: rec.Expires, flashes: ss.flashes}
}

func (ss *sessions) delete(ctx context.Context, hash string) error {
	ss.flashes.mu.Lock()
	delete(ss.flashes.m, hash)
	ss.flashes.mu.Unlock()
	return ss.store.Delete(ctx, hash)
}

// session returns the request's live session, or nil.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	return h.sessions.get(r.Context(), c.Value, h.now())
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: Prefix, Expires: expires, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// sameOrigin reports whether a state-changing request comes from the
// console's own origin: its Origin header (or, when a browser sends none,
// its Referer) must name the scheme and host the request was sent to.
func sameOrigin(r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	want := scheme + "://" + r.Host
	if o := r.Header.Get("Origin"); o != "" {
		return o == want
	}
	ref, err := url.Parse(r.Header.Get("Referer"))
	if err != nil || ref.Host == "" {
		return false
	}
	return ref.Scheme+"://"+ref.Host == want
}

// checkChange refuses a state-changing request that does not come from
// the console's origin or lacks the session's CSRF token, writing the
// answer; it returns whether the request may proceed.
func (h *Handler) checkChange(w http.ResponseWriter, r *http.Request, s *session) bool {
	if !sameOrigin(r) {
		h.logger.Info("console change refused: cross-origin", "origin", r.Header.Get("Origin"), "referer", r.Header.Get("Referer"))
		http.Error(w, "Refused: the request does not come from the console's own origin.", http.StatusForbidden)
		return false
	}
	if s == nil {
		return true
	}
	tok := r.PostFormValue("csrf")
	if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) != 1 {
		h.logger.Info("console change refused: CSRF token", "access_key_id", s.key.AccessKeyID)
		http.Error(w, "Refused: the form's CSRF token is missing or wrong; reload the page and try again.", http.StatusForbidden)
		return false
	}
	return true
}

func (h *Handler) signInForm(w http.ResponseWriter, r *http.Request) {
	if h.session(r) != nil {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.render(w, r, nil, "signin", &view{Title: "Sign in", Data: map[string]string{"Error": r.URL.Query().Get("error")}})
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !h.checkChange(w, r, nil) {
		return
	}
	k, ok := h.backend.CheckSecret(r.PostFormValue("access_key_id"), r.PostFormValue("secret_access_key"))
	if !ok {
		h.logger.Info("console sign-in refused", "access_key_id", r.PostFormValue("access_key_id"))
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, r, nil, "signin", &view{Title: "Sign in", Data: map[string]string{"Error": "The access key ID or secret access key is not valid."}})
		return
	}
	now := h.now()
	s, token, err := h.sessions.create(r.Context(), k, now, now.Add(h.ttl))
	if err != nil {
		h.logger.Error("console sign-in: keep the session", "access_key_id", k.AccessKeyID, "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		h.render(w, r, nil, "signin", &view{Title: "Sign in", Data: map[string]string{"Error": "The session could not be kept; try again."}})
		return
	}
	h.setCookie(w, r, token, s.expires, int(h.ttl/time.Second))
	h.logger.Info("console sign-in", "access_key_id", k.AccessKeyID, "principal", k.Principal)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	s := h.session(r)
	if !h.checkChange(w, r, s) {
		return
	}
	if s != nil {
		if err := h.sessions.delete(r.Context(), s.id); err != nil {
			// The cookie goes all the same; say that the session may
			// outlive it until it expires.
			h.logger.Error("console sign-out: revoke the session", "access_key_id", s.key.AccessKeyID, "err", err)
			http.Error(w, "The session could not be revoked; try again.", http.StatusServiceUnavailable)
			return
		}
		h.logger.Info("console sign-out", "access_key_id", s.key.AccessKeyID)
	}
	h.setCookie(w, r, "", time.Unix(0, 0), -1)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}
