package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/console"
	"github.com/gantry-dev/gantry/internal/store"
)

// A console session survives a restart of the server (it is kept in
// etcd, by the hash of its ID), and signing out after the restart
// revokes it: the same cookie no longer opens a page.
func TestConsoleSessionSurvivesRestart(t *testing.T) {
	env := apitest.Start(t, apitest.Options{})
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, env.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", env.URL)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	page := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if resp := post(console.Prefix+"signin", url.Values{"access_key_id": {apitest.AccessKeyID}, "secret_access_key": {apitest.SecretAccessKey}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	u, _ := url.Parse(env.URL + console.Prefix)
	var cookie string
	for _, c := range jar.Cookies(u) {
		if c.Name == console.CookieName {
			cookie = c.Value
		}
	}
	if status, body := page(console.Prefix); status != http.StatusOK || !strings.Contains(body, "Signed in as") {
		t.Fatalf("before the restart: %d", status)
	}
	// The store has the session, but not the cookie's value.
	items, err := env.Server.ECS.Store.List(context.Background(), store.Key("console", "sessions")+"/", "", 0)
	if err != nil || len(items) != 1 {
		t.Fatalf("stored sessions: %d %v", len(items), err)
	}
	if strings.Contains(items[0].Key, cookie) || strings.Contains(string(items[0].Value), cookie) || items[0].Lease == 0 {
		t.Fatalf("the stored session %s %s (lease %d) holds the cookie or has no lease", items[0].Key, items[0].Value, items[0].Lease)
	}

	env.Restart(t)
	status, body := page(console.Prefix)
	if status != http.StatusOK || !strings.Contains(body, "Signed in as") {
		t.Fatalf("after the restart: %d\n%s", status, body)
	}
	i := strings.Index(body, `name="csrf" value="`)
	if i < 0 {
		t.Fatal("no CSRF token after the restart")
	}
	csrf := body[i+len(`name="csrf" value="`):]
	csrf = csrf[:strings.IndexByte(csrf, '"')]
	if resp := post(console.Prefix+"signout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out after the restart: %d", resp.StatusCode)
	}
	// The cookie, replayed, no longer works.
	jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: cookie, Path: console.Prefix}})
	if status, _ := page(console.Prefix); status != http.StatusSeeOther {
		t.Fatalf("the revoked session's cookie: status %d", status)
	}
	if n, err := env.Server.ECS.Store.Count(context.Background(), store.Key("console", "sessions")+"/"); err != nil || n != 0 {
		t.Fatalf("sessions left in the store: %d %v", n, err)
	}
}
