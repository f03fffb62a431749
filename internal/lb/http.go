package lb

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// Cookies of ELB stickiness: AWSALB names the target (target group
// stickiness, lb_cookie), AWSALBTG the target group of a weighted forward
// (forward action stickiness); the CORS twins carry SameSite=None.
const (
	cookieTarget     = "AWSALB"
	cookieTargetCORS = "AWSALBCORS"
	cookieGroup      = "AWSALBTG"
	cookieGroupCORS  = "AWSALBTGCORS"
)

// serverHeader is the Server header of the answers the load balancer
// writes itself, as ALB writes it.
const serverHeader = "awselb/2.0"

// httpConfig is an HTTP listener's compiled configuration.
type httpConfig struct {
	listenerArn string
	port        string // the listener's port, for X-Forwarded-Port
	rules       []rule
	def         *action
	http2       bool
	proxy       *httputil.ReverseProxy
	lb          *LB
	timeout     time.Duration // the target timeout (the idle timeout)
	// stats are the load balancer's metrics counters (nil: none).
	stats *lbStats
}

// tcpConfig is a TCP listener's compiled configuration.
type tcpConfig struct {
	action *action
	// lb is the data plane (holding connections: hold.go).
	lb *LB
	// idle is the listener's idle timeout (0: Options.TCPIdleTimeout).
	idle time.Duration
}

// action is a compiled terminal action.
type action struct {
	typ                string
	forward            []weighted
	total              int
	stickiness         bool
	stickinessDuration time.Duration
	fixed              *lbconf.FixedResponse
	redirect           *lbconf.Redirect
}

// weighted is a target group of a forward action with its weight.
type weighted struct {
	g      *group
	weight int
}

// chooseGroup picks the target group of a forward action: the one the
// request's AWSALBTG cookie names when the action is sticky, else one at
// random by weight. It sets the cookie for a sticky action.
func (a *action) chooseGroup(w http.ResponseWriter, r *http.Request) *group {
	switch len(a.forward) {
	case 0:
		return nil
	case 1:
		if !a.stickiness {
			return a.forward[0].g
		}
	}
	var g *group
	if a.stickiness {
		if c, err := r.Cookie(cookieGroup); err == nil {
			for _, f := range a.forward {
				if f.g.cookie == c.Value {
					g = f.g
					break
				}
			}
		}
	}
	if g == nil {
		n := rand.IntN(a.total)
		for _, f := range a.forward {
			if n < f.weight {
				g = f.g
				break
			}
			n -= f.weight
		}
	}
	if a.stickiness {
		setStickyCookies(w, cookieGroup, cookieGroupCORS, g.cookie, a.stickinessDuration)
	}
	return g
}

// setStickyCookies sets a stickiness cookie and its CORS twin.
func setStickyCookies(w http.ResponseWriter, name, corsName, value string, d time.Duration) {
	if d <= 0 {
		d = 24 * time.Hour
	}
	exp := time.Now().Add(d).UTC().Format(http.TimeFormat)
	h := w.Header()
	h.Add("Set-Cookie", name+"="+value+"; Expires="+exp+"; Path=/")
	h.Add("Set-Cookie", corsName+"="+value+"; Expires="+exp+"; Path=/; SameSite=None")
}

// stateKey is the context key of a proxied request's reqState.
type stateKey struct{}

// reqState is what the proxy knows of a request being forwarded.
type reqState struct {
	g    *group
	b    *backend
	port string
	// code is the status of the target's answer and head when its head
	// came (0 if none came); elb is the status the load balancer answered
	// itself instead (502, 504).
	code int
	head time.Time
	elb  int
	// start is when the request was taken: the fast path's clock for
	// what needs no finer one (the pool's idle times, trace IDs).
	start time.Time
}

// answered notes the head of a target's answer.
func (st *reqState) answered(code int) {
	st.code, st.head = code, time.Now()
}

// ServeHTTP routes a request by the listener's rules and runs the action
// of the first rule that matches, or the default action.
func (p *port) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := p.httpCfg.Load()
	if r.ProtoMajor == 2 && !cfg.http2 {
		// routing.http2.enabled was turned off: a server without HTTP/2
		// is on its way; refuse until it takes over.
		cfg.stats.elbCode(http.StatusServiceUnavailable)
		writeELBError(w, http.StatusServiceUnavailable)
		return
	}
	a := cfg.def
	for i := range cfg.rules {
		if cfg.rules[i].match(r) {
			a = cfg.rules[i].action
			break
		}
	}
	switch a.typ {
	case lbconf.ActionFixedResponse:
		if s := cfg.stats; s != nil {
			s.fixed.Add(1)
			s.elbCode(a.fixed.StatusCode)
		}
		writeFixed(w, a.fixed)
	case lbconf.ActionRedirect:
		if s := cfg.stats; s != nil {
			s.redirect.Add(1)
			s.elbCode(a.redirect.StatusCode)
		}
		writeRedirect(w, r, cfg.port, a.redirect)
	default:
		forward(w, r, cfg, a)
	}
}

// forward proxies a request to a target of the action's target groups.
func forward(w http.ResponseWriter, r *http.Request, cfg *httpConfig, a *action) {
	g := a.chooseGroup(w, r)
	if g == nil {
		cfg.stats.elbCode(http.StatusServiceUnavailable)
		writeELBError(w, http.StatusServiceUnavailable)
		return
	}
	// A group that holds requests while no target is healthy (a service
	// scaled to zero, waking) keeps this one until a target is.
	cfg.lb.hold(r.Context(), g)
	gcfg := g.cfg.Load()
	var b *backend
	if gcfg.stickiness {
		if c, err := r.Cookie(cookieTarget); err == nil {
			b = g.byCookie(c.Value)
		}
	}
	if b == nil {
		b = g.pick(nil)
	}
	if b == nil {
		// No target to choose: not a RequestCount, an ELB 503.
		cfg.stats.elbCode(http.StatusServiceUnavailable)
		writeELBError(w, http.StatusServiceUnavailable)
		return
	}
	if gcfg.stickiness {
		setStickyCookies(w, cookieTarget, cookieTargetCORS, b.cookie, gcfg.stickinessDuration)
	}
	start := time.Now()
	st := &reqState{g: g, b: b, port: cfg.port, start: start}
	b.outstanding.Add(1)
	g.stats.requests.Add(1)
	defer func() {
		st.b.outstanding.Add(-1)
		switch {
		case st.code != 0:
			g.stats.target(st.code, st.head.Sub(start))
		case st.elb != 0:
			cfg.stats.elbCode(st.elb)
		}
	}()
	if fastEligible(r) {
		cfg.lb.fastForward(w, r, st, cfg.timeout)
		return
	}
	cfg.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// proxy is the reverse proxy for a target timeout.
func (l *LB) proxy(timeout time.Duration) *httputil.ReverseProxy {
	if p := l.proxies[timeout]; p != nil {
		return p
	}
	p := &httputil.ReverseProxy{
		Rewrite:    rewrite,
		Transport:  &retrier{base: l.transport(timeout)},
		BufferPool: l.buffers,
		ErrorLog:   slog.NewLogLogger(l.logger.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			code := proxyError(w, r, err)
			if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
				st.elb = code
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if st, ok := resp.Request.Context().Value(stateKey{}).(*reqState); ok {
				st.answered(resp.StatusCode)
			}
			return nil
		},
	}
	l.proxies[timeout] = p
	return p
}

// rewrite points the outbound request at its target and sets the
// X-Forwarded headers as ALB does: X-Forwarded-For appends the client's
// address to what the request carried, -Proto and -Port are the
// listener's. The Host header is kept.
func rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(stateKey{}).(*reqState)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = st.b.addr
	client, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		client = pr.In.RemoteAddr
	}
	if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
		client = strings.Join(prior, ", ") + ", " + client
	}
	h := pr.Out.Header
	h["X-Forwarded-For"] = []string{client}
	h["X-Forwarded-Proto"] = []string{"http"}
	h["X-Forwarded-Port"] = []string{st.port}
	h["X-Amzn-Trace-Id"] = []string{traceHeader(pr.In.Header.Get("X-Amzn-Trace-Id"), time.Now())}
}

// traceHeader is the X-Amzn-Trace-Id a request is forwarded with, as ALB
// writes it: a new Root when the request has none, else a Self field
// before what it carried.
func traceHeader(prior string, now time.Time) string {
	return string(appendTraceHeader(nil, prior, now))
}

// appendTraceHeader appends traceHeader's value to b.
func appendTraceHeader(b []byte, prior string, now time.Time) []byte {
	if strings.Contains(prior, "Root=") {
		b = append(b, "Self="...)
		b = appendTraceID(b, now)
		b = append(b, ';')
		return append(b, prior...)
	}
	b = append(b, "Root="...)
	return appendTraceID(b, now)
}

// appendTraceID appends an X-Ray trace ID to b: version 1, the time in
// seconds and 96 random bits, in hex.
func appendTraceID(b []byte, now time.Time) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '1', '-')
	secs := uint32(now.Unix())
	for i := range 8 {
		b = append(b, hex[secs>>(28-4*i)&15])
	}
	b = append(b, '-')
	r1, r2 := rand.Uint64(), rand.Uint32()
	for i := range 16 {
		b = append(b, hex[r1>>(60-4*i)&15])
	}
	for i := range 8 {
		b = append(b, hex[r2>>(28-4*i)&15])
	}
	return b
}

// proxyError answers a request the target did not: 504 when the target
// did not accept the connection or answer in time, 502 when it refused or
// reset it or answered something that is not HTTP. It returns the code
// answered, 0 when the client went away.
func proxyError(w http.ResponseWriter, r *http.Request, err error) int {
	if r.Context().Err() != nil {
		// The client went away (ALB logs 460); nobody to answer.
		return 0
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		writeELBError(w, http.StatusGatewayTimeout)
		return http.StatusGatewayTimeout
	}
	writeELBError(w, http.StatusBadGateway)
	return http.StatusBadGateway
}

// retrier sends a request again to another target when its target
// refused the connection: nothing was sent, so this is safe for requests
// without a body, and it keeps a target that just went away from costing
// a 502 before its health checks notice.
type retrier struct {
	base http.RoundTripper
}

// maxRetries is how many other targets a refused request is sent to.
const maxRetries = 2

// RoundTrip sends req, and again to another target after a refused
// connection.
func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil {
		return resp, nil
	}
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	for attempt := 0; attempt < maxRetries && st != nil && isDialRefused(err) && (req.Body == nil || req.Body == http.NoBody); attempt++ {
		nb := st.g.pick(st.b)
		if nb == nil {
			break
		}
		st.b.outstanding.Add(-1)
		nb.outstanding.Add(1)
		st.b = nb
		r2 := *req
		u := *req.URL
		u.Host = nb.addr
		r2.URL = &u
		resp, err = t.base.RoundTrip(&r2)
		if err == nil {
			return resp, nil
		}
	}
	return nil, err
}

// isDialRefused reports whether err is a failed connect that was not a
// timeout (timeouts answer 504 at once, as ALB does).
func isDialRefused(err error) bool {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		return false
	}
	return !oe.Timeout()
}

// elbErrorTitle is the title of an error ALB answers itself.
func elbErrorTitle(code int) string {
	switch code {
	case http.StatusBadGateway:
		return "502 Bad Gateway"
	case http.StatusServiceUnavailable:
		return "503 Service Temporarily Unavailable"
	case http.StatusGatewayTimeout:
		return "504 Gateway Time-out"
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

func elbPage(title string) string {
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title + "</h1></center>\r\n</body>\r\n</html>\r\n"
}

// writeELBError writes one of ALB's own error answers.
func writeELBError(w http.ResponseWriter, code int) {
	body := elbPage(elbErrorTitle(code))
	h := w.Header()
	h.Set("Server", serverHeader)
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// writeFixed writes a fixed-response action's answer.
func writeFixed(w http.ResponseWriter, fr *lbconf.FixedResponse) {
	ct := fr.ContentType
	if ct == "" {
		ct = "text/plain"
	}
	if !strings.Contains(ct, "charset") {
		ct += "; charset=utf-8"
	}
	code := fr.StatusCode
	if code < 200 || code > 599 {
		code = http.StatusOK
	}
	h := w.Header()
	h.Set("Server", serverHeader)
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(fr.MessageBody)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, fr.MessageBody)
}

// writeRedirect writes a redirect action's answer. Each component
// defaults to the request's own (#{protocol}, #{host}, #{port},
// /#{path}, #{query}), and the keywords may appear in any component.
func writeRedirect(w http.ResponseWriter, r *http.Request, listenerPort string, rd *lbconf.Redirect) {
	proto := "HTTP"
	if r.TLS != nil {
		proto = "HTTPS"
	}
	host := hostOnly(r.Host)
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	repl := strings.NewReplacer(
		"#{protocol}", proto,
		"#{host}", host,
		"#{port}", listenerPort,
		"#{path}", path,
		"#{query}", r.URL.RawQuery,
	)
	or := func(v, def string) string {
		if v == "" {
			return repl.Replace(def)
		}
		return repl.Replace(v)
	}
	toProto := strings.ToLower(or(rd.Protocol, "#{protocol}"))
	toHost := or(rd.Host, "#{host}")
	toPort := or(rd.Port, "#{port}")
	toPath := or(rd.Path, "/#{path}")
	if !strings.HasPrefix(toPath, "/") {
		toPath = "/" + toPath
	}
	toQuery := or(rd.Query, "#{query}")
	var loc strings.Builder
	loc.WriteString(toProto)
	loc.WriteString("://")
	loc.WriteString(toHost)
	if !(toProto == "http" && toPort == "80") && !(toProto == "https" && toPort == "443") {
		loc.WriteString(":")
		loc.WriteString(toPort)
	}
	loc.WriteString(toPath)
	if toQuery != "" {
		loc.WriteString("?")
		loc.WriteString(toQuery)
	}
	code := rd.StatusCode
	if code != http.StatusMovedPermanently {
		code = http.StatusFound
	}
	title := strconv.Itoa(code) + " " + http.StatusText(code)
	if code == http.StatusFound {
		title = "302 Found"
	}
	body := elbPage(title)
	h := w.Header()
	h.Set("Server", serverHeader)
	h.Set("Location", loc.String())
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// bufferPool lends the proxy its copy buffers.
type bufferPool struct{ pool *sync.Pool }

func newBufferPool() bufferPool {
	return bufferPool{pool: &sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

// Get lends a buffer.
func (p bufferPool) Get() []byte { return *p.pool.Get().(*[]byte) }

// Put takes a buffer back.
func (p bufferPool) Put(b []byte) { p.pool.Put(&b) }
