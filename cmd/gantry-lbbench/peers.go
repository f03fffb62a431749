package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// peer is a running HAProxy or nginx.
type peer struct {
	cmd  *exec.Cmd
	port int
}

// freePort finds a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitPort waits until a port accepts connections.
func waitPort(port int) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("port %d never accepted", port)
}

// startHAProxy runs HAProxy in the foreground with two threads (the
// machine's cores, as Gantry's GOMAXPROCS), round robin over the targets,
// keep-alive on both sides. With albHeaders it adds to each request the
// headers an application load balancer adds (and Gantry does):
// X-Forwarded-For, -Proto and -Port, and a unique X-Amzn-Trace-Id.
func startHAProxy(ctx context.Context, dir string, targets []string, albHeaders bool) (*peer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var servers strings.Builder
	for i, t := range targets {
		fmt.Fprintf(&servers, "    server t%d %s\n", i, t)
	}
	cfg := fmt.Sprintf(`global
    nbthread 2
    maxconn 4000
defaults
    mode http
    timeout connect 10s
    timeout client 60s
    timeout server 60s
    option http-keep-alive
    http-reuse always
frontend bench
    bind 127.0.0.1:%d
%s    default_backend targets
backend targets
    balance roundrobin
%s`, port, haproxyHeaders(albHeaders), servers.String())
	path := tmpPath(dir, fmt.Sprintf("haproxy-%d.cfg", port))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "haproxy", "-db", "-f", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start haproxy: %w", err)
	}
	if err := waitPort(port); err != nil {
		stopChild(cmd)
		return nil, fmt.Errorf("haproxy: %w", err)
	}
	return &peer{cmd: cmd, port: port}, nil
}

// haproxyHeaders is the frontend's configuration for albHeaders.
func haproxyHeaders(albHeaders bool) string {
	if !albHeaders {
		return ""
	}
	return `    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %[dst_port]
    unique-id-format 1-%[date,hex]-%[rand,hex]%[rand,hex]%[rand,hex]
    http-request set-header X-Amzn-Trace-Id Root=%[unique-id]
`
}

// startNginx runs nginx in the foreground with two workers, round robin
// over the targets with a keep-alive pool to them; albHeaders as for
// startHAProxy.
func startNginx(ctx context.Context, dir string, targets []string, albHeaders bool) (*peer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var servers strings.Builder
	for _, t := range targets {
		fmt.Fprintf(&servers, "        server %s;\n", t)
	}
	dir = filepath.Join(dir, fmt.Sprintf("nginx-%d", port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	headers := ""
	if albHeaders {
		headers = `            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Amzn-Trace-Id "Root=1-$msec-$request_id";
`
	}
	cfg := fmt.Sprintf(`worker_processes 2;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 100000;
    upstream targets {
%[2]s        keepalive 256;
    }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://targets;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
%[4]s        }
    }
}
`, dir, servers.String(), port, headers)
	path := tmpPath(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "nginx", "-p", dir, "-c", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	if err := waitPort(port); err != nil {
		stopChild(cmd)
		return nil, fmt.Errorf("nginx: %w", err)
	}
	return &peer{cmd: cmd, port: port}, nil
}
