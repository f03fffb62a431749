package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnvName(t *testing.T) {
	tests := []struct{ name, flag, want string }{
		{"plain", "listen", "GANTRY_LISTEN"},
		{"dashes", "data-dir", "GANTRY_DATA_DIR"},
		{"several dashes", "lost-instance-grace", "GANTRY_LOST_INSTANCE_GRACE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := EnvName(tc.flag); got != tc.want {
				t.Errorf("EnvName(%q) = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
}

func TestServerFlagsAndEnv(t *testing.T) {
	c := DefaultServer()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen", "127.0.0.1:1", "--etcd-endpoints", "http://a:2379, http://b:2379"}); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{
		"GANTRY_LISTEN":              "127.0.0.1:2", // the flag wins
		"GANTRY_REGION":              "eu-west-1",
		"GANTRY_LOST_INSTANCE_GRACE": "1m",
		"GANTRY_ACCESS_KEY_ID":       "AKID",
		"GANTRY_SECRET_ACCESS_KEY":   "secret",
	})
	if err := ApplyEnv(fs, e); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadCredentials(e); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1" || c.Region != "eu-west-1" || c.LostInstanceGrace != time.Minute {
		t.Errorf("listen %q region %q grace %v", c.Listen, c.Region, c.LostInstanceGrace)
	}
	if want := []string{"http://a:2379", "http://b:2379"}; !reflect.DeepEqual(c.EtcdEndpoints, want) {
		t.Errorf("etcd endpoints %q, want %q", c.EtcdEndpoints, want)
	}
	want := []AccessKey{{AccessKeyID: "AKID", SecretAccessKey: "secret", Principal: "arn:aws:iam::000000000000:user/gantry"}}
	if !reflect.DeepEqual(c.Credentials, want) {
		t.Errorf("credentials %+v, want %+v", c.Credentials, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestApplyEnvReportsEveryBadValue(t *testing.T) {
	c := DefaultServer()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := ApplyEnv(fs, env(map[string]string{"GANTRY_GC_PERCENT": "many", "GANTRY_LEADER_TTL": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "GANTRY_GC_PERCENT") || !strings.Contains(err.Error(), "GANTRY_LEADER_TTL") {
		t.Errorf("ApplyEnv error %v, want one naming both variables", err)
	}
}

func TestReadCredentialsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(path, []byte("# keys\nAKID1 s1\n\nAKID2 s2 alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCredentialsFile(path, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	want := []AccessKey{
		{AccessKeyID: "AKID1", SecretAccessKey: "s1", Principal: "arn:aws:iam::123456789012:user/gantry", Source: path + ":2"},
		{AccessKeyID: "AKID2", SecretAccessKey: "s2", Principal: "arn:aws:iam::123456789012:user/alice", Source: path + ":4"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if err := os.WriteFile(path, []byte("AKID1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCredentialsFile(path, "123456789012"); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("one field: %v, want an error naming line 1", err)
	}
}

func TestAgentFlagsAndEnv(t *testing.T) {
	c := DefaultAgent()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs, true)
	if err := fs.Parse([]string{"--attribute", "a=1", "--attribute", "b=2", "--cpu", "2048"}); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{"GANTRY_CLUSTER": "prod", "GANTRY_REGION": "eu-west-1", "GANTRY_CPU": "1",
		"GANTRY_ACCESS_KEY_ID": "AKID", "GANTRY_SECRET_ACCESS_KEY": "secret"})
	if err := ApplyEnv(fs, e); err != nil {
		t.Fatal(err)
	}
	c.LoadCredentials(e)
	c.Complete()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Cluster != "prod" || c.CPU != 2048 || c.AvailabilityZone != "eu-west-1a" || c.AccessKeyID != "AKID" {
		t.Errorf("cluster %q cpu %d az %q akid %q", c.Cluster, c.CPU, c.AvailabilityZone, c.AccessKeyID)
	}
	if want := map[string]string{"a": "1", "b": "2"}; !reflect.DeepEqual(c.Attributes, want) {
		t.Errorf("attributes %v, want %v", c.Attributes, want)
	}
}

func TestAgentValidate(t *testing.T) {
	ok := DefaultAgent()
	ok.AccessKeyID, ok.SecretAccessKey = "AKID", "secret"
	tests := []struct {
		name string
		edit func(*Agent)
		want []string // substrings of the error; none for valid
	}{
		{"defaults with a key", func(*Agent) {}, nil},
		{"no key", func(c *Agent) { c.SecretAccessKey = "" }, []string{"GANTRY_ACCESS_KEY_ID"}},
		{"bad server", func(c *Agent) { c.Server = "127.0.0.1:8845" }, []string{"--server"}},
		{"several servers", func(c *Agent) { c.Server = "http://10.0.0.5:8845, https://10.0.0.6:8845" }, nil},
		{"one bad server of several", func(c *Agent) { c.Server = "http://10.0.0.5:8845,10.0.0.6:8845" }, []string{`"10.0.0.6:8845" is not a URL`}},
		{"every problem at once", func(c *Agent) { c.CPU, c.MemoryMiB, c.CleanupDelay = -1, 1<<40, -time.Second },
			[]string{"--cpu", "--memory", "--task-cleanup-wait"}},
		{"metadata endpoint off", func(c *Agent) { c.TaskMetadataListen = "off" }, nil},
		{"metadata endpoint address", func(c *Agent) { c.TaskMetadataListen = "172.17.0.1:51679" }, nil},
		{"metadata endpoint host only", func(c *Agent) { c.TaskMetadataListen = "10.0.0.1" }, nil},
		{"bad metadata endpoint and jitter", func(c *Agent) { c.TaskMetadataListen, c.CleanupJitter = "example.com:80", -time.Second },
			[]string{"--task-metadata-listen", "--task-cleanup-wait-jitter"}},
		{"bad metadata port", func(c *Agent) { c.TaskMetadataListen = "127.0.0.1:99999" }, []string{"--task-metadata-listen"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %v, want it to mention %q", err, w)
				}
			}
		})
	}
}
