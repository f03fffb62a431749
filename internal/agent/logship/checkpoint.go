package logship

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// checkpoint is what the agent keeps on disk per container it ships the
// output of, in a journal: a crash leaves the previous or the next
// version, never a torn one.
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
	Dropped int64 `json:"dropped,omitempty"`
	// SpoolOff is the offset in the container's spool after the last
	// record acknowledged: a restarted agent ships the spool from there.
	SpoolOff int64     `json:"spoolOff,omitempty"`
	Inflight *inflight `json:"inflight,omitempty"`
}

// inflight is a batch sent but not yet acknowledged.
type inflight struct {
	Seq int64 `json:"seq"`
	End Pos   `json:"end"`
	// SpoolEnd is the spool offset after the batch's last event when it
	// came from the spool, else 0.
	SpoolEnd int64                   `json:"spoolEnd,omitempty"`
	Events   []ecsapi.GantryLogEvent `json:"events"`
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
	// The last whole line (a crash may have torn the one after it).
	var perr error
	for end := len(b); end > 0; {
		start := bytes.LastIndexByte(b[:end], '\n') + 1
		line := bytes.TrimSpace(b[start:end])
		end = start - 1
		if len(line) == 0 {
			continue
		}
		cp = checkpoint{NextSeq: 1}
		if perr = json.Unmarshal(line, &cp); perr == nil {
			if cp.NextSeq < 1 {
				cp.NextSeq = 1
			}
			return cp, nil
		}
	}
	if perr == nil {
		perr = errors.New("empty")
	}
	return checkpoint{NextSeq: 1}, fmt.Errorf("log checkpoint %s: %w", path, perr)
}

// encode returns cp as one line of JSON (JSON has no raw line breaks).
func (cp *checkpoint) encode() ([]byte, error) {
	head := *cp
	head.Inflight = nil
	b, err := json.Marshal(&head)
	if err != nil {
		return nil, fmt.Errorf("encode log checkpoint: %w", err)
	}
	if in := cp.Inflight; in != nil {
		size := len(b) + 64
		for _, e := range in.Events {
			size += len(e.Message) + 40
		}
		full := make([]byte, 0, size)
		full = append(full, b[:len(b)-1]...) // without its closing brace
		full = append(full, `,"inflight":`...)
		b = append(in.appendJSON(full), '}')
	}
	return append(b, '\n'), nil
}

// journalLimit is the size beyond which a checkpoint file is rewritten
// with its last version only.
const journalLimit = 4 << 20

// journal is a container's checkpoint file, kept open: each version of
// the checkpoint is appended as a line, and loadCheckpoint takes the last
// line that is whole. An append and an fdatasync cost far less than a
// temporary file, its rename and a sync of the directory, which are left
// for the first version and for a file grown past journalLimit (then
// rewritten with the last version alone). A crash leaves the previous
// version or the next one, never a torn one.
type journal struct {
	path string
	f    *os.File
	size int64
}

// save appends cp; durable waits until it is on disk.
func (j *journal) save(cp *checkpoint, durable bool) error {
	b, err := cp.encode()
	if err != nil {
		return err
	}
	if j.f == nil || j.size+int64(len(b)) > journalLimit {
		return j.rewrite(b)
	}
	if _, err := j.f.Write(b); err != nil {
		j.close() // a torn line: rewrite the file next time
		return fmt.Errorf("write log checkpoint: %w", err)
	}
	j.size += int64(len(b))
	if durable {
		if err := syscall.Fdatasync(int(j.f.Fd())); err != nil {
			j.close()
			return fmt.Errorf("write log checkpoint: %w", err)
		}
	}
	return nil
}

// rewrite replaces the file with b alone (a temporary file, fsync, rename,
// fsync of the directory) and keeps it open for appending.
func (j *journal) rewrite(b []byte) error {
	j.close()
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("write log checkpoint: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("write log checkpoint: %w", err)
	}
	if d, err := os.Open(filepath.Dir(j.path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	j.f, j.size = f, int64(len(b))
	return nil
}

// close closes the file; the next save rewrites it.
func (j *journal) close() {
	if j.f != nil {
		_ = j.f.Close()
		j.f = nil
	}
}

// appendJSON appends the batch encoded as encoding/json would, in half
// the time: a batch of up to 10,000 events is written before every send.
// (A MarshalJSON method would be slower: encoding/json checks what such a
// method returns.)
func (in *inflight) appendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, in.Seq, 10)
	b = append(b, `,"end":{"ts":`...)
	b = strconv.AppendInt(b, in.End.TS, 10)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, int64(in.End.N), 10)
	b = append(b, '}')
	if in.SpoolEnd != 0 {
		b = append(b, `,"spoolEnd":`...)
		b = strconv.AppendInt(b, in.SpoolEnd, 10)
	}
	b = append(b, `,"events":[`...)
	for i, e := range in.Events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"timestamp":`...)
		b = strconv.AppendInt(b, e.Timestamp, 10)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, e.Message)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes
// U+FFFD, as with encoding/json.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
