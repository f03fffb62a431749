package console

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// logGroupsData is the log explorer's first page's: the groups whose
// names start with Prefix.
type logGroupsData struct {
	Prefix string
	Groups []logsapi.LogGroup
	Next   string
}

func (h *Handler) logGroupsPage(r *http.Request, s *session) (*view, error) {
	q := r.URL.Query()
	d := &logGroupsData{Prefix: q.Get("prefix")}
	out, err := call[logsapi.DescribeLogGroupsResponse](h, r, s, "logs", "DescribeLogGroups",
		&logsapi.DescribeLogGroupsRequest{LogGroupNamePrefix: d.Prefix, NextToken: q.Get("token"), Limit: i32(50)})
	if err != nil {
		return nil, err
	}
	d.Groups, d.Next = out.LogGroups, out.NextToken
	return &view{Title: "Logs", Data: d, NoLive: true}, nil
}

// logRanges are the log explorer's choices of how far back to look, in
// minutes.
var logRanges = []int{5, 15, 60, 360, 1440, 10080}

// logGroupData is a log group's page's: its streams, the filter, and the
// matching events (the live part: a live tail of the filter).
type logGroupData struct {
	Group   string
	Streams []logsapi.LogStream
	// The filter: a stream (or all), a filter pattern, minutes back.
	Stream, Pattern string
	Minutes         int
	Ranges          []int
	Events          []logsapi.FilteredLogEvent
	// More: more events matched than are shown (the newest are).
	More bool
}

// maxTail is how many matching events the log explorer shows.
const maxTail = 500

func (h *Handler) logGroupPage(r *http.Request, s *session) (*view, error) {
	q := r.URL.Query()
	d := &logGroupData{Group: q.Get("name"), Stream: q.Get("stream"), Pattern: q.Get("pattern"), Minutes: 60, Ranges: logRanges}
	if d.Group == "" {
		return nil, apierror.InvalidParameter("1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null")
	}
	if m, err := strconv.Atoi(q.Get("minutes")); err == nil && m > 0 && m <= 10080 {
		d.Minutes = m
	}
	desc := true
	st, err := call[logsapi.DescribeLogStreamsResponse](h, r, s, "logs", "DescribeLogStreams",
		&logsapi.DescribeLogStreamsRequest{LogGroupName: d.Group, OrderBy: "LastEventTime", Descending: &desc, Limit: i32(50)})
	if err != nil {
		return nil, err
	}
	d.Streams = st.LogStreams
	end := h.now()
	start := end.Add(-time.Duration(d.Minutes) * time.Minute).UnixMilli()
	in := &logsapi.FilterLogEventsRequest{LogGroupName: d.Group, FilterPattern: d.Pattern, StartTime: &start, Limit: i32(maxTail)}
	if d.Stream != "" {
		in.LogStreamNames = []string{d.Stream}
	}
	// FilterLogEvents pages forward from the start: keep the newest
	// maxTail events of at most 20 pages.
	for page := 0; page < 20; page++ {
		out, err := call[logsapi.FilterLogEventsResponse](h, r, s, "logs", "FilterLogEvents", in)
		if err != nil {
			return nil, err
		}
		d.Events = append(d.Events, out.Events...)
		if len(d.Events) > maxTail {
			d.Events, d.More = d.Events[len(d.Events)-maxTail:], true
		}
		if out.NextToken == "" || out.NextToken == in.NextToken {
			break
		}
		in.NextToken = out.NextToken
	}
	return &view{Title: "Log group " + d.Group, Crumbs: []crumb{{"Logs", Prefix + "logs"}}, Data: d}, nil
}
