package logs_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/apitest"
	"github.com/gantry-dev/gantry/internal/logs"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/sigv4"
)

// The benchmarks measure whole API calls: the AWS SDK for Go v2 signs a
// request, the server verifies and decodes it, reads the Pebble store and
// encodes the answer, and the SDK decodes it. Run them with
//
//	go test ./internal/logs -run '^$' -bench . -benchtime 5x
//
// Goals (issue 12): each call under 1 second.

// benchServer serves the CloudWatch Logs API of a fresh store over HTTP.
func benchServer(b *testing.B) (*logs.API, *cwl.Client) {
	b.Helper()
	st, err := logstore.Open(b.TempDir(), logstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	api := logs.New(st, apitest.Region, apitest.Account, slog.New(slog.DiscardHandler))
	svc := apiserver.Logs(api)
	v := sigv4.NewServicesVerifier(apitest.Region, []string{svc.Meta.SigningName},
		[]sigv4.Credential{{AccessKeyID: apitest.AccessKeyID, SecretAccessKey: apitest.SecretAccessKey}})
	srv := httptest.NewServer(apiserver.New(v, slog.New(slog.DiscardHandler), svc))
	b.Cleanup(func() {
		srv.Close()
		api.Close()
		st.Close()
	})
	return api, newClient(srv.URL)
}

// fill appends n events of size bytes to each stream, in batches of 8,000
// (within 1 MiB) through Ingest (the agent's path); every 1,000th message
// holds "ERROR".
func fill(b *testing.B, api *logs.API, group string, streams []string, n, size int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now().Add(-time.Hour).UnixMilli()
	pad := strings.Repeat("x", 100)
	for si, s := range streams {
		for off, seq := 0, uint64(1); off < n; off, seq = off+8_000, seq+1 {
			batch := make([]logstore.Event, min(8_000, n-off))
			for i := range batch {
				k := off + i
				word := "INFO "
				if k%1000 == 999 {
					word = "ERROR"
				}
				msg := fmt.Sprintf("%s stream %d line %08d ", word, si, k)
				batch[i] = logstore.Event{Timestamp: start + int64(k)/10, Message: msg + pad[:size-len(msg)]}
			}
			if err := api.Ingest(ctx, group, s, "bench", seq, true, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkGetLogEvents10k reads 10,000 events of one stream in one call.
// The messages are 64 bytes so that the 10,000 fit in the 1 MB page AWS
// allows (message bytes plus 26 per event).
func BenchmarkGetLogEvents10k(b *testing.B) {
	api, c := benchServer(b)
	fill(b, api, "/bench", []string{"s"}, 10_000, 64)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		r, err := c.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/bench"), LogStreamName: aws.String("s"), StartFromHead: aws.Bool(true)})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Events) != 10_000 {
			b.Fatalf("%d events", len(r.Events))
		}
	}
	b.ReportMetric(10_000*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkFilterLogEvents1M searches 1,000,000 events of 100 bytes in 20
// streams for the 1,000 that hold ERROR (a term, then a regular
// expression that keeps half of them), in one call.
func BenchmarkFilterLogEvents1M(b *testing.B) {
	api, c := benchServer(b)
	streams := make([]string, 20)
	for i := range streams {
		streams[i] = fmt.Sprintf("ecs/app/%02d", i)
	}
	fill(b, api, "/bench", streams, 50_000, 100)
	ctx := context.Background()
	for _, p := range []string{"ERROR", `%ERROR stream 1[0-9] %`} {
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				r, err := c.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/bench"), FilterPattern: aws.String(p)})
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Events) == 0 || r.NextToken != nil {
					b.Fatalf("%d events, next %v", len(r.Events), r.NextToken)
				}
			}
			b.ReportMetric(1_000_000*float64(b.N)/b.Elapsed().Seconds(), "scanned/s")
		})
	}
}
