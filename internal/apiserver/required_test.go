package apiserver

import (
	"reflect"
	"strings"
	"testing"

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
	var c requiredChecker
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.check(reflect.ValueOf(tt.in).Elem())
			if tt.path == "" && err != nil || tt.path != "" && (err == nil || !strings.Contains(err.Error(), tt.path)) {
				t.Fatalf("got %v, want %q", err, tt.path)
			}
		})
	}
}
