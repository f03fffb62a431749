package elb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/lbconf"
	"github.com/gantry-dev/gantry/internal/store"
)

// targetPort is the port of a target description: its own, else the
// group's.
func targetPort(t elbv2api.TargetDescription, tg *tgRecord) (int32, error) {
	if t.Port == nil {
		return *tg.TG.Port, nil
	}
	if *t.Port < 1 || *t.Port > 65535 {
		return 0, validation("1 validation error detected: Value '%d' at 'targets.member.port' failed to satisfy constraint: Member must have value between 1 and 65535", *t.Port)
	}
	return *t.Port, nil
}

func checkTargets(ts []elbv2api.TargetDescription) error {
	if len(ts) == 0 {
		return validation("At least one target must be specified")
	}
	for _, t := range ts {
		if t.Id == "" {
			return validation("A target ID must be specified")
		}
	}
	return nil
}

// RegisterTargets registers targets with a target group: container
// instances by ec2InstanceId (or container instance ID) for type instance,
// IPv4 addresses for type ip. A draining target registered again is
// registered anew.
func (a *API) RegisterTargets(ctx context.Context, in *elbv2api.RegisterTargetsInput) (*elbv2api.RegisterTargetsOutput, error) {
	if err := checkARN("target group", in.TargetGroupArn); err != nil {
		return nil, err
	}
	if err := checkTargets(in.Targets); err != nil {
		return nil, err
	}
	var insts map[string]instance
	now := a.now()
	_, err := a.update(ctx, func(w *world) error {
		tg := w.tgByARN(in.TargetGroupArn)
		if tg == nil {
			return errf(codeTargetGroupNotFound, "Target groups '%s' not found", in.TargetGroupArn)
		}
		current := map[string]*targetRecord{}
		for _, t := range w.targets[tg.ID] {
			current[t.ID+":"+fmt.Sprint(t.Port)] = t
		}
		n := len(current)
		var invalid []string
		for _, t := range in.Targets {
			port, err := targetPort(t, tg)
			if err != nil {
				return err
			}
			rec := &targetRecord{TGID: tg.ID, ID: t.Id, Port: port, Registered: now.UnixMilli()}
			switch tg.TG.TargetType {
			case "ip":
				ip, err := netip.ParseAddr(t.Id)
				if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
					return errf(codeInvalidTarget, "The IP address '%s' is not a valid IPv4 address", t.Id)
				}
				if t.AvailabilityZone != "" && t.AvailabilityZone != "all" && !strings.HasPrefix(t.AvailabilityZone, a.Region) {
					return validation("Availability zone '%s' is not valid", t.AvailabilityZone)
				}
				rec.Host = ip.String()
				rec.AvailabilityZone = t.AvailabilityZone
			default:
				if t.AvailabilityZone != "" {
					return validation("You cannot specify an Availability Zone for targets of type instance")
				}
				if insts == nil {
					var err error
					if insts, err = a.instances(ctx); err != nil {
						return err
					}
				}
				inst, ok := insts[t.Id]
				if !ok {
					invalid = append(invalid, "'"+t.Id+"'")
					continue
				}
				rec.Host = inst.Host
			}
			key := t.Id + ":" + fmt.Sprint(port)
			if cur, ok := current[key]; ok {
				if cur.DrainingUntil == 0 {
					continue // already registered
				}
				// Draining: registered anew, without its old health.
				w.delPrefix(store.Key("elbv2-health", tg.ID, t.Id, fmt.Sprint(port)) + "/")
			} else {
				n++
			}
			current[key] = rec
			w.put(targetKey(tg.ID, t.Id, port), rec)
		}
		if len(invalid) > 0 {
			return errf(codeInvalidTarget, "The following targets are not valid instances: %s", strings.Join(invalid, ", "))
		}
		if n > maxTargetsPerTG {
			return errf(codeTooManyTargets, "You've reached the limit on the number of targets per target group: %d", maxTargetsPerTG)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.RegisterTargetsOutput{}, nil
}

// DeregisterTargets deregisters targets: one a load balancer uses drains
// for the group's deregistration delay (DescribeTargetHealth answers
// draining), then is gone; targets not registered are ignored.
func (a *API) DeregisterTargets(ctx context.Context, in *elbv2api.DeregisterTargetsInput) (*elbv2api.DeregisterTargetsOutput, error) {
	if err := checkARN("target group", in.TargetGroupArn); err != nil {
		return nil, err
	}
	if err := checkTargets(in.Targets); err != nil {
		return nil, err
	}
	now := a.now()
	_, err := a.update(ctx, func(w *world) error {
		tg := w.tgByARN(in.TargetGroupArn)
		if tg == nil {
			return errf(codeTargetGroupNotFound, "Target groups '%s' not found", in.TargetGroupArn)
		}
		delay, _ := strconv.Atoi(tg.Attributes["deregistration_delay.timeout_seconds"])
		inUse := len(w.tgLoadBalancers(tg.TG.TargetGroupArn)) > 0
		for _, t := range in.Targets {
			port, err := targetPort(t, tg)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(w.targets[tg.ID], func(r *targetRecord) bool { return r.ID == t.Id && r.Port == port })
			if i < 0 {
				continue
			}
			rec := w.targets[tg.ID][i]
			if rec.DrainingUntil != 0 {
				continue
			}
			if delay == 0 || !inUse {
				w.removeTarget(rec)
				continue
			}
			rec.DrainingUntil = now.Add(time.Duration(delay) * time.Second).UnixMilli()
			w.put(targetKey(tg.ID, rec.ID, rec.Port), rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeregisterTargetsOutput{}, nil
}

// removeTarget records the removal of a target and its health reports.
func (w *world) removeTarget(t *targetRecord) {
	w.del(targetKey(t.TGID, t.ID, t.Port))
	w.delPrefix(store.Key("elbv2-health", t.TGID, t.ID, fmt.Sprint(t.Port)) + "/")
}

// healthReport is one data plane's latest word on a target, as stored.
type healthReport struct {
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	Description string `json:"description,omitempty"`
	// At is when it was reported (unix milliseconds).
	At int64 `json:"at"`
}

// reports reads the health reports of a target group by target
// ("ID:port").
func (a *API) reports(ctx context.Context, tgID string) (map[string][]healthReport, error) {
	p := healthPrefix(tgID)
	items, err := a.Store.List(ctx, p, "", 0)
	if err != nil {
		return nil, err
	}
	out := map[string][]healthReport{}
	for _, it := range items {
		parts := strings.Split(strings.TrimPrefix(it.Key, p), "/")
		if len(parts) != 3 {
			continue
		}
		var h healthReport
		if err := json.Unmarshal(it.Value, &h); err != nil {
			continue
		}
		out[parts[0]+":"+parts[1]] = append(out[parts[0]+":"+parts[1]], h)
	}
	return out, nil
}

// combine merges the reports of several data planes: unhealthy if any
// finds the target unhealthy (with the newest such report's reason),
// else healthy if any finds it healthy, else initial.
func combine(rs []healthReport) elbv2api.TargetHealth {
	var unhealthy, healthy, initial *healthReport
	for i := range rs {
		r := &rs[i]
		switch r.State {
		case lbconf.StateUnhealthy:
			if unhealthy == nil || r.At > unhealthy.At {
				unhealthy = r
			}
		case lbconf.StateHealthy:
			healthy = r
		default:
			if initial == nil || r.At > initial.At {
				initial = r
			}
		}
	}
	switch {
	case unhealthy != nil:
		return elbv2api.TargetHealth{State: "unhealthy", Reason: elbv2api.TargetHealthReasonEnum(unhealthy.Reason), Description: unhealthy.Description}
	case healthy != nil:
		return elbv2api.TargetHealth{State: "healthy"}
	case initial != nil && initial.Reason != "":
		return elbv2api.TargetHealth{State: "initial", Reason: elbv2api.TargetHealthReasonEnum(initial.Reason), Description: initial.Description}
	}
	return elbv2api.TargetHealth{State: "initial", Reason: lbconf.ReasonRegistrationInProgress, Description: "Target registration is in progress"}
}

// DescribeTargetHealth answers the health of a target group's targets:
// all registered ones (draining included), or those asked for (one not
// registered is unused / Target.NotRegistered).
func (a *API) DescribeTargetHealth(ctx context.Context, in *elbv2api.DescribeTargetHealthInput) (*elbv2api.DescribeTargetHealthOutput, error) {
	if err := checkARN("target group", in.TargetGroupArn); err != nil {
		return nil, err
	}
	anomaly := false
	for _, inc := range in.Include {
		switch inc {
		case "AnomalyDetection", "All":
			anomaly = true
		default:
			return nil, enumError("include", string(inc), []string{"AnomalyDetection", "All"})
		}
	}
	for _, t := range in.Targets {
		if t.Id == "" {
			return nil, validation("A target ID must be specified")
		}
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	tg := w.tgByARN(in.TargetGroupArn)
	if tg == nil {
		return nil, errf(codeTargetGroupNotFound, "Target groups '%s' not found", in.TargetGroupArn)
	}
	reports, err := a.reports(ctx, tg.ID)
	if err != nil {
		return nil, err
	}
	now := a.now().UnixMilli()
	inUse := len(w.tgLoadBalancers(tg.TG.TargetGroupArn)) > 0
	registered := map[string]*targetRecord{}
	var all []*targetRecord
	for _, t := range w.targets[tg.ID] {
		if t.DrainingUntil != 0 && t.DrainingUntil <= now {
			continue // its delay is over: gone (Run removes it)
		}
		registered[t.ID+":"+fmt.Sprint(t.Port)] = t
		all = append(all, t)
	}
	slices.SortFunc(all, func(x, y *targetRecord) int {
		if x.Registered != y.Registered {
			return int(x.Registered - y.Registered)
		}
		return strings.Compare(x.ID+fmt.Sprint(x.Port), y.ID+fmt.Sprint(y.Port))
	})
	describe := func(id string, port int32, t *targetRecord) elbv2api.TargetHealthDescription {
		d := elbv2api.TargetHealthDescription{Target: &elbv2api.TargetDescription{Id: id, Port: int32p(port)}}
		hcPort := tg.TG.HealthCheckPort
		if hcPort == "traffic-port" {
			hcPort = fmt.Sprint(port)
		}
		d.HealthCheckPort = hcPort
		var h elbv2api.TargetHealth
		switch {
		case t == nil:
			h = elbv2api.TargetHealth{State: "unused", Reason: lbconf.ReasonNotRegistered, Description: "Target is not registered to the target group"}
		case t.DrainingUntil != 0:
			h = elbv2api.TargetHealth{State: "draining", Reason: lbconf.ReasonDeregistrationInProgress, Description: "Target deregistration is in progress"}
		case !inUse:
			h = elbv2api.TargetHealth{State: "unused", Reason: "Target.NotInUse", Description: "Target group is not configured to receive traffic from the load balancer"}
		case tg.TG.HealthCheckEnabled != nil && !*tg.TG.HealthCheckEnabled:
			h = elbv2api.TargetHealth{State: "unavailable", Reason: "Target.HealthCheckDisabled", Description: "Health checks are disabled"}
		default:
			h = combine(reports[id+":"+fmt.Sprint(port)])
		}
		if t != nil && t.AvailabilityZone != "" {
			d.Target.AvailabilityZone = t.AvailabilityZone
		}
		d.TargetHealth = &h
		if anomaly && tg.TG.Protocol == "HTTP" {
			d.AnomalyDetection = &elbv2api.AnomalyDetection{Result: "normal", MitigationInEffect: "no"}
		}
		return d
	}
	out := &elbv2api.DescribeTargetHealthOutput{TargetHealthDescriptions: []elbv2api.TargetHealthDescription{}}
	if len(in.Targets) == 0 {
		for _, t := range all {
			out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, describe(t.ID, t.Port, t))
		}
		return out, nil
	}
	for _, td := range in.Targets {
		port, err := targetPort(td, tg)
		if err != nil {
			return nil, err
		}
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, describe(td.Id, port, registered[td.Id+":"+fmt.Sprint(port)]))
	}
	return out, nil
}

// HealthSink returns the lbconf.HealthSink of one data plane process,
// named reporter (unique per process): its reports are stored on a lease
// kept alive until ctx ends or Close, so that they vanish when the
// process does (at once on Close, within the lease's 15 s otherwise).
func (a *API) HealthSink(ctx context.Context, reporter string) *HealthReporter {
	ctx, cancel := context.WithCancel(ctx)
	return &HealthReporter{api: a, reporter: reporter, ctx: ctx, cancel: cancel, ttl: 15 * time.Second}
}

var _ lbconf.HealthSink = (*HealthReporter)(nil)

// HealthReporter is a data plane process's lbconf.HealthSink (see
// API.HealthSink).
type HealthReporter struct {
	api      *API
	reporter string
	ctx      context.Context
	cancel   context.CancelFunc
	ttl      time.Duration

	mu    sync.Mutex
	lease store.LeaseID
	lost  <-chan struct{}
}

// leaseID returns a live lease, granting one (kept alive until the sink's
// context ends) when there is none or it was lost.
func (s *HealthReporter) leaseID(ctx context.Context) (store.LeaseID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease != 0 {
		select {
		case <-s.lost:
			s.lease = 0
		default:
			return s.lease, nil
		}
	}
	id, err := s.api.Store.Grant(ctx, s.ttl)
	if err != nil {
		return 0, err
	}
	lost, err := s.api.Store.KeepAlive(s.ctx, id)
	if err != nil {
		return 0, err
	}
	s.lease, s.lost = id, lost
	return id, nil
}

func (s *HealthReporter) dropLease(id store.LeaseID) {
	s.mu.Lock()
	if s.lease == id {
		s.lease = 0
	}
	s.mu.Unlock()
}

// Close ends the reporter: its lease is revoked, so its reports vanish at
// once. Later reports are refused.
func (s *HealthReporter) Close() error {
	s.cancel()
	s.mu.Lock()
	id := s.lease
	s.lease = 0
	s.mu.Unlock()
	if id == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.api.Store.Revoke(ctx, id); err != nil && !errors.Is(err, store.ErrLeaseNotFound) {
		return fmt.Errorf("revoke the health reports' lease: %w", err)
	}
	return nil
}

// Report stores a health transition of a registered target; a report on
// a target that is not registered (any more) is dropped.
func (s *HealthReporter) Report(ctx context.Context, targetGroupArn, targetID string, port int, h lbconf.Health) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("report health: the reporter is closed")
	}
	_, tgID, ok := s.api.arnKind(targetGroupArn)
	if !ok {
		return fmt.Errorf("report health: %q is not a target group ARN", targetGroupArn)
	}
	b, err := json.Marshal(healthReport{State: h.State, Reason: h.Reason, Description: h.Description, At: s.api.now().UnixMilli()})
	if err != nil {
		return err
	}
	tk := targetKey(tgID, targetID, int32(port))
	for attempt := 0; attempt < 3; attempt++ {
		var t targetRecord
		rev, err := s.api.Store.Get(ctx, tk, &t)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("report health: %w", err)
		}
		lease, err := s.leaseID(ctx)
		if err != nil {
			return fmt.Errorf("report health: lease: %w", err)
		}
		resp, err := s.api.Store.Txn(ctx, []store.Cmp{store.ModRevisionIs(tk, rev)},
			store.OpPutLeased(healthKey(tgID, targetID, int32(port), s.reporter), b, lease))
		if err != nil {
			// Most likely the lease expired: take a new one.
			s.dropLease(lease)
			continue
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("report health of %s:%d: %w", targetID, port, store.ErrConflict)
}

// Run keeps the watch-fed view of the records that read operations use,
// and removes deregistered targets whose deregistration delay is over,
// every second, until ctx ends. Every server may run it. Call it once,
// before serving requests or while serving them.
func (a *API) Run(ctx context.Context) {
	v := newView()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.follow(ctx, v)
	}()
	defer wg.Wait()
	a.view.Store(v)
	defer a.view.Store(nil)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.reap(ctx); err != nil && ctx.Err() == nil {
			a.logger().Warn("elbv2: remove drained targets", "err", err)
		}
	}
}

// reap removes the targets whose deregistration delay is over.
func (a *API) reap(ctx context.Context) error {
	w, err := a.read(ctx)
	if err != nil {
		return err
	}
	now := a.now().UnixMilli()
	due := false
	for _, ts := range w.targets {
		for _, t := range ts {
			due = due || t.DrainingUntil != 0 && t.DrainingUntil <= now
		}
	}
	if !due {
		return nil
	}
	// At most 50 targets (100 operations) a transaction, within an
	// external etcd's default limit; the next tick takes the rest.
	_, err = a.update(ctx, func(w *world) error {
		n := 0
		for _, ts := range w.targets {
			for _, t := range ts {
				if t.DrainingUntil != 0 && t.DrainingUntil <= now && n < 50 {
					w.removeTarget(t)
					n++
				}
			}
		}
		return nil
	})
	return err
}
