package lb

import (
	"bufio"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// sameAsReadRequest checks that parseHead, where it takes head, makes the
// request http.ReadRequest makes of it.
func sameAsReadRequest(t *testing.T, head string) (parsed bool) {
	t.Helper()
	got, ok := parseHead([]byte(head), &testCache)
	want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("parseHead took %q, which http.ReadRequest refuses: %v", head, err)
	}
	if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Proto != want.Proto ||
		got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor || got.Host != want.Host ||
		got.Close != want.Close || got.ContentLength != want.ContentLength || got.Body != want.Body ||
		!reflect.DeepEqual(got.URL, want.URL) || !reflect.DeepEqual(got.Header, want.Header) ||
		got.TransferEncoding != nil || want.TransferEncoding != nil || got.Trailer != nil || want.Trailer != nil {
		t.Fatalf("%q:\nparseHead       %+v\nhttp.ReadRequest %+v\nURL %#v\nURL %#v", head, got, want, got.URL, want.URL)
	}
	return true
}

// testCache is reused across the tests' heads, as a connection's is.
var testCache parseCache

func TestParseHeadMatchesReadRequest(t *testing.T) {
	taken := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /x/y.html?a=1&b=%20 HTTP/1.1\r\nhost:  b.example:8080 \r\nUser-Agent: wrk\r\n\r\n",
		"OPTIONS /p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n",
		"GET /a/b;c=d,e:f@g$h&i+j=k~l HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
		"GET /p?q#frag HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\nCache-Control: max-age=1\r\n\r\n",
		"GET /%41%2fb HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /\"quoted\"(x)!* HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX-Obs: \xe9t\xe9\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n",
		"GET /p HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nACCEPT: */*\r\nx-amzn-trace-id: Root=1-2-3\r\n\r\n",
	}
	for _, head := range taken {
		if !sameAsReadRequest(t, head) {
			t.Errorf("parseHead left %q to http.ReadRequest", head)
		}
	}
	left := []string{
		"GET http://h/p HTTP/1.1\r\nHost: h\r\n\r\n",        // absolute form
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",             // asterisk form
		"GET /p? HTTP/1.1\r\nHost: h\r\n\r\n",               // ForceQuery
		"GET /p HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",     // two Hosts
		"GET /p HTTP/1.1\r\nX: y\r\n\r\n",                   // no Host
		"GET /p HTTP/1.1\r\n\r\n",                           // no header
		"GET /p HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n", // space in a name
		"GET /p HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n",         // empty name
		"GET /p HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",   // NUL in a value
		"GET /p HTTP/1.1\r\nHost: h\r\nX\r\n\r\n",           // no colon
		"GET /p HTTP/1.1\r\nHost: h\r\nTrailer: X\r\n\r\n",  // Trailer without a body
		"GET /p?a\x01 HTTP/1.1\r\nHost: h\r\n\r\n",          // control byte in the query
		"GET /p HTTP/1.0\r\nHost: h\r\n\r\n",
		"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: h\r\n\r\n",
		"get /p HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", // a bad escape
	}
	for _, head := range left {
		if sameAsReadRequest(t, head) {
			t.Errorf("parseHead took %q, which it should leave to http.ReadRequest", head)
		}
	}
}

// TestParseHeadRandom compares the two on random heads built from
// pieces that matter to parsing.
func TestParseHeadRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	taken := 0
	for range 20000 {
		var b strings.Builder
		b.WriteString(pick("GET", "HEAD", "OPTIONS", "PUT", "GET"))
		b.WriteString(" ")
		b.WriteString(pick("/", "/a", "//b", "/a/../c"))
		for range rng.IntN(4) {
			b.WriteString(pick("x", "%2F", "%", "é", "?", "#", "&", "=", ";", "(", "\x7f", "\t", "~", "+", "%41"))
		}
		b.WriteString(pick(" HTTP/1.1", " HTTP/1.1", " HTTP/1.0", " HTTP/1.1 ", "  HTTP/1.1"))
		b.WriteString("\r\n")
		hosts := 0
		for range rng.IntN(6) {
			name := pick("Host", "host", "X-A", "x-a", "Connection", "Pragma", "Cache-Control", "Accept", "X_Y", "X Y", "", "Ü")
			if strings.EqualFold(name, "host") {
				hosts++
			}
			b.WriteString(name)
			b.WriteString(pick(":", ": ", ":  ", " :", ":\t"))
			b.WriteString(pick("v", "close", "keep-alive, close", "no-cache", "", " x ", "a\x01", "\xff", "1.2.3.4", "a,b", "CLOSE", "clo\xc5\xbfe", " close ,x", "closed"))
			b.WriteString("\r\n")
		}
		if hosts == 0 && rng.IntN(4) > 0 {
			b.WriteString("Host: h\r\n")
		}
		b.WriteString("\r\n")
		if sameAsReadRequest(t, b.String()) {
			taken++
		}
	}
	if taken < 1000 {
		t.Fatalf("parseHead took only %d random heads", taken)
	}
	t.Logf("parseHead took %d of 20000 random heads", taken)
}
