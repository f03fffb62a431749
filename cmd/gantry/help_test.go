package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestHelp keeps every command's --help text, and so every flag's name,
// default and description, as the golden files in testdata say. Run with
// -update after a deliberate change and review the diff.
func TestHelp(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		golden string
		code   int
	}{
		{"no command", nil, "help.txt", 2},
		{"server", []string{"server", "--help"}, "help-server.txt", 0},
		{"dev", []string{"dev", "--help"}, "help-dev.txt", 0},
		{"agent", []string{"agent", "--help"}, "help-agent.txt", 0},
		{"lb", []string{"lb", "--help"}, "help-lb.txt", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			got := append(stdout.Bytes(), stderr.Bytes()...)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s:\n%s", tc.args, path, got)
			}
		})
	}
}
