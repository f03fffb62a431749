package logstore

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time; on a shared machine it
// measures the store's cost better than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// msg100 is a 100-byte message numbered i.
func msg100(i int) string { return fmt.Sprintf("%08d %091s", i, "lorem ipsum dolor sit amet") }

func benchBatch(base, n int) []Event {
	b := make([]Event, n)
	for i := range b {
		b[i] = Event{Timestamp: int64(1_700_000_000_000 + base + i), Message: msg100(base + i)}
	}
	return b
}

// reportRates reports events/s and CPU per 1,000 events.
func reportRates(b *testing.B, events int, start time.Time, cpu0 time.Duration) {
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(events)/el.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(events)*1000, "cpu-µs/1000ev")
}

// BenchmarkAppend appends synced batches of 1,000 100-byte events. The
// Parallel variants append from several goroutines to distinct streams,
// as several agents do, so Pebble's commit pipeline shares fsyncs.
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, _, _ := openTest(b, Options{})
			mustGroup(b, s, "g")
			batches := make([][]Event, writers)
			for w := range writers {
				mustStream(b, s, "g", fmt.Sprintf("s%d", w))
				batches[w] = benchBatch(w*1000, 1000)
			}
			b.SetBytes(1000 * 100)
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			var wg sync.WaitGroup
			per := (b.N + writers - 1) / writers
			for w := range writers {
				wg.Go(func() {
					batch := batches[w]
					for i := range per {
						// Time moves on, as it does for a container.
						for j := range batch {
							batch[j].Timestamp = int64(1_700_000_000_000 + i*1000 + j)
						}
						if _, err := s.Append("g", fmt.Sprintf("s%d", w), "agent", uint64(i+1), batch); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			reportRates(b, per*writers*1000, start, cpu0)
		})
	}
}

// BenchmarkRead reads 10,000 events of one stream from a stream of
// 100,000, as GetLogEvents with its default limit does. With 100-byte
// messages AWS's 1 MB page bound stops a page at 8,322 events, so an
// operation is two pages (the second through the first's token).
func BenchmarkRead(b *testing.B) {
	s, _, _ := openTest(b, Options{})
	mustGroup(b, s, "g")
	mustStream(b, s, "g", "a")
	for i := range 100 {
		mustAppend(b, s, "g", "a", benchBatch(i*1000, 1000)...)
	}
	for _, head := range []bool{true, false} {
		b.Run(fmt.Sprintf("head=%v", head), func(b *testing.B) {
			start, cpu0 := time.Now(), cpuTime()
			n := 0
			for b.Loop() {
				got := 0
				q := ReadQuery{StartFromHead: head}
				for got < 10_000 {
					q.Limit = 10_000 - got
					r, err := s.Read("g", "a", q)
					if err != nil || len(r.Events) == 0 {
						b.Fatalf("%d events, %v", len(r.Events), err)
					}
					got += len(r.Events)
					q.Token = r.NextBackwardToken
					if head {
						q.Token = r.NextForwardToken
					}
				}
				n += got
			}
			reportRates(b, n, start, cpu0)
		})
	}
}

// BenchmarkScan filters 1,000,000 events in 20 streams with a match that
// keeps 1% of them (FilterLogEvents over a million events; goal < 1 s).
func BenchmarkScan(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 1,000,000 events")
	}
	s, _, _ := openTest(b, Options{})
	mustGroup(b, s, "g")
	const streams, perStream = 20, 50_000
	for st := range streams {
		name := fmt.Sprintf("stream-%02d", st)
		mustStream(b, s, "g", name)
		for i := 0; i < perStream; i += 1000 {
			batch := benchBatch(i*streams+st, 1000)
			for j := range batch {
				// Interleave the streams' timestamps.
				batch[j].Timestamp = int64(1_700_000_000_000 + (i+j)*streams + st)
			}
			mustAppend(b, s, "g", name, batch...)
		}
	}
	match := func(m string) bool { return m[6] == '0' && m[7] == '0' } // numbers ending in 00: 1%
	b.ResetTimer()
	for b.Loop() {
		start, cpu0 := time.Now(), cpuTime()
		q := ScanQuery{}
		found, scanned := 0, 0
		for {
			r, err := s.Scan("g", q, match)
			if err != nil {
				b.Fatal(err)
			}
			found += len(r.Events)
			scanned += r.Scanned
			if r.Cursor == "" {
				break
			}
			q.Cursor = r.Cursor
		}
		if scanned != streams*perStream || found != streams*perStream/100 {
			b.Fatalf("scanned %d found %d", scanned, found)
		}
		reportRates(b, scanned, start, cpu0)
	}
}
