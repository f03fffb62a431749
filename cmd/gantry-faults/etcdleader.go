package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// etcdToolImage is a small stdlib program run in a server container's
// network namespace: the embedded member's client API listens on that
// container's loopback only (--etcd-listen-client-urls must be loopback),
// so the harness reaches it from a container sharing the namespace,
// through etcd's JSON gateway.
const etcdToolImage = "gantry-faults-etcdtool:local"

// etcdToolSource: "status" prints {"leader": ID, "members": {name: ID}};
// "move ID" asks the local member (the etcd leader) to hand its
// leadership to member ID (etcdctl move-leader; MoveLeader in clientv3).
const etcdToolSource = `package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const base = "http://127.0.0.1:2379/v3/"

func post(path string, in, out any) {
	b, _ := json.Marshal(in)
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Post(base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fmt.Fprintf(os.Stderr, "%s: %d %s\n", path, resp.StatusCode, body)
		os.Exit(1)
	}
	if err := json.Unmarshal(body, out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	switch os.Args[1] {
	case "status":
		var st struct{ Leader string }
		post("maintenance/status", map[string]any{}, &st)
		var ml struct {
			Members []struct{ ID, Name string }
		}
		post("cluster/member/list", map[string]any{}, &ml)
		m := map[string]string{}
		for _, x := range ml.Members {
			m[x.Name] = x.ID
		}
		b, _ := json.Marshal(map[string]any{"leader": st.Leader, "members": m})
		fmt.Println(string(b))
	case "move":
		var out map[string]any
		post("maintenance/transfer-leadership", map[string]string{"targetID": os.Args[2]}, &out)
		fmt.Println("moved")
	}
}
`

// etcdTool runs the tool with args in nd's network namespace and returns
// its standard output.
func (e *env) etcdTool(ctx context.Context, nd *node, args ...string) (string, error) {
	resp, err := e.docker.ContainerCreate(ctx, &container.Config{Image: etcdToolImage, Cmd: args, Labels: map[string]string{labelRun: e.run}},
		&container.HostConfig{NetworkMode: container.NetworkMode("container:" + nd.id)}, nil, nil, "")
	if err != nil {
		return "", err
	}
	defer func() {
		_ = e.docker.ContainerRemove(context.Background(), resp.ID, container.RemoveOptions{Force: true})
	}()
	if err := e.docker.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	okC, errC := e.docker.ContainerWait(wctx, resp.ID, container.WaitConditionNotRunning)
	var code int64
	select {
	case w := <-okC:
		code = w.StatusCode
	case err := <-errC:
		return "", err
	}
	rc, err := e.docker.ContainerLogs(ctx, resp.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var out, errb bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &errb, io.LimitReader(rc, 1<<20))
	if code != 0 {
		return "", fmt.Errorf("etcd tool %v in %s: exit %d: %s", args, nd.name, code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// etcdStatus returns the etcd leader's member name and every member's ID
// by name, as a live server's member sees them.
func (e *env) etcdStatus(ctx context.Context) (leader string, ids map[string]string, err error) {
	for _, nd := range e.servers {
		if nd.down {
			continue
		}
		out, err := e.etcdTool(ctx, nd, "status")
		if err != nil {
			return "", nil, err
		}
		var st struct {
			Leader  string
			Members map[string]string
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return "", nil, fmt.Errorf("etcd status %q: %w", out, err)
		}
		for name, id := range st.Members {
			if id == st.Leader {
				return name, st.Members, nil
			}
		}
		return "", st.Members, fmt.Errorf("etcd has no leader (%s)", out)
	}
	return "", nil, fmt.Errorf("no server is up")
}

// serverOfMember returns the server whose embedded member is named name
// ("s0"...).
func (e *env) serverOfMember(name string) *node {
	for i, nd := range e.servers {
		if fmt.Sprintf("s%d", i) == name {
			return nd
		}
	}
	return nil
}
