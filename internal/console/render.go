package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// view is what a page's template renders.
type view struct {
	// Template is the page's template name; Title its title.
	Template string
	Title    string
	// Crumbs lead from the clusters page to this one.
	Crumbs []crumb
	// Data is the page's own.
	Data any
	// Can holds the actions the key's policy allows on this page.
	Can map[string]bool
	// NoLive: the page has nothing that changes by itself.
	NoLive bool

	// Filled by render.
	Key    Key
	CSRF   string
	Flash  []flash
	Assets map[string]string
	Path   string
}

type crumb struct{ Text, Href string }

// pageFunc builds a page's view for a signed-in session.
type pageFunc func(r *http.Request, s *session) (*view, error)

func (h *Handler) parseTemplates() error {
	funcs := template.FuncMap{
		"when":     when,
		"ago":      func(t *ecsapi.Timestamp) string { return ago(t, h.now()) },
		"short":    shortARN,
		"pct":      pct,
		"bar":      bar,
		"add":      func(a, b int32) int32 { return a + b },
		"deref":    deref,
		"prefix":   func() string { return Prefix },
		"join":     strings.Join,
		"lower":    strings.ToLower,
		"percent":  func(a, b int64) int64 { return percent(a, b) },
		"int64":    func(v int32) int64 { return int64(v) },
		"int":      func(v int32) int { return int(v) },
		"sub":      func(a, b int64) int64 { return a - b },
		"resource": resource,
		"truth":    func(b *bool) bool { return b != nil && *b },
		"fnum": func(v *float64) string {
			if v == nil {
				return "—"
			}
			return num(*v)
		},
		"lnum": func(v *int64) string {
			if v == nil {
				return "—"
			}
			return strconv.FormatInt(*v, 10)
		},
		"ms":            func(v *int64) *ecsapi.Timestamp { return msPtr(v) },
		"bytes":         byteSize,
		"actionText":    actionText,
		"conditionText": conditionText,
		"tgName":        tgName,
		"chart":         lineChart,
		"div":           func(a, b int) int { return a / b },
		"clock":         clock,
		"rangeText":     rangeText,
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return err
	}
	h.pages = map[string]*template.Template{}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return err
		}
		if _, err := t.ParseFS(files, n); err != nil {
			return err
		}
		h.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return nil
}

// render writes v as a whole page (its template's "layout").
func (h *Handler) render(w http.ResponseWriter, r *http.Request, s *session, name string, v *view) {
	v.Template = name
	v.Assets = h.assetPath
	v.Path = r.URL.RequestURI()
	if s != nil {
		v.Key, v.CSRF, v.Flash = s.key, s.csrf, s.takeFlash()
	}
	t := h.pages[name]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		h.logger.Error("console render", "page", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// renderLive renders v's live part alone.
func (h *Handler) renderLive(r *http.Request, v *view, s *session) ([]byte, error) {
	v.Assets = h.assetPath
	v.Path = r.URL.RequestURI()
	v.Key, v.CSRF = s.key, s.csrf
	var buf bytes.Buffer
	err := h.pages[v.Template].ExecuteTemplate(&buf, "live", v)
	return buf.Bytes(), err
}

// page serves a page built by fn for a signed-in session: the whole page,
// or, to an EventSource, a stream of its live part whenever it changes.
func (h *Handler) page(name string, fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := h.session(r)
		if s == nil {
			if r.Header.Get("Accept") == "text/event-stream" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
			return
		}
		if r.Header.Get("Accept") == "text/event-stream" {
			h.live(w, r, s, name, fn)
			return
		}
		v, err := fn(r, s)
		if err != nil {
			h.renderError(w, r, s, err)
			return
		}
		h.render(w, r, s, name, v)
	}
}

// renderError shows an operation's error as AWS words it.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status := http.StatusBadRequest
	ae, ok := apierror.As(err)
	if !ok {
		h.logger.Error("console page", "path", r.URL.Path, "err", err)
		ae, status = apierror.Server(), http.StatusInternalServerError
	} else if ae.Code == apierror.CodeAccessDenied {
		status = http.StatusForbidden
	}
	w.WriteHeader(status)
	h.render(w, r, s, "error", &view{Title: "Error", Data: ae, NoLive: true})
}

// errText is an operation's error as the console shows it.
func errText(err error) string {
	if ae, ok := apierror.As(err); ok {
		return ae.Code + ": " + ae.Message
	}
	return apierror.CodeServer + ": " + apierror.Server().Message
}

// live streams the page's live part as server-sent events: one now, then
// one whenever it differs from the last sent.
func (h *Handler) live(w http.ResponseWriter, r *http.Request, s *session, name string, fn pageFunc) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = rc.SetWriteDeadline(time.Time{})
	var last []byte
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	// A client reconnects after a few seconds if the stream breaks.
	_, _ = fmt.Fprint(w, "retry: 3000\n\n")
	for {
		if h.sessions.byHash(r.Context(), s.id, h.now()) == nil {
			_, _ = fmt.Fprint(w, "event: signedout\ndata: \n\n")
			_ = rc.Flush()
			return
		}
		v, err := fn(r, s)
		var b []byte
		if err == nil {
			v.Template = name
			b, err = h.renderLive(r, v, s)
		}
		if err != nil {
			b = []byte(`<p class="flash error" role="alert">` + template.HTMLEscapeString(errText(err)) + `</p>`)
		}
		if !bytes.Equal(b, last) {
			last = b
			var out bytes.Buffer
			for _, line := range bytes.Split(b, []byte("\n")) {
				out.WriteString("data: ")
				out.Write(line)
				out.WriteByte('\n')
			}
			out.WriteByte('\n')
			if _, err := w.Write(out.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// when renders a time as <time>, in UTC; the script shows it in the
// viewer's zone and keeps UTC in the title.
func when(t *ecsapi.Timestamp) template.HTML {
	if t == nil || t.IsZero() {
		return "—"
	}
	u := t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`, u.Format(time.RFC3339Nano),
		u.Format("2006-01-02 15:04:05 UTC"), u.Format("2006-01-02 15:04:05 UTC")))
}

func ago(t *ecsapi.Timestamp, now time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	d := now.Sub(t.Time).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// shortARN is the part of an ARN after its resource type: a name, an ID,
// or family:revision.
func shortARN(arn string) string {
	if !strings.HasPrefix(arn, "arn:") {
		return arn
	}
	i := strings.LastIndexByte(arn, '/')
	if i < 0 {
		return arn
	}
	return arn[i+1:]
}

func deref(p *int32) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprint(*p)
}

func percent(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	p := a * 100 / b
	return min(max(p, 0), 100)
}

func pct(a, b int32) int64 { return percent(int64(a), int64(b)) }

// bar draws a horizontal bar of total units with segments, as inline SVG
// (widths in percent, so it scales with the page), labelled for screen
// readers.
func bar(label string, totalV any, segs ...any) template.HTML {
	total := toInt64(totalV)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="bar" role="img" aria-label="%s" viewBox="0 0 100 10" preserveAspectRatio="none" width="100%%" height="14"><rect class="track" x="0" y="0" width="100" height="10"/>`,
		template.HTMLEscapeString(label))
	x := 0.0
	for i := 0; i+1 < len(segs); i += 2 {
		class, _ := segs[i].(string)
		v := toInt64(segs[i+1])
		if total <= 0 || v <= 0 {
			continue
		}
		w := float64(v) * 100 / float64(total)
		if x+w > 100 {
			w = 100 - x
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="0" width="%.2f" height="10"/>`, template.HTMLEscapeString(class), x, w)
		x += w
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func msPtr(v *int64) *ecsapi.Timestamp {
	if v == nil {
		return nil
	}
	return msTime(*v)
}

// byteSize is a size in bytes as B, KiB, MiB or GiB.
func byteSize(v *int64) string {
	if v == nil {
		return "—"
	}
	n := float64(*v)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if n < 1024 || u == "GiB" {
			if u == "B" {
				return strconv.FormatInt(*v, 10) + " B"
			}
			return strconv.FormatFloat(n, 'f', 1, 64) + " " + u
		}
		n /= 1024
	}
	return ""
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	case int:
		return int64(n)
	}
	return 0
}

// clock renders a log event's time (milliseconds) as <time> showing the
// time of day, in UTC; the script shows it in the viewer's zone and keeps
// the full UTC value in the title.
func clock(v *int64) template.HTML {
	if v == nil {
		return ""
	}
	u := time.UnixMilli(*v).UTC()
	return template.HTML(fmt.Sprintf(`<time class="clock" datetime="%s" title="%s">%s</time>`, u.Format(time.RFC3339Nano),
		u.Format("2006-01-02 15:04:05.000 UTC"), u.Format("15:04:05")))
}

// rangeText says how far back a range of minutes reaches: "last 15
// minutes", "last hour", "last 3 hours", "last 7 days".
func rangeText(minutes int) string {
	switch {
	case minutes == 60:
		return "last hour"
	case minutes == 1440:
		return "last day"
	case minutes < 60 || minutes%60 != 0:
		return fmt.Sprintf("last %d minutes", minutes)
	case minutes < 1440 || minutes%1440 != 0:
		return fmt.Sprintf("last %d hours", minutes/60)
	}
	return fmt.Sprintf("last %d days", minutes/1440)
}
