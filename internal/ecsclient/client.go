// Package ecsclient is a small client of the ECS JSON 1.1 API that speaks
// Gantry's wire shapes (package ecsapi), including the Gantry* extension
// operations the AWS SDKs do not know. It signs every request with SigV4.
// The agent uses it; so do load generators.
package ecsclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// Client calls an ECS endpoint: one URL, or one of several servers of the
// same control plane, moving to another on a failed call (failover.go).
type Client struct {
	region string
	signer *v4.Signer
	http   *http.Client

	mu    sync.Mutex
	creds aws.Credentials
	// eps are the endpoints the client may call (failover.go).
	eps endpoints
}

// TrustPEM makes the client verify an https:// endpoint against the CA
// certificates in pem only (a development CA, a private one). Call it
// before the first request.
func (c *Client) TrustPEM(pem []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("no PEM certificate found")
	}
	c.http.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return nil
}

// SetCredentials makes the client sign its next requests with another
// access key (an agent switching to its instance's own key).
func (c *Client) SetCredentials(accessKeyID, secretAccessKey string) {
	c.mu.Lock()
	c.creds = aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey}
	c.mu.Unlock()
}

// AccessKeyID returns the access key the client signs with.
func (c *Client) AccessKeyID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creds.AccessKeyID
}

// New returns a client of endpoint (e.g. http://127.0.0.1:8845) signing for
// region with the given access key. endpoint may list several servers of
// one control plane, separated by commas: the client calls one of them at
// a time and moves to the next when a call fails (see Call).
func New(endpoint, region, accessKeyID, secretAccessKey string) *Client {
	return &Client{
		eps:    newEndpoints(SplitEndpoints(endpoint)),
		region: region,
		creds:  aws.Credentials{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey},
		signer: v4.NewSigner(),
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}},
	}
}

// Error is an error the API answered with.
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status) }

// Call invokes operation op with in and decodes the answer into out (which
// may be nil). Errors the API returns are *Error.
//
// With several endpoints, a request that could not be sent (the server
// refuses the connection) is sent at once to the next endpoint; any other
// failed exchange (a connection broken mid-call, a timeout, an answer with
// a 5xx status) is returned, and the client's next call goes to the next
// endpoint: the callers retry, and the request may have been applied.
func (c *Client) Call(ctx context.Context, op string, in, out any) error {
	return c.CallService(ctx, "ecs", ecsapi.TargetPrefix, op, in, out)
}

// CallService invokes operation op of another JSON 1.1 service on the same
// endpoint: signingName is its SigV4 scope (e.g. "ecr") and targetPrefix
// its X-Amz-Target prefix (e.g. ecrapi.TargetPrefix).
func (c *Client) CallService(ctx context.Context, signingName, targetPrefix, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s: %w", op, err)
	}
	for tries := c.eps.count(); ; tries-- {
		ep := c.eps.current()
		err := c.send(ctx, ep, signingName, targetPrefix, op, body, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !c.eps.failed(ep, err) || tries <= 1 || !notSent(err) {
			return err
		}
	}
}

// send makes one exchange with endpoint ep.
func (c *Client) send(ctx context.Context, ep, signingName, targetPrefix, op string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", targetPrefix+"."+op)
	sum := sha256.Sum256(body)
	c.mu.Lock()
	creds := c.creds
	c.mu.Unlock()
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), signingName, c.region, time.Now()); err != nil {
		return fmt.Errorf("sign %s: %w", op, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s (%s): %w", op, ep, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		code := e.Type
		if i := strings.LastIndex(code, "#"); i >= 0 {
			code = code[i+1:]
		}
		if code == "" {
			code = resp.Header.Get("X-Amzn-ErrorType")
		}
		return &Error{Status: resp.StatusCode, Code: code, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}
