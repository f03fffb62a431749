package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCredentialsFilePolicies(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ro.json"), []byte(`{"Statement":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(content string) string {
		p := filepath.Join(dir, "creds")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys, err := ReadCredentialsFile(write("# admin\nAKID1 s1\nAKID2 s2 ci\n\nAKID3 s3 reader ro.json\n"), "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0].Principal != "arn:aws:iam::123456789012:user/gantry" || keys[0].PolicyFile != "" ||
		keys[1].Principal != "arn:aws:iam::123456789012:user/ci" ||
		keys[2].PolicyFile != filepath.Join(dir, "ro.json") || string(keys[2].Policy) != `{"Statement":[]}` || !strings.HasSuffix(keys[2].Source, "creds:5") {
		t.Fatalf("keys %+v", keys)
	}
	tests := []struct{ name, content, want string }{
		{"too many fields", "AKID1 s1\nAKID2 s2 n p extra\n", "creds:2: want ACCESS_KEY_ID SECRET_ACCESS_KEY [NAME [POLICY_FILE]], got 5 fields"},
		{"one field", "AKID1\n", "creds:1: want"},
		{"duplicate key", "AKID1 a\n# x\nAKID1 b\n", "creds:3: access key ID AKID1 is already defined on line 1"},
		{"missing policy file", "AKID1 a n nope.json\n", "creds:1: policy file: open " + filepath.Join(dir, "nope.json")},
		{"bad name", "AKID1 a n/x\n", `creds:1: NAME "n/x" is not an IAM user name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCredentialsFile(write(tt.content), "123456789012")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTrustFlagsValidation(t *testing.T) {
	base := func() Server {
		c := DefaultServer()
		c.Credentials = []AccessKey{Credential("AKID", "s", "n", c.AccountID)}
		return c
	}
	tests := []struct {
		name string
		set  func(*Server)
		want string // "" when valid
	}{
		{"defaults", func(*Server) {}, ""},
		{"tls pair", func(c *Server) { c.TLSCert = "a.pem" }, "--tls-cert and --tls-key go together"},
		{"tls generate with a cert", func(c *Server) { c.TLSGenerate, c.TLSCert, c.TLSKey = true, "a", "b" }, "--tls-generate needs --data-dir and excludes --tls-cert"},
		{"etcd tls without endpoints", func(c *Server) { c.EtcdCACert = "ca.pem" }, "are for an external etcd"},
		{"etcd user without password", func(c *Server) { c.EtcdEndpoints, c.EtcdUsername = []string{"https://e:2379"}, "gantry" }, "GANTRY_ETCD_PASSWORD"},
		{"zero body timeout", func(c *Server) { c.BodyTimeout = 0 }, "must be positive"},
		{"no connections", func(c *Server) { c.MaxConnections = 0 }, "--max-connections 0"},
		{"tiny quota", func(c *Server) { c.EtcdQuotaBytes = 1 << 20 }, "--etcd-quota-bytes must be at least 16 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.set(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
