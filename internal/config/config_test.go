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
