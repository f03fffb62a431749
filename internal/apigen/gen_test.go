package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates every package from the pinned models
// into a temporary directory and fails when a committed file differs: the
// generated code never drifts from the models and the generator.
func TestGeneratedUpToDate(t *testing.T) {
	out := t.TempDir()
	if err := run("models", out, ""); err != nil {
		t.Fatal(err)
	}
	for _, s := range services() {
		for _, name := range []string{"shapes_gen.go", "service_gen.go"} {
			want, err := os.ReadFile(filepath.Join(out, "internal", s.Package, name))
			if err != nil {
				t.Fatal(err)
			}
			committed := filepath.Join("..", s.Package, name)
			got, err := os.ReadFile(committed)
			if err != nil {
				t.Fatalf("%v (run go generate ./internal/apigen)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what the pinned model gives: run go generate ./internal/apigen and commit the result", committed)
			}
		}
	}
}

func TestRunUnknownService(t *testing.T) {
	if err := run("models", t.TempDir(), "nosuch"); err == nil {
		t.Fatal("run with an unknown service: want an error")
	}
}

func TestFirstSentence(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", ""},
		{"html", "<p>Describes a <code>Tag</code>. More text.</p>", "Describes a Tag."},
		{"abbreviation", "<p>A name, e.g. Foo. Second.</p>", "A name, e.g. Foo."},
		{"entities", "<p>A &amp; B</p>", "A & B"},
		{"paragraphs", "<p>One</p><p>Two</p>", "One Two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstSentence(tt.doc); got != tt.want {
				t.Errorf("firstSentence(%q) = %q, want %q", tt.doc, got, tt.want)
			}
		})
	}
}

func TestErrorInfoDefaults(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		s    shape
		want errInfo
	}{
		{"plain", shape{Exception: true}, errInfo{"X", 400, true}},
		{"fault", shape{Exception: true, Fault: true}, errInfo{"X", 500, false}},
		{"code", shape{Exception: true, Error: &errorTrait{Code: "C", HTTPStatusCode: 429, SenderFault: &yes}}, errInfo{"C", 429, true}},
		{"server status", shape{Exception: true, Error: &errorTrait{Code: "C", HTTPStatusCode: 500}}, errInfo{"C", 500, false}},
		{"conflict", shape{Exception: true, Error: &errorTrait{HTTPStatusCode: 409}}, errInfo{"X", 409, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorInfo("X", &tt.s); got != tt.want {
				t.Errorf("errorInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}
