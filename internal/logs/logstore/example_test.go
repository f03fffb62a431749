package logstore_test

import (
	"fmt"
	"os"

	"github.com/gantry-dev/gantry/internal/logs/filterpattern"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
)

// Example shows the calls the CloudWatch Logs operations and the agent's
// log shipping make.
func Example() {
	dir, _ := os.MkdirTemp("", "logstore-example")
	defer os.RemoveAll(dir)
	s, err := logstore.Open(dir, logstore.Options{MaxBytes: 10 << 30})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	_, _ = s.CreateGroup("/ecs/web", nil)
	_, _ = s.CreateStream("/ecs/web", "ecs/app/0123")
	batch := []logstore.Event{
		{Timestamp: 1000, Message: `{"level":"info","latency":12}`},
		{Timestamp: 1001, Message: `{"level":"error","latency":250}`},
	}
	// The agent numbers its batches per stream; a retry is answered as a
	// duplicate and not stored twice.
	for range 2 {
		res, _ := s.Append("/ecs/web", "ecs/app/0123", "instance-1", 7, batch)
		fmt.Println("duplicate:", res.Duplicate, "events:", res.Stream.EventCount)
	}

	// GetLogEvents.
	r, _ := s.Read("/ecs/web", "ecs/app/0123", logstore.ReadQuery{StartFromHead: true})
	fmt.Println("read:", len(r.Events))

	// FilterLogEvents with a JSON pattern; one Matcher per call.
	p, _ := filterpattern.Parse(`{ $.level = "error" && $.latency > 100 }`)
	m := p.NewMatcher()
	sr, _ := s.Scan("/ecs/web", logstore.ScanQuery{StreamPrefix: "ecs/"}, m.Match)
	for _, e := range sr.Events {
		fmt.Println("match:", e.Stream, e.Timestamp, e.Message)
	}
	// Output:
	// duplicate: false events: 2
	// duplicate: true events: 2
	// read: 2
	// match: ecs/app/0123 1001 {"level":"error","latency":250}
}
