package logstore

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReopen writes, closes, reopens and reads everything back.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: t0}
	s, err := Open(dir, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	mustGroup(t, s, "g")
	if err := s.SetRetention("g", 30); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTags("g", map[string]string{"k": "v"}, nil); err != nil {
		t.Fatal(err)
	}
	mustGroup(t, s, "h")
	mustStream(t, s, "g", "a")
	mustStream(t, s, "g", "b")
	mustStream(t, s, "h", "x")
	mustAppend(t, s, "g", "a", evs(3, 1, 2)...)
	mustAppend(t, s, "g", "b", evs(5)...)
	if _, err := s.Append("h", "x", "agent", 7, evs(9)); err != nil {
		t.Fatal(err)
	}
	wantGroups, _, _ := s.ListGroups(GroupQuery{})
	wantStreams, _, _ := s.ListStreams("g", StreamQuery{OrderByLastEventTime: true})
	wantScan, _ := s.Scan("g", ScanQuery{}, nil)
	wantStats, _ := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gotGroups, _, _ := s.ListGroups(GroupQuery{})
	if !slices.Equal(gotGroups, wantGroups) || gotGroups[0].RetentionDays != 30 || gotGroups[0].StoredBytes == 0 {
		t.Fatalf("groups %+v, want %+v", gotGroups, wantGroups)
	}
	gotStreams, _, _ := s.ListStreams("g", StreamQuery{OrderByLastEventTime: true})
	if !slices.Equal(gotStreams, wantStreams) {
		t.Fatalf("streams %+v, want %+v", gotStreams, wantStreams)
	}
	gotScan, _ := s.Scan("g", ScanQuery{}, nil)
	if fmt.Sprint(gotScan) != fmt.Sprint(wantScan) {
		t.Fatalf("scan %+v, want %+v", gotScan, wantScan)
	}
	if tags, _ := s.Tags("g"); tags["k"] != "v" {
		t.Fatalf("tags %v", tags)
	}
	if st, _ := s.Stats(); st.StoredBytes != wantStats.StoredBytes || st.Streams != 3 {
		t.Fatalf("stats %+v, want %+v", st, wantStats)
	}
	// Sequences and producers survive: a repeated batch is a duplicate,
	// and new events sort after the old ones of the same timestamp.
	if res, _ := s.Append("h", "x", "agent", 7, evs(9)); !res.Duplicate {
		t.Fatal("batch repeated after reopen was accepted")
	}
	res := mustAppend(t, s, "g", "a", Event{Timestamp: 3, Message: "later"})
	if res.FirstSeq != 3 {
		t.Fatalf("sequence after reopen %d", res.FirstSeq)
	}
	r, _ := s.Read("g", "a", ReadQuery{StartFromHead: true})
	if fmt.Sprint(messages(r.Events)) != "[m1 m2 m3 later]" {
		t.Fatalf("g/a %v", messages(r.Events))
	}
}

// The crash test runs the test binary again as a writer that prints each
// batch number once Append has returned, and kills it with SIGKILL.
const crashEnv = "LOGSTORE_CRASH_WRITER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashWriter(dir)
		return
	}
	os.Exit(m.Run())
}

const crashBatch = 100

func crashWriter(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := s.CreateGroup("g", nil); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := s.CreateStream("g", "a"); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for b := 1; ; b++ {
		batch := make([]Event, crashBatch)
		for i := range batch {
			batch[i] = Event{Timestamp: int64(b), Message: fmt.Sprintf("%d-%d", b, i)}
		}
		if _, err := s.Append("g", "a", "w", uint64(b), batch); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("acked", b)
	}
}

// TestCrash kills a writer mid-stream and checks that every acknowledged
// batch is on disk, whole, and no batch is partly there.
func TestCrash(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := 0
	deadline := time.Now().Add(60 * time.Second)
	for acked < 30 && sc.Scan() {
		line := sc.Text()
		n, ok := strings.CutPrefix(line, "acked ")
		if !ok {
			t.Fatalf("writer: %s", line)
		}
		acked, _ = strconv.Atoi(n)
		if time.Now().After(deadline) {
			break
		}
	}
	_ = cmd.Process.Kill()
	// Batches acknowledged while we stopped reading count too.
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked, _ = strconv.Atoi(n)
		}
	}
	_ = cmd.Wait()
	if acked == 0 {
		t.Fatal("writer acknowledged nothing")
	}

	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts := map[int64]int{}
	q := ReadQuery{StartFromHead: true}
	for {
		r, err := s.Read("g", "a", q)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Events) == 0 {
			break
		}
		for _, e := range r.Events {
			counts[e.Timestamp]++
		}
		q.Token = r.NextForwardToken
	}
	for b := int64(1); b <= int64(acked); b++ {
		if counts[b] != crashBatch {
			t.Fatalf("acknowledged batch %d has %d of %d events after the crash", b, counts[b], crashBatch)
		}
	}
	for b, n := range counts {
		if n != crashBatch {
			t.Fatalf("batch %d is partial: %d events", b, n)
		}
	}
	st, _ := s.Stream("g", "a")
	if st.EventCount != int64(len(counts)*crashBatch) {
		t.Fatalf("stream record counts %d events, found %d", st.EventCount, len(counts)*crashBatch)
	}
	// The producer's last batch survived with its events: the next one
	// is accepted, a repeat is not.
	last := uint64(len(counts))
	if res, _ := s.Append("g", "a", "w", last, nil); !res.Duplicate {
		t.Fatalf("batch %d repeated after crash was accepted", last)
	}
	t.Logf("acknowledged %d batches, found %d", acked, len(counts))
}
