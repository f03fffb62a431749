package sigv4

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const body = `{"clusterName":"x"}`

func signed(t *testing.T, secret, region string, at time.Time) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://127.0.0.1:8845/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.CreateCluster")
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), "ecs", region, at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	v := NewVerifier("us-east-1", "ecs", []Credential{{AccessKeyID: "AKID", SecretAccessKey: "secret", Principal: "arn:aws:iam::1:user/u"}})
	tests := []struct {
		name string
		req  func() *http.Request
		body string
		code string
	}{
		{"valid", func() *http.Request { return signed(t, "secret", "us-east-1", now) }, body, ""},
		{"clock skew within 5 minutes", func() *http.Request { return signed(t, "secret", "us-east-1", now.Add(4*time.Minute)) }, body, ""},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest("POST", "http://127.0.0.1:8845/", strings.NewReader(body))
			return r
		}, body, "MissingAuthenticationTokenException"},
		{"wrong secret", func() *http.Request { return signed(t, "other", "us-east-1", now) }, body, "InvalidSignatureException"},
		{"body changed after signing", func() *http.Request { return signed(t, "secret", "us-east-1", now) }, `{"clusterName":"y"}`, "InvalidSignatureException"},
		{"too old", func() *http.Request { return signed(t, "secret", "us-east-1", now.Add(-6*time.Minute)) }, body, "InvalidSignatureException"},
		{"other region", func() *http.Request { return signed(t, "secret", "eu-west-1", now) }, body, "InvalidSignatureException"},
		{"unknown key", func() *http.Request {
			r := signed(t, "secret", "us-east-1", now)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential=AKID/", "Credential=NOPE/", 1))
			return r
		}, body, "UnrecognizedClientException"},
		{"no signature", func() *http.Request {
			r := signed(t, "secret", "us-east-1", now)
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:strings.Index(h, ", Signature=")])
			return r
		}, body, "IncompleteSignatureException"},
		{"no date", func() *http.Request {
			r := signed(t, "secret", "us-east-1", now)
			r.Header.Del("X-Amz-Date")
			return r
		}, body, "IncompleteSignatureException"},
		{"x-amz-target not signed", func() *http.Request {
			// A signature over host and x-amz-date only, valid as such:
			// the target is added after signing.
			r := signed(t, "secret", "us-east-1", now)
			r2, _ := http.NewRequest("POST", "http://127.0.0.1:8845/", strings.NewReader(body))
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"},
				r2, hex.EncodeToString(sum[:]), "ecs", "us-east-1", now); err != nil {
				t.Fatal(err)
			}
			r2.Header.Set("X-Amz-Target", r.Header.Get("X-Amz-Target"))
			if h := r2.Header.Get("Authorization"); !strings.Contains(h, "SignedHeaders=content-length;host;x-amz-date,") {
				t.Fatalf("signed %s", h)
			}
			return r2
		}, body, "InvalidSignatureException"},
		{"x-amz header added after signing", func() *http.Request {
			r := signed(t, "secret", "us-east-1", now)
			r.Header.Set("X-Amz-Security-Token", "forged")
			return r
		}, body, "InvalidSignatureException"},
		{"other algorithm", func() *http.Request {
			r := signed(t, "secret", "us-east-1", now)
			r.Header.Set("Authorization", "AWS3 "+r.Header.Get("Authorization"))
			return r
		}, body, "IncompleteSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := v.Verify(tt.req(), []byte(tt.body), now)
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.code == "" && cred.Principal != "arn:aws:iam::1:user/u":
				t.Fatalf("principal %q", cred.Principal)
			case tt.code != "" && (err == nil || err.Code != tt.code):
				t.Fatalf("want %s, got %v", tt.code, err)
			}
		})
	}
}

func TestPresignedQuery(t *testing.T) {
	now := time.Now().UTC()
	v := NewVerifier("us-east-1", "ecs", []Credential{{AccessKeyID: "AKID", SecretAccessKey: "secret"}})
	req, _ := http.NewRequest("POST", "http://127.0.0.1:8845/", nil)
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	url, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"},
		req, "UNSIGNED-PAYLOAD", "ecs", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := http.NewRequest("POST", url, nil)
	for k, vs := range hdr {
		for _, x := range vs {
			pr.Header.Add(k, x)
		}
	}
	if _, aerr := v.Verify(pr, nil, now); aerr != nil {
		t.Fatalf("presigned request refused: %v", aerr)
	}
}

// signedFor signs a form-encoded request for the given scope's service.
func signedFor(t *testing.T, service string, at time.Time) *http.Request {
	t.Helper()
	const form = "Action=DescribeLoadBalancers&Version=2015-12-01"
	req, _ := http.NewRequest("POST", "http://127.0.0.1:8845/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(form))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"},
		req, hex.EncodeToString(sum[:]), service, "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestVerifyServiceScopes(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	served := []string{"ecs", "elasticloadbalancing", "logs", "monitoring", "application-autoscaling", "ecr"}
	v := NewServicesVerifier("us-east-1", served, []Credential{{AccessKeyID: "AKID", SecretAccessKey: "secret", Principal: "p"}})
	form := []byte("Action=DescribeLoadBalancers&Version=2015-12-01")
	for _, svc := range served {
		t.Run(svc, func(t *testing.T) {
			got, err := v.Verify(signedFor(t, svc, now), form, now)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got.Service != svc || got.Principal != "p" || got.AccessKeyID != "AKID" {
				t.Fatalf("got %+v", got)
			}
		})
	}
	t.Run("unknown scope", func(t *testing.T) {
		_, err := v.Verify(signedFor(t, "sqs", now), form, now)
		if err == nil || err.Code != "InvalidSignatureException" || !strings.Contains(err.Message, "Credential should be scoped to correct service") {
			t.Fatalf("want InvalidSignatureException for the scope, got %v", err)
		}
	})
	t.Run("scope not served by a single-service verifier", func(t *testing.T) {
		ecsOnly := NewVerifier("us-east-1", "ecs", []Credential{{AccessKeyID: "AKID", SecretAccessKey: "secret"}})
		_, err := ecsOnly.Verify(signedFor(t, "logs", now), form, now)
		if err == nil || err.Code != "InvalidSignatureException" || !strings.Contains(err.Message, "'ecs'") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("signed for one service, scope rewritten to another", func(t *testing.T) {
		r := signedFor(t, "logs", now)
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/logs/", "/ecr/", 1))
		_, err := v.Verify(r, form, now)
		if err == nil || err.Code != "InvalidSignatureException" {
			t.Fatalf("got %v", err)
		}
	})
}

// TestVerifyLookupOutage: a key that could not be looked up (the store
// behind the lookup unreachable) is a temporary failure of the server, a
// 503 ServerException that SDKs retry and agents take as their cue to move
// to another server; an unknown key is still UnrecognizedClient.
func TestVerifyLookupOutage(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	v := NewVerifier("us-east-1", "ecs", nil)
	var down bool
	v.SetLookup(func(akid string) (Credential, bool, error) {
		if down {
			return Credential{}, false, errors.New("etcdserver: request timed out")
		}
		if akid == "AKID" {
			return Credential{AccessKeyID: "AKID", SecretAccessKey: "secret"}, true, nil
		}
		return Credential{}, false, nil
	})
	if _, err := v.Verify(signed(t, "secret", "us-east-1", now), []byte(body), now); err != nil {
		t.Fatalf("a key the lookup finds: %v", err)
	}
	r := signed(t, "secret", "us-east-1", now)
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential=AKID/", "Credential=NOPE/", 1))
	if _, err := v.Verify(r, []byte(body), now); err == nil || err.Code != "UnrecognizedClientException" {
		t.Fatalf("an unknown key: got %v, want UnrecognizedClientException", err)
	}
	down = true
	_, err := v.Verify(signed(t, "secret", "us-east-1", now), []byte(body), now)
	if err == nil || err.Code != "ServerException" || err.HTTPStatus() != http.StatusServiceUnavailable {
		t.Fatalf("a lookup that failed: got %v, want a 503 ServerException", err)
	}
}
