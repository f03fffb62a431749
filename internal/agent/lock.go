package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrDataDirInUse is returned by LockDataDir when another agent holds the
// data directory.
var ErrDataDirInUse = errors.New("agent data dir in use")

// DataDirLock is an agent's exclusive hold on its data directory.
type DataDirLock struct{ f *os.File }

// LockDataDir takes the data directory dir for this agent: an exclusive
// flock(2) on dir/agent.lock, held until Unlock or the process ends (so a
// killed agent leaves no stale lock). A second agent on the same directory
// would run every task twice; it gets ErrDataDirInUse, with the holder's
// process ID when known.
func LockDataDir(dir string) (*DataDirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "agent.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := ""
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = " (process " + pid + ")"
			}
			return nil, fmt.Errorf("%w: another agent%s runs on %s; only one agent may use a data dir", ErrDataDirInUse, holder, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &DataDirLock{f: f}, nil
}

// Unlock releases the data directory.
func (l *DataDirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// sessionID identifies an agent to the control plane's one-poller rule: the
// same for an agent restarted on the same host and data dir (so a restart
// takes its instance back at once), different for a copy of the data dir
// at another path or on another host (a cloned machine has another boot
// ID), which the control plane then refuses while the first agent polls.
func sessionID(dataDir string) string {
	host, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if len(host) == 0 {
		h, _ := os.Hostname()
		host = []byte(h)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(string(host)) + "\x00" + abs))
	return hex.EncodeToString(sum[:16])
}
