package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// AWSCLI returns the AWS CLI v2 to test with: Debian's /usr/bin/aws first
// (the version the CLI tests are checked against), else a v2 on PATH. It
// skips the test without one, except in CI, where it fails it.
func AWSCLI(t testing.TB) string {
	t.Helper()
	for _, bin := range []string{"/usr/bin/aws", "aws"} {
		p, err := exec.LookPath(bin)
		if err != nil {
			continue
		}
		out, err := exec.Command(p, "--version").CombinedOutput()
		if err == nil && strings.HasPrefix(string(out), "aws-cli/2.") {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the AWS CLI v2 is needed in CI")
	}
	t.Skip("no AWS CLI v2")
	return ""
}
