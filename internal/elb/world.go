package elb

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/store"
)

// lbRecord is a load balancer as stored.
type lbRecord struct {
	ID         string                `json:"id"`
	LB         elbv2api.LoadBalancer `json:"loadBalancer"`
	Attributes map[string]string     `json:"attributes"`
	Tags       []elbv2api.Tag        `json:"tags,omitempty"`
	// Created orders listings (unix nanoseconds).
	Created int64 `json:"created"`
}

// tgRecord is a target group as stored (its LoadBalancerArns are derived
// from the listeners and rules that forward to it when it is read).
type tgRecord struct {
	ID         string               `json:"id"`
	TG         elbv2api.TargetGroup `json:"targetGroup"`
	Attributes map[string]string    `json:"attributes"`
	Tags       []elbv2api.Tag       `json:"tags,omitempty"`
	Created    int64                `json:"created"`
}

// listenerRecord is a listener as stored; its default rule (what
// DescribeRules answers with IsDefault) has DefaultRuleID.
type listenerRecord struct {
	ID            string            `json:"id"`
	LBID          string            `json:"lbId"`
	Listener      elbv2api.Listener `json:"listener"`
	DefaultRuleID string            `json:"defaultRuleId"`
	Tags          []elbv2api.Tag    `json:"tags,omitempty"`
	// DefaultRuleTags are the default rule's tags.
	DefaultRuleTags []elbv2api.Tag `json:"defaultRuleTags,omitempty"`
	// Attributes are the attributes set by ModifyListenerAttributes
	// (defaultListenerAttributes fills the others).
	Attributes map[string]string `json:"attributes,omitempty"`
	Created    int64             `json:"created"`
}

// ruleRecord is a non-default listener rule as stored.
type ruleRecord struct {
	ID         string         `json:"id"`
	ListenerID string         `json:"listenerId"`
	Rule       elbv2api.Rule  `json:"rule"`
	Tags       []elbv2api.Tag `json:"tags,omitempty"`
	Created    int64          `json:"created"`
}

// targetRecord is a registered target.
type targetRecord struct {
	TGID             string `json:"tgId"`
	ID               string `json:"id"`
	Port             int32  `json:"port"`
	AvailabilityZone string `json:"availabilityZone,omitempty"`
	// Host is the address the data plane dials.
	Host string `json:"host"`
	// Registered is when it was registered (unix milliseconds).
	Registered int64 `json:"registered"`
	// DrainingUntil, when not zero, is when the deregistration delay of a
	// deregistered target ends (unix milliseconds); the target is
	// removed then.
	DrainingUntil int64 `json:"drainingUntil,omitempty"`
}

// world is every ELBv2 record at one revision, and the writes an
// operation makes to it.
type world struct {
	rev        int64
	versionRev int64
	lbs        map[string]*lbRecord
	tgs        map[string]*tgRecord
	listeners  map[string]*listenerRecord
	rules      map[string]*ruleRecord
	targets    map[string][]*targetRecord // by target group ID
	ops        []store.Op
}

// load reads every configuration record in one Range.
func (a *API) load(ctx context.Context) (*world, error) {
	p := configPrefix()
	resp, err := a.Store.Range(ctx, store.Range{From: p, End: store.PrefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("read elbv2 records: %w", err)
	}
	return decode(resp.Revision, resp.Items)
}

// decode builds a world from the configuration records read at rev.
func decode(rev int64, items []store.Item) (*world, error) {
	p := configPrefix()
	w := &world{rev: rev, lbs: map[string]*lbRecord{}, tgs: map[string]*tgRecord{},
		listeners: map[string]*listenerRecord{}, rules: map[string]*ruleRecord{}, targets: map[string][]*targetRecord{}}
	for _, it := range items {
		if it.Key == versionKey() {
			w.versionRev = it.ModRev
			continue
		}
		kind, _, _ := strings.Cut(strings.TrimPrefix(it.Key, p), "/")
		var err error
		switch kind {
		case kindLB:
			r := &lbRecord{}
			if err = it.Decode(r); err == nil {
				w.lbs[r.ID] = r
			}
		case kindTG:
			r := &tgRecord{}
			if err = it.Decode(r); err == nil {
				w.tgs[r.ID] = r
			}
		case kindListener:
			r := &listenerRecord{}
			if err = it.Decode(r); err == nil {
				w.listeners[r.ID] = r
			}
		case kindRule:
			r := &ruleRecord{}
			if err = it.Decode(r); err == nil {
				w.rules[r.ID] = r
			}
		case kindTarget:
			r := &targetRecord{}
			if err = it.Decode(r); err == nil {
				w.targets[r.TGID] = append(w.targets[r.TGID], r)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

func byCreated[T any](m map[string]*T, created func(*T) int64, id func(*T) string) []*T {
	out := make([]*T, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y *T) int {
		return cmp.Or(cmp.Compare(created(x), created(y)), strings.Compare(id(x), id(y)))
	})
	return out
}

func (w *world) lbList() []*lbRecord {
	return byCreated(w.lbs, func(r *lbRecord) int64 { return r.Created }, func(r *lbRecord) string { return r.ID })
}

func (w *world) tgList() []*tgRecord {
	return byCreated(w.tgs, func(r *tgRecord) int64 { return r.Created }, func(r *tgRecord) string { return r.ID })
}

func (w *world) listenerList() []*listenerRecord {
	return byCreated(w.listeners, func(r *listenerRecord) int64 { return r.Created }, func(r *listenerRecord) string { return r.ID })
}

// lbByARN finds a load balancer by ARN.
func (w *world) lbByARN(arn string) *lbRecord {
	for _, r := range w.lbs {
		if r.LB.LoadBalancerArn == arn {
			return r
		}
	}
	return nil
}

func (w *world) tgByARN(arn string) *tgRecord {
	for _, r := range w.tgs {
		if r.TG.TargetGroupArn == arn {
			return r
		}
	}
	return nil
}

func (w *world) listenerByARN(arn string) *listenerRecord {
	for _, r := range w.listeners {
		if r.Listener.ListenerArn == arn {
			return r
		}
	}
	return nil
}

// ruleByARN finds a rule, or the default rule of a listener (then rule is
// nil and l is its listener).
func (w *world) ruleByARN(arn string) (rule *ruleRecord, l *listenerRecord) {
	for _, r := range w.rules {
		if r.Rule.RuleArn == arn {
			return r, w.listeners[r.ListenerID]
		}
	}
	for _, l := range w.listeners {
		if l.defaultRuleARN() == arn {
			return nil, l
		}
	}
	return nil, nil
}

func (l *listenerRecord) defaultRuleARN() string {
	// The listener ARN is arn:...:listener/app/NAME/LBID/LID; its rules
	// are arn:...:listener-rule/app/NAME/LBID/LID/RID.
	return strings.Replace(l.Listener.ListenerArn, ":listener/", ":listener-rule/", 1) + "/" + l.DefaultRuleID
}

// rulesOf returns the listener's non-default rules by priority.
func (w *world) rulesOf(listenerID string) []*ruleRecord {
	var out []*ruleRecord
	for _, r := range w.rules {
		if r.ListenerID == listenerID {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y *ruleRecord) int { return cmp.Compare(priorityOf(x), priorityOf(y)) })
	return out
}

func priorityOf(r *ruleRecord) int {
	var n int
	_, _ = fmt.Sscan(r.Rule.Priority, &n)
	return n
}

// listenersOf returns the load balancer's listeners.
func (w *world) listenersOf(lbID string) []*listenerRecord {
	var out []*listenerRecord
	for _, l := range w.listenerList() {
		if l.LBID == lbID {
			out = append(out, l)
		}
	}
	return out
}

// actionTargetGroups returns the target group ARNs actions forward to.
func actionTargetGroups(actions []elbv2api.Action) []string {
	var out []string
	for _, act := range actions {
		if act.TargetGroupArn != "" {
			out = append(out, act.TargetGroupArn)
		}
		if act.ForwardConfig != nil {
			for _, t := range act.ForwardConfig.TargetGroups {
				out = append(out, t.TargetGroupArn)
			}
		}
	}
	return out
}

// tgLoadBalancers returns the ARNs of the load balancers whose listeners
// or rules forward to target group arn, in creation order.
func (w *world) tgLoadBalancers(arn string) []string {
	uses := map[string]bool{}
	for _, l := range w.listeners {
		if slices.Contains(actionTargetGroups(l.Listener.DefaultActions), arn) {
			uses[l.LBID] = true
		}
	}
	for _, r := range w.rules {
		if slices.Contains(actionTargetGroups(r.Rule.Actions), arn) {
			if l := w.listeners[r.ListenerID]; l != nil {
				uses[l.LBID] = true
			}
		}
	}
	var out []string
	for _, lb := range w.lbList() {
		if uses[lb.ID] {
			out = append(out, lb.LB.LoadBalancerArn)
		}
	}
	return out
}

// lbTargetGroups returns the distinct target groups the load balancer's
// listeners and rules forward to.
func (w *world) lbTargetGroups(lbID string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(arns []string) {
		for _, a := range arns {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	for _, l := range w.listenersOf(lbID) {
		add(actionTargetGroups(l.Listener.DefaultActions))
		for _, r := range w.rulesOf(l.ID) {
			add(actionTargetGroups(r.Rule.Actions))
		}
	}
	return out
}

// targetGroupView is a target group as the API answers it.
func (w *world) targetGroupView(r *tgRecord) elbv2api.TargetGroup {
	tg := r.TG
	tg.LoadBalancerArns = w.tgLoadBalancers(tg.TargetGroupArn)
	return tg
}
