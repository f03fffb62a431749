package config

import (
	"strings"
	"testing"
)

func TestGCPercent(t *testing.T) {
	c := DefaultServer()
	c.Credentials = append(c.Credentials, Credential("AKIDCONFIGTEST000000", "secret", "t", c.AccountID))
	if c.GCPercent != DefaultGCPercent {
		t.Fatalf("default GCPercent %d, want %d", c.GCPercent, DefaultGCPercent)
	}
	for _, p := range []int{-1, 0, 100, 400} {
		c.GCPercent = p
		if err := c.Validate(); err != nil {
			t.Errorf("GCPercent %d refused: %v", p, err)
		}
	}
	c.GCPercent = -2
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--gc-percent") {
		t.Errorf("GCPercent -2: %v, want an error naming --gc-percent", err)
	}
}

func TestAdvertiseURL(t *testing.T) {
	c := DefaultServer()
	c.Credentials = append(c.Credentials, Credential("AKIDCONFIGTEST000000", "secret", "t", c.AccountID))
	for _, u := range []string{"", "http://10.0.0.5:8845", "https://gantry-1.example:8845/"} {
		c.AdvertiseURL = u
		if err := c.Validate(); err != nil {
			t.Errorf("--advertise-url %q refused: %v", u, err)
		}
	}
	for _, u := range []string{"10.0.0.5:8845", "ftp://x:1", "http://x:1/path"} {
		c.AdvertiseURL = u
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--advertise-url") {
			t.Errorf("--advertise-url %q: %v, want an error naming it", u, err)
		}
	}
}
