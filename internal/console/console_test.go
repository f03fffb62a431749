package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// fakeBackend answers the operations the console's pages call from a
// fixed service, and records the changes asked of it. Key "RO" may only
// read (List*, Describe*).
type fakeBackend struct {
	mu      sync.Mutex
	calls   []string
	service ecsapi.Service
	// answer, when set, answers the operations it knows (ok) before the
	// fixed ones.
	answer func(service, op string, in any) (out any, ok bool, err error)
}

func (f *fakeBackend) allowed(k Key, op string) error {
	if k.AccessKeyID == "RO" && !strings.HasPrefix(op, "List") && !strings.HasPrefix(op, "Describe") {
		return apierror.New(apierror.CodeAccessDenied, "User: %s is not authorized to perform: ecs:%s", k.Principal, op)
	}
	return nil
}

func (f *fakeBackend) Allowed(_ context.Context, _ *http.Request, k Key, _, op string, _ any) error {
	return f.allowed(k, op)
}

func (f *fakeBackend) CheckSecret(akid, secret string) (Key, bool) {
	switch {
	case akid == "ADMIN" && secret == "admin-secret":
		return Key{AccessKeyID: akid, Principal: "arn:aws:iam::000000000000:user/admin"}, true
	case akid == "RO" && secret == "ro-secret":
		return Key{AccessKeyID: akid, Principal: "arn:aws:iam::000000000000:user/reader"}, true
	}
	return Key{}, false
}

func (f *fakeBackend) Invoke(_ context.Context, _ *http.Request, k Key, service, op string, in any) (any, error) {
	if err := f.allowed(k, op); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if f.answer != nil {
		if out, ok, err := f.answer(service, op, in); ok {
			return out, err
		}
	}
	switch op {
	case "DescribeServices":
		return &ecsapi.DescribeServicesResponse{Services: []ecsapi.Service{f.service}}, nil
	case "ListTasks":
		return &ecsapi.ListTasksResponse{}, nil
	case "ListServiceDeployments":
		return &ecsapi.ListServiceDeploymentsResponse{}, nil
	case "UpdateService":
		u := in.(*ecsapi.UpdateServiceRequest)
		if u.DesiredCount != nil {
			f.service.DesiredCount = *u.DesiredCount
		}
		return &ecsapi.UpdateServiceResponse{Service: &f.service}, nil
	}
	return nil, apierror.InvalidParameter("fake: %s is not answered", op)
}

func (f *fakeBackend) called(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == op {
			n++
		}
	}
	return n
}

func newFake() *fakeBackend {
	return &fakeBackend{service: ecsapi.Service{ServiceName: "web", Status: "ACTIVE", DesiredCount: 2, RunningCount: 1,
		TaskDefinition: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
		Deployments:    []ecsapi.Deployment{{Id: "ecs-svc/1", Status: "PRIMARY", DesiredCount: 2, RunningCount: 1, PendingCount: 1, RolloutState: "IN_PROGRESS"}},
		Events:         []ecsapi.ServiceEvent{{Id: "1", Message: `<script>window.pwned=1</script> (service web) <img src=x onerror="window.pwned=2">`}},
		Tags:           []ecsapi.Tag{{Key: "owner", Value: `"><svg onload=alert(1)>`}}}}
}

type client struct {
	t    *testing.T
	srv  *httptest.Server
	http *http.Client
}

func start(t *testing.T, f *fakeBackend, o Options, useTLS bool) *client {
	t.Helper()
	o.Backend = f
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	hc := srv.Client()
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, srv: srv, http: hc}
}

// post sends a form as a browser on origin would (origin "" sends no
// Origin header).
func (c *client) post(path, origin string, form url.Values) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (c *client) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.http.Get(c.srv.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) signIn(akid, secret string) *http.Response {
	return c.post(Prefix+"signin", c.srv.URL, url.Values{"access_key_id": {akid}, "secret_access_key": {secret}})
}

func (c *client) csrf() string {
	c.t.Helper()
	_, body := c.get(Prefix + "clusters/prod/services/web")
	i := strings.Index(body, `name="csrf" value="`)
	if i < 0 {
		c.t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	rest := body[i+len(`name="csrf" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestSignInChecksThePairAndSetsAStrictCookie(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		c := start(t, newFake(), Options{}, useTLS)
		if resp := c.signIn("ADMIN", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a wrong secret: status %d", resp.StatusCode)
		}
		if resp, _ := c.get(Prefix); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix+"signin" {
			t.Fatalf("a page without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp := c.signIn("ADMIN", "admin-secret")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: status %d", resp.StatusCode)
		}
		var ck *http.Cookie
		for _, x := range resp.Cookies() {
			if x.Name == CookieName {
				ck = x
			}
		}
		if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != useTLS || ck.Path != Prefix || ck.MaxAge <= 0 {
			t.Fatalf("TLS %v: session cookie %+v", useTLS, ck)
		}
		if _, body := c.get(Prefix + "clusters/prod/services/web"); !strings.Contains(body, "Signed in as") {
			t.Fatalf("the service page after sign-in:\n%s", body)
		}
	}
}

func TestSignInPageHasLabelledFields(t *testing.T) {
	c := start(t, newFake(), Options{}, false)
	_, body := c.get(Prefix + "signin")
	for _, want := range []string{`<label for="akid">Access key ID<input id="akid"`, `<label for="secret">Secret access key<input id="secret"`, `type="password"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the sign-in page lacks %s", want)
		}
	}
}

func TestChangesNeedTheCSRFTokenAndTheOrigin(t *testing.T) {
	f := newFake()
	c := start(t, f, Options{}, false)
	c.signIn("ADMIN", "admin-secret")
	token := c.csrf()
	form := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "cluster": {"prod"}, "service": {"web"}, "desiredCount": {"5"}, "back": {Prefix + "clusters/prod/services/web"}}
	}
	cases := []struct {
		name, origin, token string
		want                int
	}{
		{"no token", c.srv.URL, "", http.StatusForbidden},
		{"a wrong token", c.srv.URL, token + "x", http.StatusForbidden},
		{"another origin", "http://evil.example", token, http.StatusForbidden},
		{"no origin or referer", "", token, http.StatusForbidden},
		{"the console's own form", c.srv.URL, token, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.called("UpdateService")
			resp := c.post(Prefix+"do/update-service", tc.origin, form(tc.token))
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			ran := f.called("UpdateService") - before
			if (tc.want == http.StatusSeeOther) != (ran == 1) {
				t.Fatalf("UpdateService ran %d times", ran)
			}
		})
	}
	if f.service.DesiredCount != 5 {
		t.Fatalf("desired count %d after the accepted change", f.service.DesiredCount)
	}
	// A sign-in from another origin is refused too (login CSRF).
	if resp := c.post(Prefix+"signin", "http://evil.example", url.Values{"access_key_id": {"ADMIN"}, "secret_access_key": {"admin-secret"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin sign-in: %d", resp.StatusCode)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	c := start(t, newFake(), Options{}, false)
	c.signIn("ADMIN", "admin-secret")
	token := c.csrf()
	u, _ := url.Parse(c.srv.URL + Prefix)
	old := c.http.Jar.Cookies(u)
	if resp := c.post(Prefix+"signout", c.srv.URL, url.Values{"csrf": {token}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	// The old cookie, replayed, no longer opens a page.
	c.http.Jar.SetCookies(u, old)
	if resp, _ := c.get(Prefix + "clusters/prod/services/web"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the signed-out cookie still works: %d", resp.StatusCode)
	}
}

func TestSessionsExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := start(t, newFake(), Options{SessionTTL: time.Hour, Now: clock}, false)
	c.signIn("ADMIN", "admin-secret")
	if resp, _ := c.get(Prefix + "clusters/prod/services/web"); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: %d", resp.StatusCode)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if resp, _ := c.get(Prefix + "clusters/prod/services/web"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("expired session: %d", resp.StatusCode)
	}
}

func TestReadOnlyKeySeesNoActionsAndIsRefused(t *testing.T) {
	f := newFake()
	admin := start(t, f, Options{}, false)
	admin.signIn("ADMIN", "admin-secret")
	_, body := admin.get(Prefix + "clusters/prod/services/web")
	for _, want := range []string{"do/update-service", "do/delete-service"} {
		if !strings.Contains(body, want) {
			t.Fatalf("the administrator's page lacks %s", want)
		}
	}
	ro := start(t, f, Options{}, false)
	ro.signIn("RO", "ro-secret")
	_, body = ro.get(Prefix + "clusters/prod/services/web")
	if strings.Contains(body, "do/update-service") || strings.Contains(body, "do/delete-service") || strings.Contains(body, "<button type=\"submit\" id=\"dc-submit\"") {
		t.Fatalf("the read-only key's page offers actions:\n%s", body)
	}
	// Tried anyway, the change is refused with AWS's error, shown on the page.
	token := ro.csrf()
	resp := ro.post(Prefix+"do/update-service", ro.srv.URL, url.Values{"csrf": {token}, "cluster": {"prod"}, "service": {"web"}, "desiredCount": {"9"},
		"back": {Prefix + "clusters/prod/services/web"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("refused change: %d", resp.StatusCode)
	}
	_, body = ro.get(Prefix + "clusters/prod/services/web")
	if !strings.Contains(body, "AccessDeniedException: User: arn:aws:iam::000000000000:user/reader is not authorized to perform: ecs:UpdateService") {
		t.Fatalf("the refusal is not shown:\n%s", body)
	}
	if f.service.DesiredCount == 9 {
		t.Fatal("the read-only key changed the service")
	}
}

func TestPagesEscapeWhatTheyShow(t *testing.T) {
	c := start(t, newFake(), Options{}, false)
	c.signIn("ADMIN", "admin-secret")
	resp, body := c.get(Prefix + "clusters/prod/services/web")
	if strings.Contains(body, "<script>window.pwned") || strings.Contains(body, `<img src=x`) || strings.Contains(body, "<svg onload") {
		t.Fatalf("markup from the data reached the page unescaped:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;window.pwned=1&lt;/script&gt;") {
		t.Fatalf("the event is not shown as text:\n%s", body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
}

func TestAssetsAreHashedAndCached(t *testing.T) {
	c := start(t, newFake(), Options{}, false)
	_, body := c.get(Prefix + "signin")
	i := strings.Index(body, Prefix+"assets/console.")
	if i < 0 {
		t.Fatal("no stylesheet link")
	}
	link := body[i : i+strings.IndexByte(body[i:], '"')]
	resp, css := c.get(link)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || len(css) == 0 {
		t.Fatalf("asset %s: %d %q", link, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if resp, _ := c.get(Prefix + "assets/console.0000.css"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown asset: %d", resp.StatusCode)
	}
}

func TestLiveStreamSendsChanges(t *testing.T) {
	f := newFake()
	c := start(t, f, Options{LiveInterval: 20 * time.Millisecond}, false)
	c.signIn("ADMIN", "admin-secret")
	req, _ := http.NewRequest(http.MethodGet, c.srv.URL+Prefix+"clusters/prod/services/web", nil)
	req.Header.Set("Accept", "text/event-stream")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	read := func(want string) {
		t.Helper()
		var got strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(got.String(), want) {
			n, err := resp.Body.Read(buf)
			if err != nil {
				t.Fatalf("stream ended before %q: %v\n%s", want, err, got.String())
			}
			got.Write(buf[:n])
		}
	}
	read("1 running, 0 pending, 2 desired")
	f.mu.Lock()
	f.service.RunningCount = 2
	f.mu.Unlock()
	read("2 running, 0 pending, 2 desired")
}

func TestDiff(t *testing.T) {
	got := diff("a\nb\nc", "a\nc\nd")
	want := []diffLine{{" ", "a"}, {"-", "b"}, {" ", "c"}, {"+", "d"}}
	if len(got) != len(want) {
		t.Fatalf("diff %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("diff %v, want %v", got, want)
		}
	}
}

// A session kept in a shared store works on a new handler (a restarted
// server) with the same cookie and CSRF token; signing out there revokes
// it everywhere. The store holds neither the cookie's value nor the CSRF
// token.
func TestSessionsSurviveARestartAndSignOutRevokes(t *testing.T) {
	st := NewMemorySessions(nil)
	f := newFake()
	c1 := start(t, f, Options{Sessions: st}, false)
	c1.signIn("ADMIN", "admin-secret")
	tok := c1.csrf()
	u, _ := url.Parse(c1.srv.URL + Prefix)
	var cookie string
	for _, ck := range c1.http.Jar.Cookies(u) {
		if ck.Name == CookieName {
			cookie = ck.Value
		}
	}
	st.mu.Lock()
	for h, rec := range st.m {
		if h == cookie || strings.Contains(h, tok) || h != hashID(cookie) || rec.AccessKeyID != "ADMIN" {
			t.Errorf("the store keeps %q: %+v", h, rec)
		}
	}
	st.mu.Unlock()

	// The "restarted" server: another handler on the same store.
	c2 := start(t, f, Options{Sessions: st}, false)
	u2, _ := url.Parse(c2.srv.URL + Prefix)
	c2.http.Jar.SetCookies(u2, []*http.Cookie{{Name: CookieName, Value: cookie, Path: Prefix}})
	if got := c2.csrf(); got != tok {
		t.Fatalf("the CSRF token after the restart: %q, was %q", got, tok)
	}
	resp := c2.post(Prefix+"do/update-service", c2.srv.URL, url.Values{"csrf": {tok}, "cluster": {"prod"}, "service": {"web"}, "desiredCount": {"5"}, "back": {Prefix}})
	if resp.StatusCode != http.StatusSeeOther || f.service.DesiredCount != 5 {
		t.Fatalf("a change after the restart: %d, desired %d", resp.StatusCode, f.service.DesiredCount)
	}
	// Sign out on the new server: the old one no longer knows the
	// session either.
	c2.post(Prefix+"signout", c2.srv.URL, url.Values{"csrf": {tok}})
	for i, c := range []*client{c1, c2} {
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: cookie, Path: Prefix}})
		c.http.Jar.SetCookies(u2, []*http.Cookie{{Name: CookieName, Value: cookie, Path: Prefix}})
		if resp, _ := c.get(Prefix + "clusters/prod/services/web"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("server %d after sign-out: status %d", i+1, resp.StatusCode)
		}
	}
}
