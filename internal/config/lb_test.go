package config

import (
	"strings"
	"testing"
)

func TestLBValidate(t *testing.T) {
	ok := DefaultLB()
	ok.EtcdEndpoints = []string{"https://10.0.0.5:2379"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*LB)
		want string
	}{
		{"no endpoints", func(c *LB) { c.EtcdEndpoints = nil }, "--etcd-endpoints is required"},
		{"plain http off loopback", func(c *LB) { c.EtcdEndpoints = []string{"http://10.0.0.5:2379"} }, "use https"},
		{"bad scheme", func(c *LB) { c.EtcdEndpoints = []string{"ftp://x"} }, "scheme must be"},
		{"cert without key", func(c *LB) { c.EtcdCert = "c.pem" }, "go together"},
		{"user without password", func(c *LB) { c.EtcdUsername = "u" }, "GANTRY_ETCD_PASSWORD"},
		{"bad bind address", func(c *LB) { c.BindAddress = "host" }, "--bind-address"},
		{"bad region", func(c *LB) { c.Region = "x" }, "--region"},
		{"metrics period", func(c *LB) { c.MetricsPeriod = 0 }, "--metrics-period"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, e := range []string{"http://127.0.0.1:2379", "unix:///run/etcd.sock"} {
		c := ok
		c.EtcdEndpoints = []string{e}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
	c := ok
	c.EtcdEndpoints, c.EtcdInsecure = []string{"http://10.0.0.5:2379"}, true
	if err := c.Validate(); err != nil {
		t.Errorf("--etcd-insecure: %v", err)
	}
}
