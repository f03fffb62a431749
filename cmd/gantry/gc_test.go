package main

import (
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)

	t.Setenv("GOGC", "")
	setGCPercent(250)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Fatalf("--gc-percent 250 set %d", got)
	}
	t.Setenv("GOGC", "150")
	setGCPercent(250)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("with GOGC set, --gc-percent changed the target to %d", got)
	}
}
