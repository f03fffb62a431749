package elb

import (
	"context"
	"net"
	"slices"
	"strconv"

	"github.com/gantry-dev/gantry/internal/elbv2api"
)

// listenerProtocol validates the protocol of a listener of a load
// balancer of typ; "" takes the type's (HTTP or TCP) when allowDefault.
func listenerProtocol(typ, p string, allowDefault bool) (string, error) {
	if p == "" {
		if !allowDefault {
			return "", validation("A listener protocol must be specified")
		}
		if typ == "network" {
			return "TCP", nil
		}
		return "HTTP", nil
	}
	if err := checkProtocol("protocol", p); err != nil {
		return "", err
	}
	if typ == "application" && p != "HTTP" || typ == "network" && p != "TCP" {
		return "", errf(codeUnsupportedProtocol, "Protocol '%s' is not supported by load balancers of type '%s'", p, typ)
	}
	return p, nil
}

// checkPort checks a listener's port against the other listeners: one of
// the same load balancer is DuplicateListener; one of another load
// balancer, which shares the address, or a socket already bound on the
// host (when ProbePorts) is InvalidConfigurationRequest.
func (a *API) checkPort(w *world, lb *lbRecord, self string, port int32) error {
	if port < 1 || port > 65535 {
		return validation("1 validation error detected: Value '%d' at 'port' failed to satisfy constraint: Member must have value between 1 and 65535", port)
	}
	for _, l := range w.listeners {
		if l.ID == self || *l.Listener.Port != port {
			continue
		}
		if l.LBID == lb.ID {
			return errf(codeDuplicateListener, "A listener already exists on this port for this load balancer '%s'", lb.LB.LoadBalancerArn)
		}
		other := w.lbs[l.LBID]
		name := ""
		if other != nil {
			name = other.LB.LoadBalancerName
		}
		return errf(codeInvalidConfiguration, "Port %d is in use by load balancer '%s': Gantry's load balancers share the address %s", port, name, a.address())
	}
	if a.ProbePorts {
		ln, err := net.Listen("tcp", net.JoinHostPort(a.address(), strconv.Itoa(int(port))))
		if err != nil {
			return errf(codeInvalidConfiguration, "Port %d is in use on %s", port, a.address())
		}
		ln.Close()
	}
	return nil
}

func checkNoTLS(certs []elbv2api.Certificate, sslPolicy string, alpn []string, mtls *elbv2api.MutualAuthenticationAttributes) error {
	switch {
	case len(certs) > 0:
		return validation("Certificates can only be specified for HTTPS and TLS listeners")
	case sslPolicy != "":
		return validation("An SSL policy can only be specified for HTTPS and TLS listeners")
	case len(alpn) > 0:
		return validation("An ALPN policy can only be specified for TLS listeners")
	case mtls != nil && mtls.Mode != "" && mtls.Mode != "off":
		return validation("Mutual authentication can only be configured for HTTPS listeners")
	}
	return nil
}

// CreateListener adds an HTTP (application) or TCP (network) listener to
// a load balancer.
func (a *API) CreateListener(ctx context.Context, in *elbv2api.CreateListenerInput) (*elbv2api.CreateListenerOutput, error) {
	if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
		return nil, err
	}
	if err := checkNoTLS(in.Certificates, in.SslPolicy, in.AlpnPolicy, in.MutualAuthentication); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags, true); err != nil {
		return nil, err
	}
	if in.Port == nil {
		return nil, validation("A listener port must be specified")
	}
	now := a.now()
	var out elbv2api.Listener
	_, err := a.update(ctx, func(w *world) error {
		lb := w.lbByARN(in.LoadBalancerArn)
		if lb == nil {
			return errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
		}
		proto, err := listenerProtocol(string(lb.LB.Type), string(in.Protocol), false)
		if err != nil {
			return err
		}
		if len(w.listenersOf(lb.ID)) >= maxListenersPerLB {
			return errf(codeTooManyListeners, "You've reached the limit on the number of listeners per load balancer: %d", maxListenersPerLB)
		}
		if err := a.checkPort(w, lb, "", *in.Port); err != nil {
			return err
		}
		actions, err := w.normalizeActions(lb, proto, in.DefaultActions, "defaultActions")
		if err != nil {
			return err
		}
		if err := w.checkUniqueTargetGroups(lb, actions); err != nil {
			return err
		}
		id := newID()
		l := &listenerRecord{ID: id, LBID: lb.ID, DefaultRuleID: newID(), Tags: tagsCopy(in.Tags), Created: now.UnixNano()}
		l.Listener = elbv2api.Listener{
			ListenerArn:     a.listenerARN(lb, id),
			LoadBalancerArn: lb.LB.LoadBalancerArn,
			Port:            int32p(*in.Port),
			Protocol:        elbv2api.ProtocolEnum(proto),
			DefaultActions:  actions,
		}
		w.put(keyOf(kindListener, id), l)
		w.listeners[id] = l
		out = l.Listener
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.CreateListenerOutput{Listeners: []elbv2api.Listener{out}}, nil
}

// checkUniqueTargetGroups applies the quota of distinct target groups per
// application load balancer once actions are added.
func (w *world) checkUniqueTargetGroups(lb *lbRecord, actions []elbv2api.Action) error {
	uses := w.lbTargetGroups(lb.ID)
	for _, arn := range actionTargetGroups(actions) {
		if !slices.Contains(uses, arn) {
			uses = append(uses, arn)
		}
	}
	if len(uses) > maxUniqueTGsPerALB {
		return errf(codeTooManyUniqueTGsPerLB, "You've reached the limit on the number of unique target groups per load balancer: %d", maxUniqueTGsPerALB)
	}
	return nil
}

// DescribeListeners lists the listeners of a load balancer, or those
// named by ARN.
func (a *API) DescribeListeners(ctx context.Context, in *elbv2api.DescribeListenersInput) (*elbv2api.DescribeListenersOutput, error) {
	if in.LoadBalancerArn == "" && len(in.ListenerArns) == 0 {
		return nil, validation("You must specify either listener ARNs or a load balancer ARN")
	}
	if in.LoadBalancerArn != "" && len(in.ListenerArns) > 0 {
		return nil, validation("Listener ARNs and a load balancer ARN cannot be specified at the same time")
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	var list []*listenerRecord
	if in.LoadBalancerArn != "" {
		if err := checkARN("load balancer", in.LoadBalancerArn); err != nil {
			return nil, err
		}
		lb := w.lbByARN(in.LoadBalancerArn)
		if lb == nil {
			return nil, errf(codeLoadBalancerNotFound, "Load balancer '%s' not found", in.LoadBalancerArn)
		}
		list = w.listenersOf(lb.ID)
	} else {
		for _, arn := range in.ListenerArns {
			if err := checkARN("listener", arn); err != nil {
				return nil, err
			}
			l := w.listenerByARN(arn)
			if l == nil {
				return nil, errf(codeListenerNotFound, "One or more listeners not found")
			}
			if !slices.Contains(list, l) {
				list = append(list, l)
			}
		}
	}
	pg, next, err := page(list, func(l *listenerRecord) string { return sortKey(l.Created, l.ID) }, in.Marker, in.PageSize)
	if err != nil {
		return nil, err
	}
	out := &elbv2api.DescribeListenersOutput{Listeners: []elbv2api.Listener{}, NextMarker: next}
	for _, l := range pg {
		out.Listeners = append(out.Listeners, l.Listener)
	}
	return out, nil
}

// ModifyListener changes a listener's port, protocol or default actions.
func (a *API) ModifyListener(ctx context.Context, in *elbv2api.ModifyListenerInput) (*elbv2api.ModifyListenerOutput, error) {
	if err := checkARN("listener", in.ListenerArn); err != nil {
		return nil, err
	}
	if err := checkNoTLS(in.Certificates, in.SslPolicy, in.AlpnPolicy, in.MutualAuthentication); err != nil {
		return nil, err
	}
	var out elbv2api.Listener
	_, err := a.update(ctx, func(w *world) error {
		l := w.listenerByARN(in.ListenerArn)
		if l == nil {
			return errf(codeListenerNotFound, "One or more listeners not found")
		}
		lb := w.lbs[l.LBID]
		if lb == nil {
			return errf(codeListenerNotFound, "One or more listeners not found")
		}
		proto := string(l.Listener.Protocol)
		if in.Protocol != "" {
			p, err := listenerProtocol(string(lb.LB.Type), string(in.Protocol), false)
			if err != nil {
				return err
			}
			proto = p
		}
		if in.Port != nil && *in.Port != *l.Listener.Port {
			if err := a.checkPort(w, lb, l.ID, *in.Port); err != nil {
				return err
			}
			l.Listener.Port = int32p(*in.Port)
		}
		if len(in.DefaultActions) > 0 {
			// The listener's own use of target groups is replaced.
			saved := l.Listener.DefaultActions
			l.Listener.DefaultActions = nil
			actions, err := w.normalizeActions(lb, proto, in.DefaultActions, "defaultActions")
			if err != nil {
				l.Listener.DefaultActions = saved
				return err
			}
			if err := w.checkUniqueTargetGroups(lb, actions); err != nil {
				return err
			}
			l.Listener.DefaultActions = actions
		}
		l.Listener.Protocol = elbv2api.ProtocolEnum(proto)
		w.put(keyOf(kindListener, l.ID), l)
		out = l.Listener
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyListenerOutput{Listeners: []elbv2api.Listener{out}}, nil
}

// DeleteListener deletes a listener and its rules.
func (a *API) DeleteListener(ctx context.Context, in *elbv2api.DeleteListenerInput) (*elbv2api.DeleteListenerOutput, error) {
	if err := checkARN("listener", in.ListenerArn); err != nil {
		return nil, err
	}
	_, err := a.update(ctx, func(w *world) error {
		l := w.listenerByARN(in.ListenerArn)
		if l == nil {
			return errf(codeListenerNotFound, "One or more listeners not found")
		}
		w.deleteListener(l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.DeleteListenerOutput{}, nil
}

// defaultListenerAttributes are a listener's attributes as AWS answers
// them for a new one: TCP listeners have their idle timeout; HTTP ones
// none that Gantry serves.
func defaultListenerAttributes(protocol string) map[string]string {
	if protocol == "TCP" {
		return map[string]string{"tcp.idle_timeout.seconds": "350"}
	}
	return map[string]string{}
}

func listenerAttributes(l *listenerRecord) []elbv2api.ListenerAttribute {
	m := defaultListenerAttributes(string(l.Listener.Protocol))
	for k, v := range l.Attributes {
		if _, ok := m[k]; ok {
			m[k] = v
		}
	}
	out := []elbv2api.ListenerAttribute{}
	for _, at := range attributeList(m) {
		out = append(out, elbv2api.ListenerAttribute(at))
	}
	return out
}

// DescribeListenerAttributes answers a listener's attributes.
func (a *API) DescribeListenerAttributes(ctx context.Context, in *elbv2api.DescribeListenerAttributesInput) (*elbv2api.DescribeListenerAttributesOutput, error) {
	if err := checkARN("listener", in.ListenerArn); err != nil {
		return nil, err
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	l := w.listenerByARN(in.ListenerArn)
	if l == nil {
		return nil, errf(codeListenerNotFound, "One or more listeners not found")
	}
	return &elbv2api.DescribeListenerAttributesOutput{Attributes: listenerAttributes(l)}, nil
}

// ModifyListenerAttributes changes a listener's attributes
// (tcp.idle_timeout.seconds of a TCP listener, 60 to 6000) and answers
// all of them.
func (a *API) ModifyListenerAttributes(ctx context.Context, in *elbv2api.ModifyListenerAttributesInput) (*elbv2api.ModifyListenerAttributesOutput, error) {
	if err := checkARN("listener", in.ListenerArn); err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, validation("At least one attribute must be specified")
	}
	var out []elbv2api.ListenerAttribute
	_, err := a.update(ctx, func(w *world) error {
		l := w.listenerByARN(in.ListenerArn)
		if l == nil {
			return errf(codeListenerNotFound, "One or more listeners not found")
		}
		known := defaultListenerAttributes(string(l.Listener.Protocol))
		if l.Attributes == nil {
			l.Attributes = map[string]string{}
		}
		for _, at := range in.Attributes {
			if _, ok := known[at.Key]; !ok {
				return validation("Listener attribute key '%s' is not recognized", at.Key)
			}
			n, err := strconv.Atoi(at.Value)
			if err != nil || n < 60 || n > 6000 {
				return validation("Listener attribute '%s' must be between 60 and 6000: '%s'", at.Key, at.Value)
			}
			l.Attributes[at.Key] = at.Value
		}
		w.put(keyOf(kindListener, l.ID), l)
		out = listenerAttributes(l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &elbv2api.ModifyListenerAttributesOutput{Attributes: out}, nil
}

// DescribeListenerCertificates answers a listener's certificates: none,
// since Gantry's listeners are HTTP and TCP.
func (a *API) DescribeListenerCertificates(ctx context.Context, in *elbv2api.DescribeListenerCertificatesInput) (*elbv2api.DescribeListenerCertificatesOutput, error) {
	if err := checkARN("listener", in.ListenerArn); err != nil {
		return nil, err
	}
	w, err := a.read(ctx)
	if err != nil {
		return nil, err
	}
	if w.listenerByARN(in.ListenerArn) == nil {
		return nil, errf(codeListenerNotFound, "One or more listeners not found")
	}
	return &elbv2api.DescribeListenerCertificatesOutput{Certificates: []elbv2api.Certificate{}}, nil
}
