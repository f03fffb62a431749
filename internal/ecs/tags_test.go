package ecs

import (
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func TestValidateTags(t *testing.T) {
	tests := []struct {
		name string
		tags []ecsapi.Tag
		ok   bool
	}{
		{"none", nil, true},
		{"empty value", []ecsapi.Tag{{Key: "k"}}, true},
		{"unicode and allowed punctuation", []ecsapi.Tag{{Key: "Äb c_.:/=+-@", Value: "日本 1"}}, true},
		{"128-rune key", []ecsapi.Tag{{Key: strings.Repeat("é", 128)}}, true},
		{"129-rune key", []ecsapi.Tag{{Key: strings.Repeat("é", 129)}}, false},
		{"257-rune value", []ecsapi.Tag{{Key: "k", Value: strings.Repeat("v", 257)}}, false},
		{"empty key", []ecsapi.Tag{{Key: ""}}, false},
		{"reserved key", []ecsapi.Tag{{Key: "aWs:x"}}, false},
		{"reserved value", []ecsapi.Tag{{Key: "k", Value: "AWS:"}}, false},
		{"aws without colon is fine", []ecsapi.Tag{{Key: "awsome"}}, true},
		{"bad character", []ecsapi.Tag{{Key: "k", Value: "a;b"}}, false},
		{"duplicate key", []ecsapi.Tag{{Key: "k"}, {Key: "k"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validateTags(tt.tags); (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	many := make([]ecsapi.Tag, 51)
	for i := range many {
		many[i].Key = strings.Repeat("k", i+1)
	}
	if validateTags(many) == nil || validateTags(many[:50]) != nil {
		t.Fatal("the limit is 50 tags")
	}
}

func TestMergeTags(t *testing.T) {
	cur := []ecsapi.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}
	got := mergeTags(cur, []ecsapi.Tag{{Key: "b", Value: "3"}, {Key: "c"}})
	if len(got) != 3 || got[1].Value != "3" || got[2].Key != "c" || cur[1].Value != "2" {
		t.Fatalf("merged %+v, original %+v", got, cur)
	}
	if n := countUserTags([]ecsapi.Tag{{Key: "aws:cloudformation:stack-name"}, {Key: "x"}}); n != 1 {
		t.Fatalf("aws: tags count against the limit: %d", n)
	}
}
