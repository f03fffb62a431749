// Package sigv4 verifies AWS Signature Version 4 on incoming requests, the
// way AWS's services do: the Authorization header form (and the presigned
// query form), a credential scope for this region and one of the services
// served (the same credentials for all), a
// request time within five minutes of the server's, and an HMAC-SHA256
// signature over the canonical request.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// MaxSkew is how far a request's time may be from the server's.
const MaxSkew = 5 * time.Minute

// Credential is an access key the server accepts.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// Principal is the ARN requests signed with this key act as.
	Principal string
}

// Verifier checks signatures against a fixed set of credentials, for a
// region and a set of service scopes.
type Verifier struct {
	creds    map[string]Credential
	region   string
	services []string // the scopes accepted, in the order given

	// lookup, when set, finds keys not in creds (issued at run time).
	lookup func(akid string) (Credential, bool, error)

	mu   sync.Mutex
	keys map[string][]byte // akid/date/service -> derived signing key
}

// SetLookup makes v also accept the keys f finds (keys issued while the
// server runs, such as container instances' own), after its fixed ones.
// f reports a key it could not look up (its store unreachable) with an
// error: the request is then answered as a temporary failure of the
// server (ServerException, 503, which the SDKs retry and an agent takes
// as its cue to move to another server), never as an unknown key. f must
// be safe for concurrent use; call SetLookup before serving.
func (v *Verifier) SetLookup(f func(akid string) (Credential, bool, error)) { v.lookup = f }

// Unavailable is Verify's answer when a key could not be looked up: a
// ServerException sent with 503 Service Unavailable.
func Unavailable() *apierror.Error {
	e := apierror.New(apierror.CodeServer, "The service is temporarily unable to verify the request's credentials. Retry the request.")
	e.Status = http.StatusServiceUnavailable
	return e
}

// Verified is the result of a verification: the credential that signed
// the request and the service of its credential scope.
type Verified struct {
	Credential
	// Service is the scope's service ("ecs", "elasticloadbalancing"...).
	Service string
}

// NewVerifier returns a Verifier for the given region and service name
// ("ecs") that accepts the credentials given.
func NewVerifier(region, service string, creds []Credential) *Verifier {
	return NewServicesVerifier(region, []string{service}, creds)
}

// NewServicesVerifier returns a Verifier for the given region that accepts
// a credential scope naming any of services (the signing names: "ecs",
// "elasticloadbalancing", "logs", "monitoring", "application-autoscaling",
// "ecr"), with the same credentials for every one.
func NewServicesVerifier(region string, services []string, creds []Credential) *Verifier {
	m := make(map[string]Credential, len(creds))
	for _, c := range creds {
		m[c.AccessKeyID] = c
	}
	return &Verifier{creds: m, region: region, services: append([]string(nil), services...), keys: map[string][]byte{}}
}

// Services returns the scopes v accepts.
func (v *Verifier) Services() []string { return append([]string(nil), v.services...) }

func (v *Verifier) accepts(service string) bool {
	for _, s := range v.services {
		if s == service {
			return true
		}
	}
	return false
}

type authHeader struct {
	akid, date, region, service, terminal string
	signedHeaders                         []string
	signature                             string
}

func incomplete(msg string) *apierror.Error {
	return apierror.New(apierror.CodeIncompleteSignature, "%s", msg)
}

func parseAuthorization(h string) (*authHeader, *apierror.Error) {
	if !strings.HasPrefix(h, Algorithm+" ") {
		return nil, incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header and must use the " + Algorithm + " algorithm. Authorization=" + h)
	}
	rest := strings.TrimPrefix(h, Algorithm+" ")
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		p = strings.TrimSpace(p)
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, incomplete("Authorization header requires each component to be of the form key=value: " + p)
		}
		parts[k] = v
	}
	var missing []string
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if parts[k] == "" {
			missing = append(missing, "'"+k+"'")
		}
	}
	if len(missing) > 0 {
		return nil, incomplete("Authorization header requires " + strings.Join(missing, ", ") + " parameter(s). Authorization=" + h)
	}
	cred := strings.Split(parts["Credential"], "/")
	if len(cred) != 5 {
		return nil, incomplete("Credential should be scoped to a valid region, service and terminator: " + parts["Credential"])
	}
	return &authHeader{
		akid: cred[0], date: cred[1], region: cred[2], service: cred[3], terminal: cred[4],
		signedHeaders: strings.Split(parts["SignedHeaders"], ";"),
		signature:     parts["Signature"],
	}, nil
}

// Verify checks r, whose body is body, at time now. It returns the
// credential that signed it and the scope's service, or the error AWS
// gives: MissingAuthenticationToken for an unsigned request,
// IncompleteSignature for a malformed one, UnrecognizedClient for an
// unknown key, a 503 ServerException when the key could not be looked up, InvalidSignature for a wrong signature, a scope naming a
// region or a service not served, or an expired request.
func (v *Verifier) Verify(r *http.Request, body []byte, now time.Time) (*Verified, *apierror.Error) {
	var ah *authHeader
	var amzDate string
	var aerr *apierror.Error
	q := r.URL.Query()
	presigned := false
	if h := r.Header.Get("Authorization"); h != "" {
		ah, aerr = parseAuthorization(h)
		if aerr != nil {
			return nil, aerr
		}
		amzDate = r.Header.Get("X-Amz-Date")
		if amzDate == "" {
			if d := r.Header.Get("Date"); d != "" {
				if t, err := http.ParseTime(d); err == nil {
					amzDate = t.UTC().Format("20060102T150405Z")
				}
			}
		}
		if amzDate == "" {
			return nil, incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=" + h)
		}
	} else if q.Get("X-Amz-Algorithm") != "" {
		presigned = true
		if q.Get("X-Amz-Algorithm") != Algorithm {
			return nil, incomplete("Unsupported X-Amz-Algorithm: " + q.Get("X-Amz-Algorithm"))
		}
		cred := strings.Split(q.Get("X-Amz-Credential"), "/")
		if len(cred) != 5 || q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-SignedHeaders") == "" || q.Get("X-Amz-Date") == "" {
			return nil, incomplete("The query string must contain X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature.")
		}
		ah = &authHeader{akid: cred[0], date: cred[1], region: cred[2], service: cred[3], terminal: cred[4],
			signedHeaders: strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), signature: q.Get("X-Amz-Signature")}
		amzDate = q.Get("X-Amz-Date")
	} else {
		return nil, apierror.New(apierror.CodeMissingAuthenticationToken, "Missing Authentication Token")
	}

	cred, ok := v.creds[ah.akid]
	if !ok && v.lookup != nil {
		var err error
		cred, ok, err = v.lookup(ah.akid)
		if err != nil {
			return nil, Unavailable()
		}
	}
	if !ok {
		return nil, apierror.New(apierror.CodeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return nil, incomplete("Date must be in ISO-8601 'basic format'. Got '" + amzDate + "'.")
	}
	if ah.terminal != "aws4_request" {
		return nil, apierror.New(apierror.CodeInvalidSignature, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", ah.terminal)
	}
	if ah.date != t.Format("20060102") {
		return nil, apierror.New(apierror.CodeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", ah.date, t.Format("20060102"), amzDate)
	}
	if !v.accepts(ah.service) {
		want := strings.Join(v.services, "', '")
		if len(v.services) > 1 {
			want = "one of '" + want + "'"
		} else {
			want = "'" + want + "'"
		}
		return nil, apierror.New(apierror.CodeInvalidSignature, "Credential should be scoped to correct service: %s. ", want)
	}
	if ah.region != v.region {
		return nil, apierror.New(apierror.CodeInvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", ah.region)
	}
	if d := now.Sub(t); d > MaxSkew || d < -MaxSkew {
		return nil, apierror.New(apierror.CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 5 min.)",
			amzDate, now.Add(-MaxSkew).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
	}
	if aerr := checkSignedHeaders(r, ah.signedHeaders, presigned); aerr != nil {
		return nil, aerr
	}

	creq := canonicalRequest(r, body, ah.signedHeaders, presigned)
	scope := ah.date + "/" + ah.region + "/" + ah.service + "/aws4_request"
	sts := Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA(creq)
	mac := hmac.New(sha256.New, v.signingKey(cred, ah.date, ah.service))
	mac.Write([]byte(sts))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(ah.signature)) {
		return nil, apierror.New(apierror.CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return &Verified{Credential: cred, Service: ah.service}, nil
}

// checkSignedHeaders refuses a request whose signature leaves out what AWS
// requires it to cover: host, the x-amz-date header that dates it (or the
// Date header when that dates it instead), and every x-amz-* header sent,
// X-Amz-Target among them, so that no header that changes what the request
// does can be altered or added without the secret.
func checkSignedHeaders(r *http.Request, signed []string, presigned bool) *apierror.Error {
	has := make(map[string]bool, len(signed))
	for _, h := range signed {
		has[h] = true
	}
	if !has["host"] {
		return apierror.New(apierror.CodeInvalidSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if !presigned {
		switch {
		case r.Header.Get("X-Amz-Date") != "":
			if !has["x-amz-date"] {
				return apierror.New(apierror.CodeInvalidSignature, "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")
			}
		case !has["date"]:
			return apierror.New(apierror.CodeInvalidSignature, "'Date' must be a 'SignedHeader' in the AWS Authorization.")
		}
	}
	var unsigned []string
	for name := range r.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") && !has[l] {
			unsigned = append(unsigned, name)
		}
	}
	if len(unsigned) > 0 {
		sort.Strings(unsigned)
		return apierror.New(apierror.CodeInvalidSignature, "There were headers present in the request which were not signed: %s. Every 'X-Amz-*' header sent must be a 'SignedHeader' in the AWS Authorization.", strings.Join(unsigned, ", "))
	}
	return nil
}

func (v *Verifier) signingKey(c Credential, date, service string) []byte {
	ck := c.AccessKeyID + "/" + date + "/" + service
	v.mu.Lock()
	k, ok := v.keys[ck]
	v.mu.Unlock()
	if ok {
		return k
	}
	k = hmacSHA([]byte("AWS4"+c.SecretAccessKey), date)
	k = hmacSHA(k, v.region)
	k = hmacSHA(k, service)
	k = hmacSHA(k, "aws4_request")
	v.mu.Lock()
	if len(v.keys) > 1024 {
		v.keys = map[string][]byte{}
	}
	v.keys[ck] = k
	v.mu.Unlock()
	return k
}

func hmacSHA(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hexSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func canonicalRequest(r *http.Request, body []byte, signed []string, presigned bool) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query(), presigned))
	b.WriteByte('\n')
	for _, h := range signed {
		var val string
		switch h {
		case "host":
			val = r.Host
		case "content-length":
			val = r.Header.Get("Content-Length")
			if val == "" && r.ContentLength >= 0 {
				val = itoa(r.ContentLength)
			}
		default:
			vals := r.Header.Values(h)
			for i := range vals {
				vals[i] = collapseSpaces(strings.TrimSpace(vals[i]))
			}
			val = strings.Join(vals, ",")
		}
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(val)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	if presigned {
		b.WriteString("UNSIGNED-PAYLOAD")
	} else if ph := r.Header.Get("X-Amz-Content-Sha256"); ph != "" && ph != "UNSIGNED-PAYLOAD" {
		// The client says which hash it signed; it must still match the body.
		sum := sha256.Sum256(body)
		if ph != hex.EncodeToString(sum[:]) {
			b.WriteString("mismatch")
		} else {
			b.WriteString(ph)
		}
	} else {
		sum := sha256.Sum256(body)
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()
}

func canonicalQuery(q url.Values, presigned bool) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%")
			b.WriteString(strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// CheckSecret returns the configured credential whose access key ID is
// akid when secret is its secret access key (compared in constant time),
// for a sign-in that presents the pair itself (the web console). Only the
// fixed credentials count: keys issued at run time (container instances'
// own) never sign in.
func (v *Verifier) CheckSecret(akid, secret string) (Credential, bool) {
	c, ok := v.creds[akid]
	if !ok {
		// Compare anyway, so an unknown key takes as long as a wrong secret.
		subtle.ConstantTimeCompare([]byte(secret), []byte(secret+"x"))
		return Credential{}, false
	}
	a, b := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(c.SecretAccessKey))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return Credential{}, false
	}
	return c, true
}
