package ecs

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestAttributeTargetID(t *testing.T) {
	s := &API{Region: "us-east-1", Account: "123456789012"}
	tests := []struct {
		name string
		attr ecsapi.Attribute
		id   string
		code string
	}{
		{"long ARN", ecsapi.Attribute{TargetId: s.ContainerInstanceARN("c", "abc")}, "abc", ""},
		{"short ARN", ecsapi.Attribute{TargetId: "arn:aws:ecs:us-east-1:123456789012:container-instance/abc"}, "abc", ""},
		{"ID with type", ecsapi.Attribute{TargetId: "abc", TargetType: "container-instance"}, "abc", ""},
		{"ID without type", ecsapi.Attribute{TargetId: "abc"}, "", apierror.CodeInvalidParameter},
		{"other cluster", ecsapi.Attribute{TargetId: s.ContainerInstanceARN("d", "abc")}, "", apierror.CodeTargetNotFound},
		{"other region", ecsapi.Attribute{TargetId: "arn:aws:ecs:eu-west-1:123456789012:container-instance/c/abc"}, "", apierror.CodeTargetNotFound},
		{"wrong type", ecsapi.Attribute{TargetId: "abc", TargetType: "task"}, "", apierror.CodeInvalidParameter},
		{"no target", ecsapi.Attribute{}, "", apierror.CodeInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.attributeTargetID("c", tt.attr)
			if tt.code != "" {
				if !apierror.IsCode(err, tt.code) {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil || id != tt.id {
				t.Fatalf("id %q err %v, want %q", id, err, tt.id)
			}
		})
	}
}

func TestValidateAttribute(t *testing.T) {
	tests := []struct {
		attr ecsapi.Attribute
		ok   bool
	}{
		{ecsapi.Attribute{Name: "a.b/c\\d-e_f"}, true},
		{ecsapi.Attribute{Name: "stack", Value: "a:b c@d/e\\f"}, true},
		{ecsapi.Attribute{Name: "with space"}, false},
		{ecsapi.Attribute{Name: "stack", Value: "trailing "}, false},
		{ecsapi.Attribute{Name: "stack", Value: "a,b"}, false},
	}
	for _, tt := range tests {
		if err := validateAttribute(tt.attr, 0, true); (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tt.attr, err, tt.ok)
		}
	}
	attrs := setAttributes([]ecsapi.Attribute{{Name: "ecs.os-type", Value: "linux"}, {Name: "a", Value: "1"}},
		[]ecsapi.Attribute{{Name: "a", Value: "2"}, {Name: "b"}})
	if len(attrs) != 3 || attrs[1].Value != "2" || countCustomAttributes(attrs) != 2 {
		t.Fatalf("set %+v", attrs)
	}
}
