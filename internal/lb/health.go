package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/lbconf"
)

// Health check defaults, as CreateTargetGroup has them for HTTP.
const (
	defaultInterval           = 30 * time.Second
	defaultCheckTimeout       = 5 * time.Second
	defaultHealthyThreshold   = 5
	defaultUnhealthyThreshold = 2
)

// userAgent is the User-Agent of HTTP health checks, as ALB sends it.
const userAgent = "ELB-HealthChecker/2.0"

// probe is the outcome of one health check.
type probe struct {
	ok          bool
	reason      string
	description string
}

// startHealth starts b's health checker; b.stop ends it. A target group
// whose health check is disabled has every target healthy.
func (l *LB) startHealth(ctx context.Context, g *group, b *backend) {
	hctx, cancel := context.WithCancel(ctx)
	b.stop = cancel
	l.checkers.Go(func() { l.checkLoop(hctx, g, b) })
}

// checkLoop checks b at the group's interval until ctx ends, and reports
// each change of state.
func (l *LB) checkLoop(ctx context.Context, g *group, b *backend) {
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	var ok, fail int
	// The first check comes soon after registration, spread a little so
	// that many targets registered together are not checked at once.
	wait := time.Duration(rand.Int64N(int64(200 * time.Millisecond)))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		hc := g.cfg.Load().healthCheck
		wait = hc.Interval
		if wait <= 0 {
			wait = defaultInterval
		}
		if !hc.Enabled {
			l.transition(ctx, g, b, stateHealthy, probe{ok: true})
			continue
		}
		if b.draining.Load() {
			// A draining target's state is the control plane's to say.
			continue
		}
		pr := check(ctx, client, hc, b)
		if ctx.Err() != nil {
			return
		}
		healthy := hc.HealthyThreshold
		if healthy <= 0 {
			healthy = defaultHealthyThreshold
		}
		unhealthy := hc.UnhealthyThreshold
		if unhealthy <= 0 {
			unhealthy = defaultUnhealthyThreshold
		}
		if pr.ok {
			ok, fail = ok+1, 0
			if ok >= healthy {
				l.transition(ctx, g, b, stateHealthy, pr)
			}
		} else {
			ok, fail = 0, fail+1
			if fail >= unhealthy {
				l.transition(ctx, g, b, stateUnhealthy, pr)
			}
		}
	}
}

// transition moves b to state and reports it if it changed.
func (l *LB) transition(ctx context.Context, g *group, b *backend, state int32, pr probe) {
	prev := b.state.Swap(state)
	if prev == state {
		return
	}
	h := lbconf.Health{State: lbconf.StateHealthy}
	if state == stateHealthy {
		b.healthySince.Store(l.opts.Now().UnixNano())
		b.markUp()
		g.ready.changed()
	} else {
		b.markDown()
		h = lbconf.Health{State: lbconf.StateUnhealthy, Reason: pr.reason, Description: pr.description}
	}
	l.logger.Info("target health changed", "targetGroup", g.arn, "target", b.id, "port", b.port,
		"state", h.State, "reason", h.Reason)
	if l.opts.Health == nil {
		return
	}
	if err := l.opts.Health.Report(ctx, g.arn, b.id, b.port, h); err != nil && ctx.Err() == nil {
		l.logger.Warn("report target health", "targetGroup", g.arn, "target", b.id, "err", err)
	}
}

// check runs one health check of b.
func check(ctx context.Context, client *http.Client, hc lbconf.HealthCheck, b *backend) probe {
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = defaultCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := b.addr
	if hc.Port != "" && hc.Port != "traffic-port" {
		host, _, _ := net.SplitHostPort(b.addr)
		addr = net.JoinHostPort(host, hc.Port)
	}
	if hc.Protocol == lbconf.ProtocolTCP {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return failure(ctx, err)
		}
		_ = c.Close()
		return probe{ok: true}
	}
	path := hc.Path
	if path == "" {
		path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return probe{reason: lbconf.ReasonFailedHealthChecks, description: "Health checks failed"}
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Connection", "close")
	resp, err := client.Do(req)
	if err != nil {
		return failure(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if !matchCode(hc.Matcher, resp.StatusCode) {
		return probe{
			reason:      lbconf.ReasonResponseCodeMismatch,
			description: fmt.Sprintf("Health checks failed with these codes: [%d]", resp.StatusCode),
		}
	}
	return probe{ok: true}
}

// failure is the probe of a check that got no answer.
func failure(ctx context.Context, err error) probe {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return probe{reason: lbconf.ReasonTimeout, description: "Request timed out"}
	}
	return probe{reason: lbconf.ReasonFailedHealthChecks, description: "Health checks failed"}
}

// matchCode reports whether code is one of a matcher's: "200",
// "200,202", "200-299" (and mixes; empty is 200).
func matchCode(matcher string, code int) bool {
	if strings.TrimSpace(matcher) == "" {
		matcher = "200"
	}
	for part := range strings.SplitSeq(matcher, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
				continue
			}
		}
		if a <= code && code <= b {
			return true
		}
	}
	return false
}
