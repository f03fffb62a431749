package logship

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func frame(i int, data string, partial bool) runtime.LogFrame {
	return runtime.LogFrame{Time: t0.Add(time.Duration(i) * time.Millisecond), Data: []byte(data), Partial: partial}
}

func assemble(re *regexp.Regexp, frames []runtime.LogFrame) []event {
	var out []event
	a := newAssembler(re, func(e event) { out = append(out, e) })
	for _, f := range frames {
		a.add(f, Pos{TS: f.Time.UnixNano(), N: 1}, t0)
	}
	a.flush()
	return out
}

func msgs(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.msg
	}
	return out
}

func TestAssemble(t *testing.T) {
	dt := regexp.MustCompile(DatetimePattern("%Y-%m-%d %H:%M:%S"))
	ml := regexp.MustCompile(`^INFO|^ERROR`)
	tests := []struct {
		name   string
		re     *regexp.Regexp
		frames []runtime.LogFrame
		want   []string
	}{
		{"one event per line", nil,
			[]runtime.LogFrame{frame(0, "a", false), frame(1, "b", false), frame(2, "", false), frame(3, "c", false)},
			[]string{"a", "b", "c"}},
		{"cut lines joined", nil,
			[]runtime.LogFrame{frame(0, "lo", true), frame(1, "ng", true), frame(2, "!", false), frame(3, "x", false)},
			[]string{"long!", "x"}},
		{"multiline pattern", ml,
			[]runtime.LogFrame{frame(0, "INFO start", false), frame(1, "  at a", false), frame(2, "  at b", false),
				frame(3, "ERROR boom", false), frame(4, "INFO next", false)},
			[]string{"INFO start\n  at a\n  at b\n", "ERROR boom\n", "INFO next\n"}},
		{"lines before the first match make their own event", ml,
			[]runtime.LogFrame{frame(0, "junk", false), frame(1, "INFO x", false)},
			[]string{"junk\n", "INFO x\n"}},
		{"datetime format", dt,
			[]runtime.LogFrame{frame(0, "2026-01-02 03:04:05 first", false), frame(1, "Traceback:", false),
				frame(2, "  line 1", false), frame(3, "2026-01-02 03:04:06 second", false)},
			[]string{"2026-01-02 03:04:05 first\nTraceback:\n  line 1\n", "2026-01-02 03:04:06 second\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := msgs(assemble(tc.re, tc.frames))
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAssembleTimestampAndPos(t *testing.T) {
	ml := regexp.MustCompile(`^START`)
	evs := assemble(ml, []runtime.LogFrame{frame(0, "START", false), frame(5, "more", false), frame(9, "START", false)})
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if evs[0].ts != t0.UnixMilli() || evs[1].ts != t0.Add(9*time.Millisecond).UnixMilli() {
		t.Errorf("timestamps %d %d: want the first line's", evs[0].ts, evs[1].ts)
	}
	if evs[0].pos.TS != t0.Add(5*time.Millisecond).UnixNano() {
		t.Errorf("pos of the first event is %v, want its last frame", evs[0].pos)
	}
}

func TestAssembleSplitsLongEvents(t *testing.T) {
	chunk := strings.Repeat("x", 16*1024)
	var frames []runtime.LogFrame
	for i := 0; i < 20; i++ { // 320 KiB in one line
		frames = append(frames, frame(i, chunk, i < 19))
	}
	evs := assemble(nil, frames)
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	total := 0
	for _, e := range evs {
		if len(e.msg) > MaxEventBytes {
			t.Errorf("event of %d bytes", len(e.msg))
		}
		total += len(e.msg)
	}
	if total != 20*len(chunk) {
		t.Errorf("%d bytes shipped, want %d", total, 20*len(chunk))
	}
	// One frame longer than an event (a raw TTY line) is split too.
	big := strings.Repeat("é", MaxEventBytes) // 2 bytes each
	evs = assemble(nil, []runtime.LogFrame{frame(0, big, false)})
	if len(evs) != 2 || evs[0].size-EventOverhead > MaxEventBytes || len(evs[0].msg)+len(evs[1].msg) != len(big) {
		t.Fatalf("split of one huge frame: %d events", len(evs))
	}
}

func TestEffectiveLen(t *testing.T) {
	if n := effectiveLen([]byte("abc\xffé")); n != 3+3+2 {
		t.Fatalf("effectiveLen = %d, want 8", n)
	}
}

func TestCutBatch(t *testing.T) {
	mk := func(n, size int, span time.Duration) []event {
		out := make([]event, n)
		for i := range out {
			out[i] = event{ts: t0.Add(span * time.Duration(i) / time.Duration(max(n-1, 1))).UnixMilli(), size: size}
		}
		return out
	}
	tests := []struct {
		name   string
		events []event
		want   int
	}{
		{"count", mk(12000, 30, time.Second), MaxBatchEvents},
		{"bytes", mk(100, 100*1024+EventOverhead, time.Second), 10},
		{"exact bytes", mk(4, MaxBatchBytes/4, time.Second), 4},
		{"span", mk(3, 50, 30*time.Hour), 2},
		{"small", mk(5, 50, time.Second), 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, rest := cutBatch(tc.events)
			if len(b) != tc.want || len(b)+len(rest) != len(tc.events) {
				t.Fatalf("batch of %d (rest %d), want %d", len(b), len(rest), tc.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]string
		wantErr string
		check   func(t *testing.T, o Options)
	}{
		{name: "group required", opts: map[string]string{OptRegion: "us-east-1"}, wantErr: "awslogs-group"},
		{name: "both multiline options", opts: map[string]string{OptGroup: "g", OptDatetimeFormat: "%Y", OptMultilinePattern: "x"}, wantErr: "at the same time"},
		{name: "unknown option", opts: map[string]string{OptGroup: "g", "awslogs-bogus": "1"}, wantErr: "unknown log opt"},
		{name: "bad mode", opts: map[string]string{OptGroup: "g", OptMode: "fast"}, wantErr: "mode"},
		{name: "bad pattern", opts: map[string]string{OptGroup: "g", OptMultilinePattern: "("}, wantErr: "multiline"},
		{name: "full", opts: map[string]string{OptGroup: "g", OptRegion: "eu-west-1", OptStreamPrefix: "web", OptCreateGroup: "true",
			OptMode: "non-blocking", OptMaxBufferSize: "4m", OptMultilinePattern: "^x", "awslogs-endpoint": "ignored"},
			check: func(t *testing.T, o Options) {
				if !o.CreateGroup || !o.NonBlocking || o.MaxBufferSize != 4<<20 || o.Multiline == nil || o.Region != "eu-west-1" {
					t.Errorf("options %+v", o)
				}
				if s := o.StreamName("arn:aws:ecs:us-east-1:1:task/default/abc123", "app", "c0ffee"); s != "web/app/abc123" {
					t.Errorf("stream %q", s)
				}
			}},
		{name: "stream without prefix is the container ID", opts: map[string]string{OptGroup: "g"},
			check: func(t *testing.T, o Options) {
				if s := o.StreamName("arn:aws:ecs:us-east-1:1:task/default/abc123", "app", "c0ffee"); s != "c0ffee" {
					t.Errorf("stream %q", s)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOptions(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one about %q wrapping ErrOptions", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestLocalDriverConfig(t *testing.T) {
	c, err := LocalDriverConfig(map[string]string{OptGroup: "g"})
	if err != nil || c["max-size"] != LocalMaxSize || c["max-file"] != LocalMaxFile {
		t.Fatalf("%v %v", c, err)
	}
	c, _ = LocalDriverConfig(map[string]string{OptGroup: "g", OptMaxBufferSize: "25m"})
	if c["max-size"] != "26214400" {
		t.Fatalf("max-size %q", c["max-size"])
	}
}

func TestDatetimePattern(t *testing.T) {
	re := regexp.MustCompile(DatetimePattern("%b %d, %Y %H:%M:%S"))
	if !re.MatchString("Jan 02, 2026 10:11:12 started") || re.MatchString("  at Foo.bar") {
		t.Fatal("datetime pattern does not match as Docker's")
	}
}
