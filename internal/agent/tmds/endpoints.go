package tmds

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

// The environment variables the ECS agent gives every container.
const (
	// EnvMetadataURIV4 is the task metadata endpoint version 4's URI.
	EnvMetadataURIV4 = "ECS_CONTAINER_METADATA_URI_V4"
	// EnvMetadataURI is version 3's.
	EnvMetadataURI = "ECS_CONTAINER_METADATA_URI"
	// EnvAgentURI is the agent API's (task protection).
	EnvAgentURI = "ECS_AGENT_URI"
)

// Files in the agent's data dir.
const (
	secretFile = "task-metadata-secret"
	portFile   = "task-metadata-port"
)

// Endpoints names each container's endpoint: its ID and the URIs put in
// its environment. The zero value is not usable; see NewEndpoints.
type Endpoints struct {
	secret []byte
	base   string
}

// NewEndpoints returns the endpoints served at base ("http://HOST:PORT")
// with IDs keyed by secret.
func NewEndpoints(base string, secret []byte) *Endpoints {
	return &Endpoints{base: strings.TrimSuffix(base, "/"), secret: secret}
}

// Base is the URL the endpoint is served at.
func (e *Endpoints) Base() string { return e.base }

// ID returns the endpoint ID of container name of the task with ARN
// taskArn: HMAC-SHA256 of both under the secret, formatted as a UUID
// (RFC 9562 version 8), like the ECS agent's random v3 endpoint IDs.
func (e *Endpoints) ID(taskArn, name string) string {
	m := hmac.New(sha256.New, e.secret)
	m.Write([]byte(taskArn))
	m.Write([]byte{0})
	m.Write([]byte(name))
	h := m.Sum(nil)
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Env returns the variables the container's environment gets:
// ECS_CONTAINER_METADATA_URI_V4, ECS_CONTAINER_METADATA_URI and
// ECS_AGENT_URI.
func (e *Endpoints) Env(taskArn, name string) []ecsapi.KeyValuePair {
	id := e.ID(taskArn, name)
	return []ecsapi.KeyValuePair{
		{Name: EnvMetadataURIV4, Value: e.base + "/v4/" + id},
		{Name: EnvMetadataURI, Value: e.base + "/v3/" + id},
		{Name: EnvAgentURI, Value: e.base + "/api/" + id},
	}
}

// LoadSecret returns the endpoint ID secret kept in dataDir, creating it
// (32 random bytes, mode 0600) if there is none.
func LoadSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, secretFile)
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("task metadata secret: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := writeFile(path, b); err != nil {
		return nil, fmt.Errorf("task metadata secret: %w", err)
	}
	return b, nil
}

// Listen listens on host at the port kept in dataDir, so that the URIs in
// the environment of running containers stay valid across agent
// restarts. The first time (or when port is not 0 and differs) it listens
// on port (0: one the kernel chooses) and keeps the port it got.
func Listen(dataDir, host string, port int) (net.Listener, error) {
	path := filepath.Join(dataDir, portFile)
	if port == 0 {
		if b, err := os.ReadFile(path); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && p < 65536 {
				port = p
			}
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("task metadata endpoint: %w", err)
	}
	got := ln.Addr().(*net.TCPAddr).Port
	if err := writeFile(path, []byte(strconv.Itoa(got)+"\n")); err != nil {
		ln.Close()
		return nil, fmt.Errorf("task metadata endpoint: %w", err)
	}
	return ln, nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
