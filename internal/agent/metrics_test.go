package agent

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPromWriterFormat(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	p := promWriter{w: bw}
	p.family("x_total", "counter", "Things.\nMore \\ things.")
	p.sample("x_total", 3, "a", `q"uo\te`, "b", "line\nbreak")
	p.sample("x_total", 0.5)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "# HELP x_total Things.\\nMore \\\\ things.\n# TYPE x_total counter\n" +
		"x_total{a=\"q\\\"uo\\\\te\",b=\"line\\nbreak\"} 3\nx_total 0.5\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestCountersRounds(t *testing.T) {
	var c counters
	c.observeRound(100*time.Millisecond, 5, nil)
	c.observeRound(50*time.Millisecond, 0, errors.New("docker down"))
	if c.rounds != 2 || c.roundErrors != 1 || c.lastRead != 5 || !strings.HasPrefix(formatFloat(c.roundSecs), "0.15") {
		t.Errorf("counters %+v", &c)
	}
}
