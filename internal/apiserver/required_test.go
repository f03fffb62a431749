package apiserver

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/awsproto"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestRequiredMembers(t *testing.T) {
	tests := []struct {
		name string
		in   any
		path string // "" when valid
	}{
		{"all there", &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{{Name: "a"}}}, ""},
		{"top level", &ecsapi.PutAttributesRequest{}, "'attributes'"},
		{"in a list", &ecsapi.PutAttributesRequest{Attributes: []ecsapi.Attribute{{Name: "a"}, {Value: "v"}}}, "'attributes.2.name'"},
		{"nested structure", &ecsapi.RunTaskRequest{TaskDefinition: "x", NetworkConfiguration: &ecsapi.NetworkConfiguration{AwsvpcConfiguration: &ecsapi.AwsVpcConfiguration{}}}, "'networkConfiguration.awsvpcConfiguration.subnets'"},
		{"optional absent", &ecsapi.RunTaskRequest{TaskDefinition: "x"}, ""},
	}
	code := ECS(nil, nil).Meta.Validation()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := awsproto.CheckRequired(tt.in, code)
			if tt.path == "" && err != nil || tt.path != "" && (err == nil || !strings.Contains(err.Error(), tt.path) || err.Code != apierror.CodeInvalidParameter) {
				t.Fatalf("got %v, want %q", err, tt.path)
			}
		})
	}
}
