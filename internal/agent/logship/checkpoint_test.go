package logship

import (
	"encoding/json"
	"path/filepath"
	"reflect"
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
	if err := cp.save(path); err != nil {
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
	cp.Inflight = nil
	if err := cp.saveAcked(path); err != nil {
		t.Fatal(err)
	}
	if back, err = loadCheckpoint(path); err != nil || back.Inflight != nil || back.NextSeq != 7 {
		t.Fatalf("checkpoint without a batch: %+v, %v", back, err)
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
