package archtest

import (
	"slices"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name, pattern, path string
		want                bool
	}{
		{"exact", m + "internal/app", m + "internal/app", true},
		{"exact is not a prefix", m + "internal/app", m + "internal/apparel", false},
		{"below", m + "internal/controller/...", m + "internal/controller/service", true},
		{"below includes itself", m + "internal/controller/...", m + "internal/controller", true},
		{"below is by element", m + "internal/ecs/...", m + "internal/ecsapi", false},
		{"wildcard element", m + "internal/*api", m + "internal/ecsapi", true},
		{"wildcard stays in its element", m + "internal/*api", m + "internal/ecsapi/gen", false},
		{"wildcard not apiserver", m + "internal/*api", m + "internal/apiserver", false},
		{"module below", "go.etcd.io/...", "go.etcd.io/etcd/client/v3", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := match(tc.pattern, tc.path); got != tc.want {
				t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
			}
		})
	}
}

func TestCheckNamesTheChain(t *testing.T) {
	out := []byte(m + "cmd/agent false " + m + "internal/agent fmt\n" +
		m + "internal/agent false " + m + "internal/wire " + m + "internal/store\n" +
		m + "internal/wire false fmt\n" +
		m + "internal/store false go.etcd.io/etcd/client/v3\n" +
		"go.etcd.io/etcd/client/v3 false fmt\n" +
		"fmt true\n")
	g, err := parseGraph(out, m[:len(m)-1])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		r       rule
		matched bool
		want    [][]string
	}{
		{
			name:    "forbidden, shortest chain, not walked past",
			r:       rule{from: []string{m + "cmd/agent"}, forbid: []string{m + "internal/store", "go.etcd.io/..."}},
			matched: true,
			want:    [][]string{{m + "cmd/agent", m + "internal/agent", m + "internal/store"}},
		},
		{
			name:    "allow-list",
			r:       rule{from: []string{m + "internal/agent"}, only: []string{"std", m + "internal/wire"}},
			matched: true,
			want:    [][]string{{m + "internal/agent", m + "internal/store"}},
		},
		{
			name:    "clean",
			r:       rule{from: []string{m + "internal/wire"}, only: []string{"std"}},
			matched: true,
		},
		{
			name: "skipped when nothing matches",
			r:    rule{from: []string{m + "internal/state/..."}, forbid: []string{"go.etcd.io/..."}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs, matched := g.check(tc.r)
			if matched != tc.matched {
				t.Fatalf("matched = %v, want %v", matched, tc.matched)
			}
			var got [][]string
			for _, v := range vs {
				got = append(got, v.chain)
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal[[]string]) {
				t.Errorf("chains %q, want %q", got, tc.want)
			}
		})
	}
}
