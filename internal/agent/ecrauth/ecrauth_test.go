package ecrauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/ecrapi"
)

// fakeECR answers GetAuthorizationToken and counts the calls.
type fakeECR struct {
	calls    int
	endpoint string
	err      error
	expires  time.Time
}

func (f *fakeECR) CallService(_ context.Context, name, prefix, op string, _, out any) error {
	f.calls++
	if name != ecrapi.SigningName || prefix != ecrapi.TargetPrefix || op != "GetAuthorizationToken" {
		return errors.New("unexpected call " + name + " " + op)
	}
	if f.err != nil {
		return f.err
	}
	*out.(*ecrapi.GetAuthorizationTokenResponse) = ecrapi.GetAuthorizationTokenResponse{AuthorizationData: []ecrapi.AuthorizationData{{
		AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:secret-password")),
		ExpiresAt:          awstime.NewTimestamp(f.expires), ProxyEndpoint: f.endpoint,
	}}}
	return nil
}

func TestResolve(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeECR{endpoint: "http://127.0.0.1:8846", expires: now.Add(12 * time.Hour)}
	r := New(f, func() time.Time { return now })
	ctx := context.Background()
	tests := []struct {
		image, ref string
		auth       bool
	}{
		{"nginx:latest", "nginx:latest", false},
		{"library/nginx", "library/nginx", false},
		{"quay.io/x/y:1", "quay.io/x/y:1", false},
		{"127.0.0.1:8846/app:v1", "127.0.0.1:8846/app:v1", true},
		{"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1", "127.0.0.1:8846/team/app:v1", true},
		{"123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:abc", "127.0.0.1:8846/app@sha256:abc", true},
	}
	for _, tc := range tests {
		ref, auth, err := r.Resolve(ctx, tc.image)
		if err != nil || ref != tc.ref || (auth != "") != tc.auth {
			t.Errorf("Resolve(%q) = %q, auth %v, %v; want %q, auth %v", tc.image, ref, auth != "", err, tc.ref, tc.auth)
		}
		if auth != "" {
			b, _ := base64.URLEncoding.DecodeString(auth)
			var a map[string]string
			if json.Unmarshal(b, &a) != nil || a["username"] != "AWS" || a["password"] != "secret-password" || a["serveraddress"] != "127.0.0.1:8846" {
				t.Errorf("auth of %q: %s", tc.image, b)
			}
		}
	}
	if f.calls != 1 {
		t.Fatalf("%d token calls, want 1 (cached)", f.calls)
	}
	// Within the last hour of the token's life, a new one is fetched.
	now = now.Add(11*time.Hour + time.Minute)
	f.expires = now.Add(12 * time.Hour)
	if _, _, err := r.Resolve(ctx, "127.0.0.1:8846/app:v1"); err != nil || f.calls != 2 {
		t.Fatalf("refresh: %v, %d calls", err, f.calls)
	}
}

func TestResolveWithoutRegistry(t *testing.T) {
	f := &fakeECR{err: errors.New("UnknownOperationException")}
	r := New(f, nil)
	ctx := context.Background()
	if ref, auth, err := r.Resolve(ctx, "quay.io/x/y:1"); err != nil || ref != "quay.io/x/y:1" || auth != "" {
		t.Fatalf("another registry's image: %q %q %v", ref, auth, err)
	}
	if _, _, err := r.Resolve(ctx, "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"); err == nil {
		t.Fatal("an ECR image resolved without a registry")
	}
	// Failures are not retried at once.
	calls := f.calls
	_, _, _ = r.Resolve(ctx, "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1")
	if f.calls != calls {
		t.Fatalf("retried at once: %d calls", f.calls)
	}
}
