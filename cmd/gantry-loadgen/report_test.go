package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/benchproc"
)

func TestSpliceSection(t *testing.T) {
	body := sectionTitle + "\n\nnew body\n"
	tests := []struct {
		name, doc, want string
	}{
		{
			name: "empty file",
			doc:  "",
			want: body,
		},
		{
			name: "appended when missing",
			doc:  "# Performance\n\n## API: task definitions\n\ntext\n",
			want: "# Performance\n\n## API: task definitions\n\ntext\n\n" + body,
		},
		{
			name: "replaced in the middle, neighbours untouched",
			doc:  "# P\n\n## A\n\na\n\n" + sectionTitle + "\n\nold\n\n### Results\n\nold results\n\n## B\n\nb\n",
			want: "# P\n\n## A\n\na\n\n" + body + "\n## B\n\nb\n",
		},
		{
			name: "replaced at the end",
			doc:  "# P\n\n## A\n\na\n\n" + sectionTitle + "\n\nold\n",
			want: "# P\n\n## A\n\na\n\n" + body,
		},
		{
			name: "hand-written subsection kept",
			doc:  "## A\n\n" + sectionTitle + "\n\nold\n\n" + keptTitle + "\n\nprofile notes\n\n### Other\n\nx\n\n## B\n",
			want: "## A\n\n" + body + "\n" + keptTitle + "\n\nprofile notes\n\n## B\n",
		},
		{
			name: "headings inside code blocks ignored",
			doc:  "## A\n\n```\n" + sectionTitle + "\n```\n",
			want: "## A\n\n```\n" + sectionTitle + "\n```\n\n" + body,
		},
		{
			name: "a section heading in its code block does not end it",
			doc:  sectionTitle + "\n\n```\n## not a heading\n```\n\n## B\n",
			want: body + "\n## B\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spliceSection(tt.doc, body); got != tt.want {
				t.Errorf("spliceSection:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSpliceSectionIdempotent(t *testing.T) {
	doc := "# P\n\n## A\n\na\n\n" + sectionTitle + "\n\nold\n\n" + keptTitle + "\n\nnotes\n\n## B\n\nb\n"
	body := sectionTitle + "\n\nnew\n"
	once := spliceSection(doc, body)
	if twice := spliceSection(once, body); twice != once {
		t.Errorf("second splice changed the document:\n%q\n%q", once, twice)
	}
}

func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	if err := os.WriteFile(path, []byte("# Performance\n\n## API\n\nkeep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, sectionTitle+"\n\nresults\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Performance\n\n## API\n\nkeep me\n\n" + sectionTitle + "\n\nresults\n"
	if string(got) != want {
		t.Errorf("file:\n got %q\nwant %q", got, want)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the original 0600", info.Mode().Perm())
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Millisecond)
	}
	got := summarize(d)
	want := latencies{N: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (latencies{}) {
		t.Errorf("summarize(nil) = %+v", got)
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("percentile of one = %v", got)
	}
}

func TestBucket(t *testing.T) {
	var ss []second
	for i := range 5 {
		ss = append(ss, second{Span: time.Second, Tasks: 100 * (i + 1), P99: time.Duration(i) * time.Millisecond, ServerCPU: 1, ServerRSS: int64(i)})
	}
	if got, k := bucket(ss, 10); k != 1 || len(got) != 5 {
		t.Fatalf("bucket under the limit: %d rows, k %d", len(got), k)
	}
	got, k := bucket(ss, 2)
	if k != 3 || len(got) != 2 {
		t.Fatalf("bucket(5, 2): %d rows, k %d; want 2 rows of 3", len(got), k)
	}
	if got[0].Tasks != 600 || got[0].Span != 3*time.Second || got[0].P99 != 2*time.Millisecond || got[0].ServerRSS != 2 || got[0].ServerCPU != 1 {
		t.Errorf("first bucket %+v", got[0])
	}
	if got[1].Tasks != 900 || got[1].Span != 2*time.Second {
		t.Errorf("second bucket %+v", got[1])
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProblems(t *testing.T) {
	ok := &result{
		Checked:      true,
		Registration: registration{Instances: 2},
		Placement:    &placement{Requested: 10, Placed: 10},
		Listing:      listing{Listed: 10},
		Census:       census{Instances: 2, Pending: 10},
	}
	if p := ok.problems(); len(p) != 0 {
		t.Errorf("problems of a clean run: %q", p)
	}
	bad := *ok
	bad.Listing = listing{Listed: 11, Extra: 1}
	bad.Census = census{Instances: 2, Pending: 10, Overcommitted: 1}
	bad.AckCensus = &census{Instances: 2, Pending: 1, Running: 9}
	p := bad.problems()
	if len(p) != 3 {
		t.Errorf("problems = %q, want the listing, the over-commitment and the tasks not RUNNING", p)
	}
	cut := *ok
	cut.Checked = false
	cut.Placement = &placement{Requested: 10, Placed: 4}
	if p := cut.problems(); len(p) != 2 || !strings.Contains(p[1], "before its checks") {
		t.Errorf("problems of an interrupted run = %q", p)
	}
}

func TestReadProc(t *testing.T) {
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("readMemory = %+v", m)
	}
	if _, err := benchproc.ProcCPU(os.Getpid()); err != nil {
		t.Errorf("readCPU: %v", err)
	}
	if _, err := readRunqueueWait(os.Getpid()); err != nil {
		t.Errorf("readRunqueueWait: %v", err)
	}
}

func TestMarkdownHasEveryRow(t *testing.T) {
	r := &result{
		Date:         time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC),
		Cfg:          defaultConfig(),
		ServerPID:    1,
		Registration: registration{Instances: 5000, Duration: 2 * time.Second},
		Placement: &placement{Requested: 100000, Placed: 100000, Calls: 10000, Duration: 9500 * time.Millisecond,
			Seconds: []second{{Span: time.Second, Tasks: 10000}, {Span: 500 * time.Millisecond, Tasks: 5000}}},
		Checked: true,
		Listing: listing{Listed: 100000, Pages: 1000},
		Census:  census{Instances: 5000, Pending: 100000, MinTasks: 20, MaxTasks: 20},
		Memory:  &memory{RSS: 300 << 20, HWM: 400 << 20},
	}
	r.Cfg.Args = []string{"-ack", "-write", "docs/performance.md"}
	md := r.markdown()
	for _, want := range []string{sectionTitle, "go run ./cmd/gantry-loadgen -ack -write docs/performance.md", "| 1.0 | 10,000 | 10,000 |",
		"| 1.5 | 5,000 | 10,000 |", "**10,526**", "300 MiB / 400 MiB", "### Machine"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "Failed") {
		t.Errorf("markdown of a clean run reports a failure:\n%s", md)
	}
}

func TestHalfway(t *testing.T) {
	records := []attemptRecord{
		{End: 3 * time.Second, Tasks: 10},
		{End: 1 * time.Second, Tasks: 10},
		{End: 2 * time.Second, Tasks: 0}, // refused
		{End: 4 * time.Second, Tasks: 10},
		{End: 5 * time.Second, Tasks: 10},
	}
	if got := halfway(records, 40); got != 3*time.Second {
		t.Errorf("halfway = %v, want 3s", got)
	}
	p := &placement{Placed: 40, Duration: 5 * time.Second, HalfAt: 4 * time.Second}
	if h1, h2 := p.halfRates(); h1 != 5 || h2 != 20 {
		t.Errorf("halfRates = %v, %v; want 5, 20", h1, h2)
	}
}
