package docker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// Events streams the start, die, oom and health_status events of this
// agent's containers (pause containers included) until ctx is done, then
// closes the channel. It subscribes before returning, so no event of a
// container created after the call is missed: the Docker client sends its
// request from a goroutine of its own, so the subscription asks the daemon
// to replay from the moment of the call. When the stream breaks it is
// re-established with backoff, replaying from the last event received, and
// an EventReconnected is sent. The channel is buffered; a consumer that
// stops reading stalls the stream, not the runtime.
func (r *Runtime) Events(ctx context.Context) <-chan runtime.Event {
	out := make(chan runtime.Event, 64)
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", LabelInstance+"="+r.cfg.InstanceID),
		filters.Arg("event", string(events.ActionStart)),
		filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionOOM)),
		filters.Arg("event", string(events.ActionHealthStatus)),
	)
	since := time.Now()
	msgs, errs := r.cli.Events(ctx, events.ListOptions{Filters: f, Since: sinceArg(since)})
	go r.watch(ctx, f, since, msgs, errs, out)
	return out
}

// sinceArg formats t as the events API's since parameter.
func sinceArg(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// watch pumps the stream into out and re-subscribes when it breaks, once
// the daemon answers a ping again.
func (r *Runtime) watch(ctx context.Context, f filters.Args, since time.Time, msgs <-chan events.Message, errs <-chan error, out chan<- runtime.Event) {
	defer close(out)
	for {
		err := r.pump(ctx, msgs, errs, &since, out)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("docker event stream broke; reconnecting", "error", err)
		for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if _, err := r.cli.Ping(ctx); err == nil {
				break
			}
		}
		msgs, errs = r.cli.Events(ctx, events.ListOptions{
			Filters: f,
			Since:   sinceArg(since),
		})
		select {
		case out <- runtime.Event{Type: runtime.EventReconnected, Time: time.Now()}:
		case <-ctx.Done():
			return
		}
	}
}

// pump forwards events until the stream ends or ctx is done, advancing
// since past each event received.
func (r *Runtime) pump(ctx context.Context, msgs <-chan events.Message, errs <-chan error, since *time.Time, out chan<- runtime.Event) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case m := <-msgs:
			if m.TimeNano != 0 {
				*since = time.Unix(0, m.TimeNano+1)
			}
			ev, ok := toEvent(m)
			if !ok {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// toEvent maps a Docker container event; false for events of no interest.
func toEvent(m events.Message) (runtime.Event, bool) {
	ev := runtime.Event{
		ContainerID:   m.Actor.ID,
		TaskArn:       m.Actor.Attributes[LabelTaskARN],
		ContainerName: m.Actor.Attributes[LabelContainerName],
		Time:          time.Unix(0, m.TimeNano),
	}
	action := string(m.Action)
	switch {
	case action == string(events.ActionStart):
		ev.Type = runtime.EventStart
	case action == string(events.ActionDie):
		ev.Type = runtime.EventDie
		if code, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
			c := int32(code)
			ev.ExitCode = &c
		}
	case action == string(events.ActionOOM):
		ev.Type = runtime.EventOOM
	case strings.HasPrefix(action, string(events.ActionHealthStatus)):
		ev.Type = runtime.EventHealthStatus
		status := strings.TrimSpace(strings.TrimPrefix(action, string(events.ActionHealthStatus)+":"))
		ev.Health = health(status)
	default:
		return runtime.Event{}, false
	}
	return ev, true
}
