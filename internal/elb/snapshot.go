package elb

import (
	"context"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/store"
)

// Snapshot builds the data plane's configuration from the store as it is
// now.
func (a *API) Snapshot(ctx context.Context) (*lbconf.Snapshot, error) {
	w, err := a.load(ctx)
	if err != nil {
		return nil, err
	}
	return a.snapshot(w), nil
}

func seconds(s string) time.Duration {
	n, _ := strconv.Atoi(s)
	return time.Duration(n) * time.Second
}

// snapshot converts a world into an lbconf.Snapshot. Targets whose
// deregistration delay is over are left out even before Run removes them.
func (a *API) snapshot(w *world) *lbconf.Snapshot {
	s := &lbconf.Snapshot{Revision: w.rev, TargetGroups: map[string]*lbconf.TargetGroup{}}
	for _, lb := range w.lbList() {
		out := lbconf.LoadBalancer{Arn: lb.LB.LoadBalancerArn, Name: lb.LB.LoadBalancerName, Type: string(lb.LB.Type),
			Address: a.address()}
		if out.Type == lbconf.TypeApplication {
			out.IdleTimeout = seconds(lb.Attributes["idle_timeout.timeout_seconds"])
			out.HTTP2 = lb.Attributes["routing.http2.enabled"] == "true"
		}
		for _, l := range w.listenersOf(lb.ID) {
			ol := lbconf.Listener{Arn: l.Listener.ListenerArn, Port: int(*l.Listener.Port), Protocol: string(l.Listener.Protocol),
				DefaultActions: convertActions(l.Listener.DefaultActions), IdleTimeout: seconds(l.Attributes["tcp.idle_timeout.seconds"])}
			for _, r := range w.rulesOf(l.ID) {
				ol.Rules = append(ol.Rules, lbconf.Rule{Arn: r.Rule.RuleArn, Priority: priorityOf(r),
					Conditions: convertConditions(r.Rule.Conditions), Actions: convertActions(r.Rule.Actions)})
			}
			out.Listeners = append(out.Listeners, ol)
		}
		s.LoadBalancers = append(s.LoadBalancers, out)
	}
	now := a.now().UnixMilli()
	for _, tg := range w.tgList() {
		t := tg.TG
		out := &lbconf.TargetGroup{Arn: t.TargetGroupArn, Name: t.TargetGroupName, Protocol: string(t.Protocol), Port: int(*t.Port),
			TargetType: string(t.TargetType),
			HealthCheck: lbconf.HealthCheck{Enabled: t.HealthCheckEnabled == nil || *t.HealthCheckEnabled, Protocol: string(t.HealthCheckProtocol),
				Port: t.HealthCheckPort, Path: t.HealthCheckPath, Interval: time.Duration(deref(t.HealthCheckIntervalSeconds)) * time.Second,
				Timeout: time.Duration(deref(t.HealthCheckTimeoutSeconds)) * time.Second, HealthyThreshold: int(deref(t.HealthyThresholdCount)),
				UnhealthyThreshold: int(deref(t.UnhealthyThresholdCount))},
			DeregistrationDelay: seconds(tg.Attributes["deregistration_delay.timeout_seconds"]),
			SlowStart:           seconds(tg.Attributes["slow_start.duration_seconds"]),
			Algorithm:           tg.Attributes["load_balancing.algorithm.type"],
			Stickiness:          tg.Attributes["stickiness.enabled"] == "true",
			StickinessDuration:  seconds(tg.Attributes["stickiness.lb_cookie.duration_seconds"]),
			HoldTimeout:         holdTimeout(tg.Attributes),
		}
		if out.Algorithm == "" {
			out.Algorithm = "round_robin"
		}
		if t.Matcher != nil {
			out.HealthCheck.Matcher = t.Matcher.HttpCode
		}
		for _, tr := range w.targets[tg.ID] {
			if tr.DrainingUntil != 0 && tr.DrainingUntil <= now {
				continue
			}
			out.Targets = append(out.Targets, lbconf.Target{ID: tr.ID, Port: int(tr.Port), Host: tr.Host,
				Draining: tr.DrainingUntil != 0, RegisteredAt: time.UnixMilli(tr.Registered)})
		}
		s.TargetGroups[t.TargetGroupArn] = out
	}
	return s
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func convertActions(acts []elbv2api.Action) []lbconf.Action {
	out := make([]lbconf.Action, 0, len(acts))
	for _, act := range acts {
		o := lbconf.Action{Type: string(act.Type)}
		if act.Order != nil {
			o.Order = int(*act.Order)
		}
		switch act.Type {
		case "forward":
			if fc := act.ForwardConfig; fc != nil {
				for _, t := range fc.TargetGroups {
					o.Forward = append(o.Forward, lbconf.WeightedTargetGroup{TargetGroupArn: t.TargetGroupArn, Weight: int(deref(t.Weight))})
				}
				if s := fc.TargetGroupStickinessConfig; s != nil && s.Enabled != nil && *s.Enabled {
					o.Stickiness = true
					o.StickinessDuration = time.Duration(deref(s.DurationSeconds)) * time.Second
				}
			} else if act.TargetGroupArn != "" {
				o.Forward = []lbconf.WeightedTargetGroup{{TargetGroupArn: act.TargetGroupArn, Weight: 1}}
			}
		case "fixed-response":
			c := act.FixedResponseConfig
			code, _ := strconv.Atoi(c.StatusCode)
			o.FixedResponse = &lbconf.FixedResponse{StatusCode: code, ContentType: c.ContentType, MessageBody: c.MessageBody}
		case "redirect":
			c := act.RedirectConfig
			code := 301
			if c.StatusCode == "HTTP_302" {
				code = 302
			}
			o.Redirect = &lbconf.Redirect{Protocol: c.Protocol, Host: c.Host, Port: c.Port, Path: c.Path, Query: c.Query, StatusCode: code}
		}
		out = append(out, o)
	}
	return out
}

func convertConditions(conds []elbv2api.RuleCondition) []lbconf.Condition {
	out := make([]lbconf.Condition, 0, len(conds))
	for _, c := range conds {
		o := lbconf.Condition{Field: c.Field}
		switch {
		case c.HostHeaderConfig != nil:
			o.Values = c.HostHeaderConfig.Values
		case c.PathPatternConfig != nil:
			o.Values = c.PathPatternConfig.Values
		case c.HttpHeaderConfig != nil:
			o.HeaderName = c.HttpHeaderConfig.HttpHeaderName
			o.Values = c.HttpHeaderConfig.Values
		case c.HttpRequestMethodConfig != nil:
			o.Values = c.HttpRequestMethodConfig.Values
		case c.SourceIpConfig != nil:
			o.Values = c.SourceIpConfig.Values
		case c.QueryStringConfig != nil:
			for _, kv := range c.QueryStringConfig.Values {
				o.QueryStrings = append(o.QueryStrings, lbconf.KeyValue{Key: kv.Key, Value: kv.Value})
			}
		default:
			o.Values = c.Values
		}
		out = append(out, o)
	}
	return out
}

// Watch implements lbconf.Source: it sends the current Snapshot at once,
// then a new one after each change of the configuration records (changes
// that arrive while a snapshot waits to be taken are coalesced into the
// next one), until ctx ends; then it closes the channel. A draining
// target's end also produces a new snapshot (Run removes it from the
// store).
func (a *API) Watch(ctx context.Context) <-chan *lbconf.Snapshot {
	ch := make(chan *lbconf.Snapshot)
	dirty := make(chan struct{}, 1)
	mark := func() {
		select {
		case dirty <- struct{}{}:
		default:
		}
	}
	go func() {
		_ = a.Store.Follow(ctx, store.Follow{
			Prefix: configPrefix(),
			Lists:  []string{versionKey()},
			Load:   func(int64, []store.Item) { mark() },
			Apply: func(resp store.WatchResponse) {
				if len(resp.Events) > 0 {
					mark()
				}
			},
			Logger: a.logger(),
		})
	}()
	go func() {
		defer close(ch)
		sentAny, lastVersion := false, int64(0)
		for {
			select {
			case <-ctx.Done():
				return
			case <-dirty:
			}
			var w *world
			for {
				var err error
				if w, err = a.load(ctx); err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				a.logger().Warn("elbv2: read the configuration", "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
			if sentAny && w.versionRev == lastVersion {
				continue // nothing changed since the last snapshot
			}
			// A newer change while this one waits to be taken replaces
			// it (coalescing).
			for sent := false; !sent; {
				select {
				case <-ctx.Done():
					return
				case ch <- a.snapshot(w):
					sentAny, lastVersion, sent = true, w.versionRev, true
				case <-dirty:
					if nw, err := a.load(ctx); err == nil {
						w = nw
					}
				}
			}
		}
	}()
	return ch
}
