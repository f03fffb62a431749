package docker

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
	"github.com/gantry-dev/gantry/internal/ecsapi"
)

type frame struct {
	nanos           int64
	data            string
	stderr, partial bool
}

func readAll(t *testing.T, s runtime.LogStream) []frame {
	t.Helper()
	defer s.Close()
	var out []frame
	for {
		f, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		out = append(out, frame{f.Time.UnixNano(), string(f.Data), f.Stderr, f.Partial})
	}
}

// TestReadLogsLocalFiles: reading the local driver's files directly, while
// the container prints, gives exactly the frames the Engine API gives
// once it has stopped: lines Docker cut (20,000 bytes), paced lines, and
// lines across rotations of the files.
func TestReadLogsLocalFiles(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, cmd := range [][]string{{"flood", "200", "0", "20000"}, {"flood", "1500", "1000", "100"}, {"flood", "30000", "15000", "100"}} {
		def := h.container("app", cmd...)
		def.LogConfiguration = &ecsapi.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": "g", "awslogs-region": "us-east-1"}}
		if cmd[1] == "30000" {
			// Files of 1 MB: the stream follows four rotations.
			def.LogConfiguration.Options["max-buffer-size"] = "1m"
		}
		_, refs := h.run(ctx, h.task("localfile", "", def))
		id := refs["app"].ID
		s, err := h.rt.ReadLogs(ctx, id, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*fileStream); !ok {
			t.Fatalf("ReadLogs gave a %T, want the local driver's files", s)
		}
		files := readAll(t, s)
		if cmd[1] == "30000" && len(files) != 30000 {
			t.Fatalf("%v: %d frames from the files across rotations", cmd, len(files))
		}
		h.waitStopped(ctx, id, time.Minute)
		h.rt.cfg.NoLocalLogFiles = true
		s, err = h.rt.ReadLogs(ctx, id, time.Time{})
		h.rt.cfg.NoLocalLogFiles = false
		if err != nil {
			t.Fatal(err)
		}
		api := readAll(t, s)
		if len(files) != len(api) || len(api) == 0 {
			t.Fatalf("%v: %d frames from the files, %d from the API", cmd, len(files), len(api))
		}
		line := 0
		for i := range api {
			// The API writes no line break after the last piece of a line
			// Docker cut, so it cannot tell where such a line ends; the
			// files can (the piece's partial metadata says last).
			if !files[i].partial && api[i].partial {
				api[i].partial = false
			}
			if files[i] != api[i] {
				t.Fatalf("%v: frame %d from the files %+.60v, from the API %+.60v", cmd, i, files[i], api[i])
			}
			line += len(files[i].data)
			if !files[i].partial {
				if cmd[3] == "20000" && line != 20000 {
					t.Fatalf("%v: frame %d ends a line of %d bytes, want 20000", cmd, i, line)
				}
				line = 0
			}
		}
		// From a position: the same frames as the API from there.
		since := time.Unix(0, api[len(api)/2].nanos)
		s, err = h.rt.ReadLogs(ctx, id, since)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s); len(got) == 0 || got[0].nanos < since.UnixNano() || got[len(got)-1] != api[len(api)-1] {
			t.Fatalf("%v: read from the middle gave %d frames", cmd, len(got))
		}
	}
}
