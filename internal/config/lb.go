package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"time"
)

// LB is the configuration of `gantry lb`: the Elastic Load Balancing v2
// data plane on a host of its own, reading the load balancers'
// configuration from the control plane's etcd by watch.
type LB struct {
	// EtcdEndpoints are the client URLs of the control plane's etcd
	// (required): an external cluster's, or an embedded member's
	// --etcd-listen-client-urls, or its unix socket on the same host.
	EtcdEndpoints []string
	// EtcdCACert, EtcdCert and EtcdKey are PEM files for https endpoints
	// (server verification, client certificate).
	EtcdCACert, EtcdCert, EtcdKey string
	// EtcdUsername and EtcdPassword authenticate to etcd (the password
	// from EnvEtcdPassword only).
	EtcdUsername, EtcdPassword string
	// EtcdInsecure allows an http:// endpoint that is not on loopback
	// (etcd's traffic then crosses the network in clear).
	EtcdInsecure bool
	// Region and AccountID are those of the control plane (its ARNs).
	Region, AccountID string
	// BindAddress, when set, is the IP every listener binds instead of
	// its load balancer's address (the servers' --lb-address, 127.0.0.1
	// unless set): the host's own address, or 0.0.0.0.
	BindAddress string
	// MetricsPeriod is how often the data plane sends its
	// AWS/ApplicationELB and AWS/NetworkELB metrics to a live server.
	MetricsPeriod time.Duration
	// Name names this data plane among those reporting target health
	// (default: the host name and a random suffix).
	Name string
	// Workers is how many data-plane processes `gantry lb` runs, each with
	// its share of the CPUs, as nginx's worker processes (1: this process
	// serves).
	Workers int
}

// DefaultLB returns `gantry lb`'s defaults.
func DefaultLB() LB {
	return LB{Region: "us-east-1", AccountID: "000000000000", MetricsPeriod: 2 * time.Second, Workers: 1}
}

// RegisterFlags defines `gantry lb`'s flags on fs, bound to c's fields,
// with c's values as their defaults.
func (c *LB) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*listFlag)(&c.EtcdEndpoints), "etcd-endpoints", "comma-separated client URLs of the control plane's etcd (required): https://HOST:2379, http://127.0.0.1:PORT (a server's --etcd-listen-client-urls) or unix://PATH")
	fs.StringVar(&c.EtcdCACert, "etcd-cacert", c.EtcdCACert, "PEM file of the CA that signed etcd's certificates (https endpoints)")
	fs.StringVar(&c.EtcdCert, "etcd-cert", c.EtcdCert, "PEM file of the client certificate to present to etcd")
	fs.StringVar(&c.EtcdKey, "etcd-key", c.EtcdKey, "PEM file of the key of --etcd-cert")
	fs.StringVar(&c.EtcdUsername, "etcd-username", c.EtcdUsername, "user of etcd's authentication; the password comes from GANTRY_ETCD_PASSWORD")
	fs.BoolVar(&c.EtcdInsecure, "etcd-insecure", c.EtcdInsecure, "allow an http:// etcd endpoint that is not on loopback (unencrypted, unauthenticated server)")
	fs.StringVar(&c.Region, "region", c.Region, "region of the control plane's ARNs (the servers' --region)")
	fs.StringVar(&c.AccountID, "account-id", c.AccountID, "account ID of the control plane's ARNs (the servers' --account-id)")
	fs.StringVar(&c.BindAddress, "bind-address", c.BindAddress, "IP address every listener binds on this host instead of its load balancer's address (the servers' --lb-address, 127.0.0.1 unless set); e.g. this host's address or 0.0.0.0")
	fs.DurationVar(&c.MetricsPeriod, "metrics-period", c.MetricsPeriod, "how often the AWS/ApplicationELB and AWS/NetworkELB metrics are sent to a live server (high-resolution; ELB publishes every 60s)")
	fs.StringVar(&c.Name, "name", c.Name, "name of this data plane among those reporting target health (default: the host name and a random suffix)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "data-plane processes to run, as nginx's workers: each a whole data plane with its share of the CPUs (GOMAXPROCS), all sharing the listeners (SO_REUSEPORT); one that exits is started again")
}

// LoadCredentials reads the etcd password from the environment.
func (c *LB) LoadCredentials(lookup LookupEnv) error {
	if pw, ok := lookup(EnvEtcdPassword); ok && c.EtcdPassword == "" {
		c.EtcdPassword = pw
	}
	return nil
}

// Validate reports every problem with c at once.
func (c *LB) Validate() error {
	var errs []error
	if len(c.EtcdEndpoints) == 0 {
		errs = append(errs, errors.New("--etcd-endpoints is required: the control plane's etcd"))
	}
	for _, e := range c.EtcdEndpoints {
		u, err := url.Parse(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("--etcd-endpoints %q: %v", e, err))
			continue
		}
		switch u.Scheme {
		case "https", "unix", "unixs":
		case "http":
			if !IsLoopback(u.Hostname()) && !c.EtcdInsecure {
				errs = append(errs, fmt.Errorf("--etcd-endpoints %q: http is unencrypted and the host is not loopback; use https (with --etcd-cacert), or --etcd-insecure", e))
			}
		default:
			errs = append(errs, fmt.Errorf("--etcd-endpoints %q: the scheme must be https, http or unix", e))
		}
	}
	if (c.EtcdCert == "") != (c.EtcdKey == "") {
		errs = append(errs, errors.New("--etcd-cert and --etcd-key go together"))
	}
	if c.EtcdUsername != "" && c.EtcdPassword == "" {
		errs = append(errs, fmt.Errorf("--etcd-username needs its password in %s", EnvEtcdPassword))
	}
	if !regionRE.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q is not a region name such as us-east-1", c.Region))
	}
	if !accountRE.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("--account-id %q must be 12 digits", c.AccountID))
	}
	if c.BindAddress != "" && net.ParseIP(c.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("--bind-address %q is not an IP address", c.BindAddress))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, fmt.Errorf("--workers %d must be between 1 and 64", c.Workers))
	}
	if c.MetricsPeriod < time.Second || c.MetricsPeriod > time.Minute {
		errs = append(errs, fmt.Errorf("--metrics-period %v must be between 1s and 1m", c.MetricsPeriod))
	}
	return errors.Join(errs...)
}
