package ecs

import (
	"context"
	"testing"

	"github.com/gantry-dev/gantry/internal/caller"
)

func TestSettingPrincipal(t *testing.T) {
	s := &API{Region: "us-east-1", Account: "123456789012"}
	root := "arn:aws:iam::123456789012:root"
	tests := []struct {
		given, caller, want string
		ok                  bool
	}{
		{"", "", root, true},
		{"", "arn:aws:iam::123456789012:user/me", "arn:aws:iam::123456789012:user/me", true},
		{"arn:aws:iam::123456789012:role/path/r", "", "arn:aws:iam::123456789012:role/path/r", true},
		{"arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:user/me", root, true},
		{"arn:aws:iam::210987654321:user/x", "", "", false},
		{"arn:aws:iam::123456789012:group/g", "", "", false},
		{"user/me", "", "", false},
	}
	for _, tt := range tests {
		ctx := caller.WithCaller(context.Background(), caller.Caller{Principal: tt.caller})
		got, err := s.settingPrincipal(ctx, tt.given)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("settingPrincipal(%q) as %q = %q, %v", tt.given, tt.caller, got, err)
		}
	}
	if a, b := s.settingKey("arn:aws:iam::123456789012:user/a", "x"), s.settingKey("arn:aws:iam::123456789012:user/a/x", "x"); a == b {
		t.Fatal("principals with paths share keys")
	}
}

func TestSettingSpecs(t *testing.T) {
	root := "arn:aws:iam::123456789012:root"
	for name, spec := range settingSpecs() {
		if spec.managed {
			continue
		}
		if err := spec.checkWrite(name, spec.def, root, root); err != nil {
			t.Errorf("%s: the default %q is refused: %v", name, spec.def, err)
		}
	}
}
