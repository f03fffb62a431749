package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "gantry_console"

// session is one signed-in browser.
type session struct {
	id      string
	key     Key
	csrf    string
	expires time.Time

	mu    sync.Mutex
	flash []flash // shown once, on the next page
}

type flash struct {
	Error bool
	Text  string
}

func (s *session) addFlash(f flash) {
	s.mu.Lock()
	s.flash = append(s.flash, f)
	s.mu.Unlock()
}

func (s *session) takeFlash() []flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// sessions are the live sessions by ID.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (ss *sessions) create(k Key, expires time.Time) *session {
	s := &session{id: randomToken(), key: k, csrf: randomToken(), expires: expires}
	ss.mu.Lock()
	ss.m[s.id] = s
	ss.mu.Unlock()
	return s
}

func (ss *sessions) get(id string, now time.Time) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

func (ss *sessions) delete(id string) {
	ss.mu.Lock()
	delete(ss.m, id)
	ss.mu.Unlock()
}

func (ss *sessions) sweep(now time.Time) {
	ss.mu.Lock()
	for id, s := range ss.m {
		if !now.Before(s.expires) {
			delete(ss.m, id)
		}
	}
	ss.mu.Unlock()
}

// session returns the request's live session, or nil.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	return h.sessions.get(c.Value, h.now())
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
	h.sessions.sweep(now)
	s := h.sessions.create(k, now.Add(h.ttl))
	h.setCookie(w, r, s.id, s.expires, int(h.ttl/time.Second))
	h.logger.Info("console sign-in", "access_key_id", k.AccessKeyID, "principal", k.Principal)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	s := h.session(r)
	if !h.checkChange(w, r, s) {
		return
	}
	if s != nil {
		h.sessions.delete(s.id)
		h.logger.Info("console sign-out", "access_key_id", s.key.AccessKeyID)
	}
	h.setCookie(w, r, "", time.Unix(0, 0), -1)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}
