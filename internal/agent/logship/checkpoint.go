package logship

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// checkpoint is what the agent keeps on disk per container it ships the
// output of. It is written with an atomic rename after an fsync, so a
// crash leaves the previous or the next version, never a torn one.
//
// Before a batch is sent it is written here as Inflight; once the server
// has acknowledged it, Pos moves to its end, NextSeq past it, and Inflight
// is cleared. A restarted agent re-sends an Inflight batch as it was (same
// BatchSeq, same events), then reads the output from Pos on.
type checkpoint struct {
	Producer    string `json:"producer"`
	Task        string `json:"task"`
	Container   string `json:"container"`
	ContainerID string `json:"containerId"`
	// Options are the container's log options, so that a restarted agent
	// can finish shipping the output of a container whose task it no
	// longer runs (Manager.Resume).
	Options map[string]string `json:"options,omitempty"`
	// Pos is the last frame whose events were all acknowledged (or dropped).
	Pos Pos `json:"pos"`
	// NextSeq is the BatchSeq of the next new batch.
	NextSeq int64 `json:"nextSeq"`
	// Dropped counts the events dropped so far (non-blocking mode, or
	// refused by the server).
	Dropped  int64     `json:"dropped,omitempty"`
	Inflight *inflight `json:"inflight,omitempty"`
}

// inflight is a batch sent but not yet acknowledged.
type inflight struct {
	Seq    int64                   `json:"seq"`
	End    Pos                     `json:"end"`
	Events []ecsapi.GantryLogEvent `json:"events"`
}

// checkpointPath is the checkpoint file of producer in dir.
func checkpointPath(dir, producer string) string {
	sum := sha256.Sum256([]byte(producer))
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
}

// loadCheckpoint reads the checkpoint at path; a missing file gives a
// fresh checkpoint (NextSeq 1) and os.ErrNotExist.
func loadCheckpoint(path string) (checkpoint, error) {
	cp := checkpoint{NextSeq: 1}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cp, err
	}
	if err != nil {
		return cp, fmt.Errorf("read log checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return checkpoint{NextSeq: 1}, fmt.Errorf("log checkpoint %s: %w", path, err)
	}
	if cp.NextSeq < 1 {
		cp.NextSeq = 1
	}
	return cp, nil
}

// save writes cp to path: a temporary file, fsync, rename, fsync of the
// directory.
func (cp *checkpoint) save(path string) error { return cp.write(path, true) }

// saveAcked writes cp to path after an acknowledgement: atomically (a
// rename), but without waiting for the disk. Should the machine lose it,
// the previous version says the batch is in flight, and the restarted
// agent re-sends it as it was, which the server de-duplicates: an fsync
// here would buy nothing but a second disk flush per batch.
func (cp *checkpoint) saveAcked(path string) error { return cp.write(path, false) }

func (cp *checkpoint) write(path string, durable bool) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("encode log checkpoint: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write log checkpoint: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write log checkpoint: %w", err)
	}
	if !durable {
		return nil
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
