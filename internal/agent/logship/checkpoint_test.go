package logship

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// TestCheckpointJSON: the checkpoint with its hand-written batch decodes
// as encoding/json's own encoding does.
func TestCheckpointJSON(t *testing.T) {
	in := &inflight{Seq: 7, End: Pos{TS: 1700000000123456789, N: 3}, Events: []ecsapi.GantryLogEvent{
		{Timestamp: 1, Message: "plain"},
		{Timestamp: 2, Message: "quote \" backslash \\ tab \t nl \n cr \r bell \x07 <html> & é 日本 \u2028"},
		{Timestamp: 3, Message: "bad \xff utf-8 \xe2\x82"},
		{Timestamp: 4, Message: ""},
	}}
	cp := checkpoint{Producer: "p", Task: "t", Container: "c", ContainerID: "id", Options: map[string]string{"awslogs-group": "g"},
		Pos: Pos{TS: 5, N: 1}, NextSeq: 7, Dropped: 2, Inflight: in}
	path := filepath.Join(t.TempDir(), "cp.json")
	j := &journal{path: path}
	defer j.close()
	if err := j.save(&cp, true); err != nil {
		t.Fatal(err)
	}
	back, err := loadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	var want checkpoint
	ref, _ := json.Marshal(cp)
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) || back.Inflight == nil || len(back.Inflight.Events) != 4 {
		t.Fatalf("decoded %+v, want %+v", back, want)
	}
	cp.Inflight, cp.NextSeq = nil, 8
	if err := j.save(&cp, false); err != nil {
		t.Fatal(err)
	}
	if back, err = loadCheckpoint(path); err != nil || back.Inflight != nil || back.NextSeq != 8 {
		t.Fatalf("checkpoint without a batch: %+v, %v", back, err)
	}
	// A torn last version: the one before it counts.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"producer":"p","nextSeq":9,"infl`)
	_ = f.Close()
	if back, err = loadCheckpoint(path); err != nil || back.NextSeq != 8 {
		t.Fatalf("after a torn version: %+v, %v", back, err)
	}
}

// TestJournalRewrite: a journal past its limit is rewritten with its last
// version alone.
func TestJournalRewrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	j := &journal{path: path}
	defer j.close()
	big := &inflight{Seq: 1, Events: []ecsapi.GantryLogEvent{{Timestamp: 1, Message: strings.Repeat("x", 1<<20)}}}
	for i := range 10 {
		cp := checkpoint{NextSeq: int64(i + 1), Inflight: big}
		if err := j.save(&cp, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() > journalLimit {
		t.Fatalf("journal of %v bytes (%v), limit %d", st.Size(), err, journalLimit)
	}
	if back, err := loadCheckpoint(path); err != nil || back.NextSeq != 10 {
		t.Fatalf("last version %+v, %v", back.NextSeq, err)
	}
}

func BenchmarkCheckpointBatch(b *testing.B) {
	in := &inflight{Seq: 1}
	for i := range 10_000 {
		in.Events = append(in.Events, ecsapi.GantryLogEvent{Timestamp: int64(i), Message: "0000012345 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = in.appendJSON(nil)
	}
}
