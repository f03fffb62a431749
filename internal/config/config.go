// Package config holds the configuration of `gantry server` and `gantry
// agent`: defaults, environment variables and flags (in that order of
// precedence, flags last), and validation that reports every problem.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/sigv4"
)

// Development credentials, used by `gantry dev` and documented in the README.
// A server using them listens on loopback only.
const (
	DevAccessKeyID     = "AKIDGANTRYDEV0000000"
	DevSecretAccessKey = "gantry-dev-secret-access-key"
)

// Server is the configuration of the control plane.
type Server struct {
	// Listen is the HTTP address of the ECS API.
	Listen string
	// DataDir holds the embedded etcd member's data.
	DataDir string
	// Region and AccountID build ARNs and scope signatures.
	Region    string
	AccountID string
	// EtcdEndpoints, when set, replaces the embedded member by an external
	// etcd cluster.
	EtcdEndpoints []string
	// Credentials are the access keys the API accepts.
	Credentials []sigv4.Credential
	// CredentialsFile, when set, was read into Credentials.
	CredentialsFile string
	// LostInstanceGrace is how long a service's tasks stay on an instance
	// whose agent is disconnected before they are replaced elsewhere.
	LostInstanceGrace time.Duration
	// LeaderTTL is the service controller leader's etcd session TTL: how
	// soon another server takes over when the leader dies.
	LeaderTTL time.Duration
	// DebugListen, when set, serves Go's profiling endpoints
	// (/debug/pprof/) on that loopback address.
	DebugListen string
	// GCPercent is the Go garbage collector's target (GOGC) for the
	// process, unless the GOGC environment variable is set: above Go's
	// default of 100 it spends memory to save CPU.
	GCPercent int
	// Dev marks the fixed development credentials: loopback only.
	Dev bool
}

// DefaultGCPercent is the server's default garbage collector target. The
// control plane's allocations are short-lived request and watch garbage
// over a heap that holds its views; at Go's default of 100 the collector
// took about a sixth of the server's CPU while placing tasks at full
// speed, and 200 roughly halves that for about a quarter more memory
// (docs/performance.md).
const DefaultGCPercent = 200

// DefaultServer returns the defaults.
func DefaultServer() Server {
	return Server{
		Listen:            "127.0.0.1:8845",
		DataDir:           "gantry-data",
		Region:            "us-east-1",
		AccountID:         "000000000000",
		LostInstanceGrace: 20 * time.Second,
		LeaderTTL:         5 * time.Second,
		GCPercent:         DefaultGCPercent,
	}
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
var accountRE = regexp.MustCompile(`^\d{12}$`)

// Validate reports every problem with c at once.
func (c *Server) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %v", c.Listen, err))
	} else if c.Dev && !IsLoopback(host) {
		errs = append(errs, fmt.Errorf("--listen %q: the development credentials may only be used on a loopback address", c.Listen))
	}
	if c.GCPercent < 0 && c.GCPercent != -1 {
		errs = append(errs, fmt.Errorf("--gc-percent %d: must be at least 0, or -1 to turn the collector off", c.GCPercent))
	}
	if c.LostInstanceGrace <= 0 || c.LeaderTTL < time.Second {
		errs = append(errs, errors.New("--lost-instance-grace must be positive and --leader-ttl at least 1s"))
	}
	if c.DebugListen != "" {
		if h, _, err := net.SplitHostPort(c.DebugListen); err != nil || !IsLoopback(h) {
			errs = append(errs, fmt.Errorf("--debug-listen %q must be a loopback address", c.DebugListen))
		}
	}
	if !regionRE.MatchString(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q is not a region name such as us-east-1", c.Region))
	}
	if !accountRE.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("--account-id %q must be 12 digits", c.AccountID))
	}
	if len(c.EtcdEndpoints) == 0 && c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is required with the embedded etcd"))
	}
	if len(c.Credentials) == 0 {
		errs = append(errs, errors.New("no API credentials: set GANTRY_ACCESS_KEY_ID and GANTRY_SECRET_ACCESS_KEY, or --credentials-file"))
	}
	for _, cr := range c.Credentials {
		if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
			errs = append(errs, errors.New("a credential has an empty access key ID or secret"))
		}
	}
	return errors.Join(errs...)
}

// IsLoopback reports whether host (a name or an address) is a loopback one.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReadCredentialsFile reads access keys, one a line: ACCESS_KEY_ID
// SECRET_ACCESS_KEY [NAME]. Blank lines and lines starting with # are
// skipped. NAME becomes the principal arn:aws:iam::ACCOUNT:user/NAME.
func ReadCredentialsFile(path, account string) ([]sigv4.Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []sigv4.Credential
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || len(fields) > 3 {
			return nil, fmt.Errorf("%s:%d: want ACCESS_KEY_ID SECRET_ACCESS_KEY [NAME]", path, n)
		}
		name := "gantry"
		if len(fields) == 3 {
			name = fields[2]
		}
		out = append(out, Credential(fields[0], fields[1], name, account))
	}
	return out, sc.Err()
}

// Credential builds a credential whose principal is the IAM user name.
func Credential(akid, secret, name, account string) sigv4.Credential {
	return sigv4.Credential{AccessKeyID: akid, SecretAccessKey: secret,
		Principal: "arn:aws:iam::" + account + ":user/" + name}
}
