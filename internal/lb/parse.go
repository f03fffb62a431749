package lb

import (
	"net/http"
	"net/url"
	"strings"
)

// parseHead turns the head of a request the loop serves (fastHead
// accepted it: GET, HEAD or OPTIONS in HTTP/1.1, no body, no upgrade)
// into the *http.Request that http.ReadRequest would make of it, with
// one string for the whole head and no intermediate copies. It covers
// the common shape only: an origin-form target, one Host header, no
// Trailer header, header names and values within their allowed bytes;
// ok is false for anything else, and the caller uses http.ReadRequest,
// so that unusual and malformed requests get net/http's own treatment.
// pc holds what the connection's requests reuse: canonical header names,
// and the request, its URL and header, which the loop's handlers keep
// nothing of once they return.
func parseHead(head []byte, pc *parseCache) (*http.Request, bool) {
	s := string(head)
	line, rest, found := strings.Cut(s, "\r\n")
	if !found {
		return nil, false
	}
	method, line, _ := strings.Cut(line, " ")
	target, proto, _ := strings.Cut(line, " ")
	if proto != "HTTP/1.1" {
		return nil, false
	}
	switch method {
	case http.MethodGet:
		method = http.MethodGet
	case http.MethodHead:
		method = http.MethodHead
	case http.MethodOptions:
		method = http.MethodOptions
	default:
		return nil, false
	}
	u, ok := parseTarget(target, &pc.url)
	if !ok {
		return nil, false
	}
	// Header lines, up to the empty line that ends the head.
	n := strings.Count(rest, "\r\n") - 1
	if n < 1 {
		return nil, false // no Host
	}
	if pc.keys == nil {
		pc.keys = make(map[string]string)
		pc.h = make(http.Header, n)
	} else {
		clear(pc.h)
	}
	h := pc.h
	if cap(pc.strs) < n {
		pc.strs = make([]string, n)
	}
	strs := pc.strs[:n]
	clear(strs)
	for {
		var f string
		f, rest, found = strings.Cut(rest, "\r\n")
		if !found {
			return nil, false
		}
		if f == "" {
			break
		}
		name, value, found := strings.Cut(f, ":")
		if !found || name == "" {
			return nil, false
		}
		for i := 0; i < len(name); i++ {
			if !tokenByte(name[i]) {
				return nil, false
			}
		}
		for i := 0; i < len(value); i++ {
			if !headerValueByte(value[i]) {
				return nil, false
			}
		}
		key, ok := pc.keys[name]
		if !ok {
			key = http.CanonicalHeaderKey(name)
			if len(pc.keys) < 64 {
				pc.keys[name] = key
			}
		}
		value = strings.Trim(value, " \t")
		if vv := h[key]; vv != nil {
			h[key] = append(vv, value)
		} else {
			vv, strs = strs[:1:1], strs[1:]
			vv[0] = value
			h[key] = vv
		}
	}
	if len(h["Host"]) != 1 || h["Trailer"] != nil {
		return nil, false
	}
	host := h["Host"][0]
	delete(h, "Host") // as http.ReadRequest does
	if hp := h["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, cc := h["Cache-Control"]; !cc {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	pc.req = http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		Close:      hasToken(h["Connection"], "close"),
		RequestURI: target,
	}
	return &pc.req, true
}

// parseCache is what parseHead reuses from one request to the next.
type parseCache struct {
	keys map[string]string // header names seen, canonical
	req  http.Request
	url  url.URL
	h    http.Header
	strs []string
}

// parseTarget parses an origin-form request target as url.ParseRequestURI
// does; ok is false for a target it leaves to url.ParseRequestURI.
func parseTarget(target string, u *url.URL) (*url.URL, bool) {
	if len(target) == 0 || target[0] != '/' {
		return nil, false
	}
	path, query, hasQuery := strings.Cut(target, "?")
	if hasQuery && query == "" {
		return nil, false // ForceQuery and its cases
	}
	for i := 0; i < len(path); i++ {
		if !plainPathByte(path[i]) {
			// Escapes, and bytes the URL would keep a RawPath for.
			u, err := url.ParseRequestURI(target)
			return u, err == nil
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c < 0x20 || c == 0x7f {
			return nil, false
		}
	}
	*u = url.URL{Path: path, RawQuery: query}
	return u, true
}

// plainPathByte reports whether c stands for itself in a path: net/url
// neither unescapes it nor would escape it.
func plainPathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return true
	}
	return false
}

// tokenByte reports whether c may be in a header name (RFC 9110's tchar).
func tokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// hasToken reports whether a comma-separated list in values holds token
// (lower case), compared in ASCII without case, as net/http reads
// Connection: close.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.Trim(part, " \t")
			if len(part) != len(token) {
				continue
			}
			same := true
			for i := 0; i < len(part) && same; i++ {
				c := part[i]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				same = c == token[i]
			}
			if same {
				return true
			}
		}
	}
	return false
}

// headerValueByte reports whether c may be in a header value: visible
// characters, space, tab and obs-text, as net/textproto allows.
func headerValueByte(c byte) bool {
	return c >= 0x20 && c != 0x7f || c == '\t'
}
