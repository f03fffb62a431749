package benchproc

import (
	"testing"
	"time"
)

func TestParseMemStatus(t *testing.T) {
	status := "Name:\tgantry\nVmPeak:\t 1000 kB\nVmHWM:\t   39500 kB\nVmRSS:\t   36000 kB\nRssAnon:\t   14000 kB\nRssFile:\t   22000 kB\nRssShmem:\t       0 kB\nThreads:\t9\n"
	got, err := ParseMemStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (MemStatus{VmRSS: 36000, VmHWM: 39500, RssAnon: 14000, RssFile: 22000}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := ParseMemStatus([]byte("VmRSS:\t1 kB\n")); err == nil {
		t.Error("missing lines: no error")
	}
}

func TestParseProcStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 50.
	stat := "1234 (gantry (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200 18446744073709551615"
	got, err := ParseProcStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ParseProcStatCPU("1234 (x) S 1"); err == nil {
		t.Error("short line: no error")
	}
}
