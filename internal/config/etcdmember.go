package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// EtcdMember configures the embedded etcd member as one of several that
// the servers form between them (issue 19). Its zero value (no
// InitialCluster) is the default single member on loopback.
type EtcdMember struct {
	// Name is this member's name in InitialCluster.
	Name string
	// InitialCluster lists the members, name=peerURL, comma-separated:
	// every member when the cluster is new, the members already there and
	// this one when it joins (what `etcdctl member add` prints).
	InitialCluster string
	// InitialClusterState is "new" (the members start together) or
	// "existing" (this member joins a running cluster after `etcdctl
	// member add`).
	InitialClusterState string
	// InitialClusterToken names the cluster: members of a new cluster
	// must all have the same token, and a member never joins a cluster
	// made with another one.
	InitialClusterToken string
	// ListenPeerURLs are the addresses the member accepts its peers on;
	// empty means AdvertisePeerURLs.
	ListenPeerURLs []string
	// AdvertisePeerURLs are the URLs the peers reach this member at;
	// empty means this member's URL in InitialCluster.
	AdvertisePeerURLs []string
	// ListenClientURLs are loopback http URLs on which the member also
	// serves etcd's client API, for etcdctl (member add / remove / list)
	// on the same host; the server itself always talks to its member
	// in-process and over a private Unix socket.
	ListenClientURLs []string
	// PeerCert, PeerKey and PeerTrustedCA are PEM files of the peer
	// listener's TLS (https peer URLs): this member's certificate and key
	// (presented to its peers as server and as client) and the CA that
	// signed its peers' certificates.
	PeerCert, PeerKey, PeerTrustedCA string
	// PeerClientCertAuth makes the member accept only peers presenting a
	// certificate signed by PeerTrustedCA.
	PeerClientCertAuth bool
}

// Clustered reports whether the embedded member is one of a cluster
// configured by flags rather than the default single member.
func (m *EtcdMember) Clustered() bool { return m.InitialCluster != "" }

// registerEtcdMemberFlags defines the embedded member's cluster flags.
func (c *Server) registerEtcdMemberFlags(fs *flag.FlagSet) {
	m := &c.EtcdMember
	fs.StringVar(&m.Name, "etcd-name", m.Name, "name of this server's embedded etcd member in --etcd-initial-cluster")
	fs.StringVar(&m.InitialCluster, "etcd-initial-cluster", m.InitialCluster, "embedded etcd members as name=peerURL,... (an odd number, e.g. three servers): the servers' members form one cluster; empty: a single member on loopback")
	fs.StringVar(&m.InitialClusterState, "etcd-initial-cluster-state", m.InitialClusterState, "new (the listed members start together) or existing (join a running cluster after `etcdctl member add`)")
	fs.StringVar(&m.InitialClusterToken, "etcd-initial-cluster-token", m.InitialClusterToken, "name of the embedded etcd cluster; a member never joins a cluster made with another token")
	fs.Var((*listFlag)(&m.ListenPeerURLs), "etcd-listen-peer-urls", "comma-separated URLs the embedded member accepts its peers on (e.g. http://0.0.0.0:2380); default: --etcd-advertise-peer-urls")
	fs.Var((*listFlag)(&m.AdvertisePeerURLs), "etcd-advertise-peer-urls", "comma-separated URLs the other members reach this one at; default: this member's URL in --etcd-initial-cluster")
	fs.Var((*listFlag)(&m.ListenClientURLs), "etcd-listen-client-urls", "comma-separated loopback http URLs on which the embedded member also serves etcd's client API, for etcdctl member add/remove/list on this host")
	fs.StringVar(&m.PeerCert, "etcd-peer-cert", m.PeerCert, "PEM certificate of the embedded member's peer TLS (https peer URLs)")
	fs.StringVar(&m.PeerKey, "etcd-peer-key", m.PeerKey, "PEM key of --etcd-peer-cert")
	fs.StringVar(&m.PeerTrustedCA, "etcd-peer-trusted-ca", m.PeerTrustedCA, "PEM file of the CA that signed the other members' peer certificates")
	fs.BoolVar(&m.PeerClientCertAuth, "etcd-peer-client-cert-auth", m.PeerClientCertAuth, "accept only peers presenting a certificate signed by --etcd-peer-trusted-ca")
}

// Member is one entry of --etcd-initial-cluster.
type Member struct {
	Name    string
	PeerURL string
}

// ParseInitialCluster parses name=peerURL,... and refuses an empty name,
// a URL that is not http(s)://host:port, a name listed twice and a peer
// URL listed under two names.
func ParseInitialCluster(s string) ([]Member, error) {
	var out []Member
	names := map[string]bool{}
	urls := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, raw, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not name=peerURL", part)
		}
		if err := checkPeerURL(raw); err != nil {
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		if names[name] {
			return nil, fmt.Errorf("member name %q is listed twice (give each member one peer URL and its own name)", name)
		}
		key := canonicalURL(raw)
		if other, dup := urls[key]; dup {
			return nil, fmt.Errorf("conflicting peer URLs: %s is both member %s's and member %s's", raw, other, name)
		}
		names[name] = true
		urls[key] = name
		out = append(out, Member{Name: name, PeerURL: raw})
	}
	if len(out) == 0 {
		return nil, errors.New("no member")
	}
	return out, nil
}

func checkPeerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%q is not a peer URL such as http://10.0.0.5:2380", raw)
	}
	return nil
}

func canonicalURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(host), u.Port())
}

// validate reports the problems of the member's cluster flags.
func (m *EtcdMember) validate(external bool) []error {
	var errs []error
	set := m.Name != "" || len(m.ListenPeerURLs) > 0 || len(m.AdvertisePeerURLs) > 0 || len(m.ListenClientURLs) > 0 ||
		m.PeerCert != "" || m.PeerKey != "" || m.PeerTrustedCA != "" || m.PeerClientCertAuth
	if !m.Clustered() {
		if set {
			errs = append(errs, errors.New("--etcd-name, --etcd-*-peer-urls, --etcd-listen-client-urls and --etcd-peer-* need --etcd-initial-cluster"))
		}
		return errs
	}
	if external {
		return append(errs, errors.New("--etcd-initial-cluster configures the embedded member: it excludes --etcd-endpoints"))
	}
	members, err := ParseInitialCluster(m.InitialCluster)
	if err != nil {
		return append(errs, fmt.Errorf("--etcd-initial-cluster: %w", err))
	}
	var mine *Member
	for i := range members {
		if members[i].Name == m.Name {
			mine = &members[i]
		}
	}
	switch {
	case m.Name == "":
		errs = append(errs, errors.New("--etcd-initial-cluster needs --etcd-name, this member's name in it"))
	case mine == nil:
		errs = append(errs, fmt.Errorf("--etcd-initial-cluster does not list this member (--etcd-name %s)", m.Name))
	}
	switch m.InitialClusterState {
	case "new":
		if len(members)%2 == 0 {
			errs = append(errs, fmt.Errorf("--etcd-initial-cluster lists %d members: a quorum of %d needs every one of them but one fewer members tolerate as many losses; list an odd number (3 or 5), or one to grow from", len(members), len(members)/2+1))
		}
	case "existing":
		if len(members) < 2 {
			errs = append(errs, errors.New("--etcd-initial-cluster-state existing joins a running cluster: list its members and this one, as `etcdctl member add` prints them"))
		}
	default:
		errs = append(errs, fmt.Errorf("--etcd-initial-cluster-state %q: must be new or existing", m.InitialClusterState))
	}
	if m.InitialClusterToken == "" {
		errs = append(errs, errors.New("--etcd-initial-cluster-token must not be empty"))
	}
	tls := false
	for _, u := range append(append([]string{}, m.ListenPeerURLs...), m.AdvertisePeerURLs...) {
		if err := checkPeerURL(u); err != nil {
			errs = append(errs, fmt.Errorf("--etcd-listen-peer-urls/--etcd-advertise-peer-urls: %w", err))
		}
	}
	if mine != nil && len(m.AdvertisePeerURLs) > 0 {
		if len(m.AdvertisePeerURLs) != 1 || canonicalURL(m.AdvertisePeerURLs[0]) != canonicalURL(mine.PeerURL) {
			errs = append(errs, fmt.Errorf("conflicting peer URLs: --etcd-advertise-peer-urls %s, but --etcd-initial-cluster gives member %s %s", strings.Join(m.AdvertisePeerURLs, ","), m.Name, mine.PeerURL))
		}
	}
	for _, mb := range members {
		if strings.HasPrefix(mb.PeerURL, "https:") {
			tls = true
		}
	}
	for _, u := range m.ListenPeerURLs {
		if strings.HasPrefix(u, "https:") {
			tls = true
		}
	}
	if tls && (m.PeerCert == "" || m.PeerKey == "") {
		errs = append(errs, errors.New("https peer URLs need --etcd-peer-cert and --etcd-peer-key"))
	}
	if !tls && (m.PeerCert != "" || m.PeerKey != "" || m.PeerTrustedCA != "" || m.PeerClientCertAuth) {
		errs = append(errs, errors.New("--etcd-peer-* TLS flags need https peer URLs"))
	}
	if (m.PeerCert == "") != (m.PeerKey == "") {
		errs = append(errs, errors.New("--etcd-peer-cert and --etcd-peer-key go together"))
	}
	if m.PeerClientCertAuth && m.PeerTrustedCA == "" {
		errs = append(errs, errors.New("--etcd-peer-client-cert-auth needs --etcd-peer-trusted-ca"))
	}
	for _, raw := range m.ListenClientURLs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || u.Port() == "" || !IsLoopback(u.Hostname()) {
			errs = append(errs, fmt.Errorf("--etcd-listen-client-urls %q: must be a loopback http URL such as http://127.0.0.1:2379 (etcd's data API stays on this host)", raw))
		}
	}
	return errs
}
