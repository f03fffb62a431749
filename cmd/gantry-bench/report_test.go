package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReplaceSection(t *testing.T) {
	section := sectionHeading + "\n\nnew body\n"
	tests := []struct {
		name, doc, want string
	}{
		{
			name: "empty file",
			doc:  "",
			want: section,
		},
		{
			name: "appended after other sections",
			doc:  "# Gantry performance\n\n## Server: API latency\n\nserver text\n",
			want: "# Gantry performance\n\n## Server: API latency\n\nserver text\n\n" + section,
		},
		{
			name: "replaced up to the next section",
			doc:  "# T\n\n" + sectionHeading + "\n\nold body\n\n### Sub\n\nold sub\n\n## Server: API latency\n\nserver text\n",
			want: "# T\n\n" + section + "\n## Server: API latency\n\nserver text\n",
		},
		{
			name: "replaced at the end",
			doc:  "# T\n\n## Other\n\nother\n\n" + sectionHeading + "\n\nold\n",
			want: "# T\n\n## Other\n\nother\n\n" + section,
		},
		{
			name: "hand-written findings are kept",
			doc:  "# T\n\n" + sectionHeading + "\n\nold body\n\n### Findings\n\nwhy\n\n#### Detail\n\nmore\n\n## Next\n",
			want: "# T\n\n" + section + "\n### Findings\n\nwhy\n\n#### Detail\n\nmore\n\n## Next\n",
		},
		{
			name: "hand-written findings are kept at the end of the file",
			doc:  "# T\n\n" + sectionHeading + "\n\nold body\n\n### Findings\n\nwhy\n",
			want: "# T\n\n" + section + "\n### Findings\n\nwhy\n",
		},
		{
			name: "heading inside a code fence does not end the section",
			doc:  "# T\n\n" + sectionHeading + "\n\n```\n## not a heading\n```\n\n## Next\n",
			want: "# T\n\n" + section + "\n## Next\n",
		},
		{
			name: "heading inside a code fence is not the section",
			doc:  "# T\n\n```\n" + sectionHeading + "\n```\n",
			want: "# T\n\n```\n" + sectionHeading + "\n```\n\n" + section,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := replaceSection(tt.doc, section); got != tt.want {
				t.Errorf("replaceSection:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docs", "performance.md")
	if err := writeSection(path, sectionHeading+"\n\nfirst\n"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := fileTitle + "\n\n" + sectionHeading + "\n\nfirst\n"; string(b) != want {
		t.Fatalf("new file: got %q, want %q", b, want)
	}
	// Another engineer's section, then a second run of ours.
	if err := os.WriteFile(path, append(b, "\n## Server: other\n\ntheirs\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, sectionHeading+"\n\nsecond\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if want := fileTitle + "\n\n" + sectionHeading + "\n\nsecond\n\n## Server: other\n\ntheirs\n"; string(b) != want {
		t.Fatalf("rewrite: got %q, want %q", b, want)
	}
}

func TestSummarize(t *testing.T) {
	var samples []time.Duration
	for i := 20; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := summarize(samples)
	want := summary{P50: 10 * time.Millisecond, P90: 18 * time.Millisecond, Mean: 10500 * time.Microsecond, Max: 20 * time.Millisecond}
	if got != want {
		t.Errorf("summarize(1..20 ms) = %+v, want %+v", got, want)
	}
	if got := summarize([]time.Duration{7}); got != (summary{7, 7, 7, 7}) {
		t.Errorf("summarize of one sample = %+v", got)
	}
	if got := summarize(nil); got != (summary{}) {
		t.Errorf("summarize(nil) = %+v", got)
	}
}

func TestReproduceCommand(t *testing.T) {
	got := reproduceCommand([]string{"-n", "20", "-write", "docs/performance.md", "-agent-env", "GODEBUG=madvdontneed=1,x=y z"})
	want := "go run ./cmd/gantry-bench agent -n 20 -write docs/performance.md -agent-env 'GODEBUG=madvdontneed=1,x=y z'"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if !strings.HasPrefix(reproduceCommand(nil), "go run ./cmd/gantry-bench agent") {
		t.Error("no arguments")
	}
}

func TestConfigValidate(t *testing.T) {
	c := config{N: 0, Warmup: -1, Tasks: 0, Poll: 0, AgentEnv: []string{"NOEQUALS"}}
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"-n", "-warmup", "-tasks", "-poll", "-agent-env"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	ok := config{N: 1, Tasks: 1, Poll: time.Millisecond, AgentEnv: []string{"GOGC=50"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
