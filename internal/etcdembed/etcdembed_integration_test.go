package etcdembed

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The embedded member's data API is a Unix socket only its user may reach:
// curl as the same user gets etcd's answer, as another user it is refused.
func TestEtcdReachableOnlyByTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test (etcd): skipped under -short")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is needed in CI (scripts/ensure-deps installs it)")
		}
		t.Skip("no curl")
	}
	e, err := Start(context.Background(), t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sock := strings.TrimPrefix(e.ClientURL, "unix://")
	for path, want := range map[string]os.FileMode{filepath.Dir(sock): 0o700, sock: 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: mode %v %v, want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	probe := func(uid uint32) (string, error) {
		cmd := exec.Command(curl, "-sS", "--max-time", "5", "--unix-socket", sock, "http://localhost/version")
		if uid != uint32(os.Getuid()) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := probe(uint32(os.Getuid())); err != nil || !strings.Contains(out, "etcdserver") {
		t.Fatalf("the server's user: %v %s", err, out)
	}
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root: the other-user probe needs it")
		}
		t.Skip("not root: cannot probe as another user")
	}
	out, err := probe(65534) // nobody
	if err == nil || strings.Contains(out, "etcdserver") {
		t.Fatalf("another user reached etcd: %v %s", err, out)
	}
	t.Logf("another user: %v %s", err, strings.TrimSpace(out))
}
