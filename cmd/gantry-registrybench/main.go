// Command gantry-registrybench measures push and pull throughput of a
// multi-layer image through Gantry's registry, beside the reference
// registry (Debian's docker-registry package, distribution 2.8) on the same
// disk, with `docker save` and `docker load` as the floor, in one run.
//
// Usage:
//
//	go build -o /tmp/gantry-registrybench ./cmd/gantry-registrybench
//	/tmp/gantry-registrybench [-mib 100] [-layers 4] [-rounds 1] [-dir /tmp]
//
// It builds an image FROM scratch of -layers layers of random bytes (-mib
// MiB in all) through the local Docker Engine, then, for each round:
// `docker save` to a file and `docker load` from it (the floor: the Engine
// moving the image with no registry); and for each registry (the order
// alternates between rounds) `docker push` of the image, then, with the
// image removed locally, `docker pull`. Each registry runs as a child
// process (Gantry: this binary's `serve` mode, a whole `gantry server`
// with its embedded etcd; the reference: /usr/bin/docker-registry), its
// storage in a fresh directory under -dir. For each step it reports the
// wall time, the throughput (image MiB / s) and the CPU seconds of the
// registry process and of dockerd (which compresses on push and
// decompresses on pull). The Markdown table it prints is what
// docs/performance.md records.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/app"
	"github.com/gantry-dev/gantry/internal/benchproc"
	"github.com/gantry-dev/gantry/internal/config"
	"github.com/gantry-dev/gantry/internal/ecrapi"
)

const (
	akid   = "AKIDREGISTRYBENCH000"
	secret = "registry-bench-secret"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) > 0 && args[0] == "serve" {
		if err := serve(args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fs := flag.NewFlagSet("gantry-registrybench", flag.ContinueOnError)
	mib := fs.Int("mib", 100, "image size in MiB")
	layers := fs.Int("layers", 4, "number of layers")
	rounds := fs.Int("rounds", 1, "rounds (the registries' order alternates)")
	dir := fs.String("dir", os.TempDir(), "directory of the registries' storage and the saved image (the same disk for all)")
	refBin := fs.String("reference", "/usr/bin/docker-registry", "the reference registry's binary (Debian's docker-registry)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := bench(*mib, *layers, *rounds, *dir, *refBin); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-registrybench:", err)
		return 1
	}
	return 0
}

// serve runs a Gantry server whose registry listens on a random loopback
// port and prints "REGISTRY host:port" when ready.
func serve(args []string) error {
	if len(args) != 1 {
		return errors.New("serve DATA_DIR")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg := config.DefaultServer()
	cfg.DataDir = args[0]
	cfg.Listen = "127.0.0.1:0"
	cfg.RegistryListen = "127.0.0.1:0"
	cfg.Credentials = []config.AccessKey{config.Credential(akid, secret, "bench", cfg.AccountID)}
	srv, err := app.StartServer(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := srv.ECR.CreateRepository(ctx, &ecrapi.CreateRepositoryRequest{RepositoryName: "bench/image"}); err != nil {
		return err
	}
	fmt.Printf("REGISTRY %s\n", strings.TrimPrefix(srv.RegistryURL, "http://"))
	<-ctx.Done()
	return nil
}

// registry is a running registry child process.
type registry struct {
	name string
	host string
	cmd  *exec.Cmd
	auth string
}

func (r *registry) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

func startGantry(dir string) (*registry, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "serve", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		n, _ := out.Read(b)
		line <- string(b[:n])
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		host, ok := strings.CutPrefix(strings.TrimSpace(l), "REGISTRY ")
		if !ok {
			_ = cmd.Process.Kill()
			return nil, fmt.Errorf("gantry serve said %q", l)
		}
		js, _ := json.Marshal(map[string]string{"username": akid, "password": secret, "serveraddress": host})
		return &registry{name: "Gantry registry", host: host, cmd: cmd, auth: base64.URLEncoding.EncodeToString(js)}, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, errors.New("gantry serve did not start")
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startReference(bin, dir string) (*registry, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config.yml")
	yml := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", conf)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (apt-get install docker-registry): %w", bin, err)
	}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return &registry{name: "reference (docker-registry 2.8)", host: addr, cmd: cmd}, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, errors.New("docker-registry did not start")
}

type result struct {
	what, target   string
	wall           time.Duration
	regCPU, engCPU float64
}

func buildImage(ctx context.Context, cli *client.Client, tag string, mib, layers int) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := "FROM scratch\n"
	per := mib << 20 / layers
	for i := range layers {
		data := make([]byte, per)
		if _, err := rand.Read(data); err != nil {
			return err
		}
		name := fmt.Sprintf("layer%d.bin", i)
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(per)}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
		df += fmt.Sprintf("COPY %s /%s\n", name, name)
	}
	df += "LABEL dev.gantry.bench=registry\n"
	_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	_, _ = tw.Write([]byte(df))
	_ = tw.Close()
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return streamError(resp.Body)
}

// streamError reads a Docker JSON message stream and returns its error.
func streamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

func bench(mib, layers, rounds int, dir, refBin string) error {
	ctx := context.Background()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	work, err := os.MkdirTemp(dir, "gantry-registrybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := "gantry-bench/registry:src"
	fmt.Fprintf(os.Stderr, "building a %d MiB image of %d layers...\n", mib, layers)
	if err := buildImage(ctx, cli, src, mib, layers); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer func() { _, _ = cli.ImageRemove(ctx, src, image.RemoveOptions{Force: true, PruneChildren: true}) }()
	eng := benchproc.PIDOf("dockerd")
	saved := filepath.Join(work, "image.tar")
	var results []result
	measure := func(what, target string, reg *registry, f func() error) error {
		var r0 float64
		if reg != nil {
			r0 = benchproc.CPUSeconds(reg.cmd.Process.Pid)
		}
		e0 := benchproc.CPUSeconds(eng)
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s %s: %w", what, target, err)
		}
		res := result{what: what, target: target, wall: time.Since(start), engCPU: benchproc.CPUSeconds(eng) - e0}
		if reg != nil {
			res.regCPU = benchproc.CPUSeconds(reg.cmd.Process.Pid) - r0
		}
		results = append(results, res)
		fmt.Fprintf(os.Stderr, "%-5s %-32s %6.2fs\n", what, target, res.wall.Seconds())
		return nil
	}
	removeAll := func(extra ...string) {
		for _, t := range append([]string{src}, extra...) {
			_, _ = cli.ImageRemove(ctx, t, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	}
	for round := range rounds {
		// The floor: the Engine writes and reads the image with no registry.
		if err := measure("push", "docker save (floor)", nil, func() error {
			rc, err := cli.ImageSave(ctx, []string{src})
			if err != nil {
				return err
			}
			defer rc.Close()
			f, err := os.Create(saved)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(f, rc)
			return err
		}); err != nil {
			return err
		}
		removeAll()
		if err := measure("pull", "docker load (floor)", nil, func() error {
			f, err := os.Open(saved)
			if err != nil {
				return err
			}
			defer f.Close()
			resp, err := cli.ImageLoad(ctx, f)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return streamError(resp.Body)
		}); err != nil {
			return err
		}
		// Fresh registries each round: a registry that has the layers
		// already makes a push a no-op.
		g, err := startGantry(filepath.Join(work, fmt.Sprint("gantry", round)))
		if err != nil {
			return err
		}
		defer g.stop()
		refDir := filepath.Join(work, fmt.Sprint("reference", round))
		_ = os.MkdirAll(refDir, 0o755)
		ref, err := startReference(refBin, refDir)
		if err != nil {
			return err
		}
		defer ref.stop()
		regs := []*registry{g, ref}
		if round%2 == 1 {
			regs = []*registry{ref, g}
		}
		for _, reg := range regs {
			tag := fmt.Sprintf("%s/bench/image:r%d", reg.host, round)
			if err := cli.ImageTag(ctx, src, tag); err != nil {
				return err
			}
			if err := measure("push", reg.name, reg, func() error {
				rc, err := cli.ImagePush(ctx, tag, image.PushOptions{RegistryAuth: reg.auth})
				if err != nil {
					return err
				}
				defer rc.Close()
				return streamError(rc)
			}); err != nil {
				return err
			}
			removeAll(tag)
			if err := measure("pull", reg.name, reg, func() error {
				rc, err := cli.ImagePull(ctx, tag, image.PullOptions{RegistryAuth: reg.auth})
				if err != nil {
					return err
				}
				defer rc.Close()
				return streamError(rc)
			}); err != nil {
				return err
			}
			if err := cli.ImageTag(ctx, tag, src); err != nil {
				return err
			}
			_, _ = cli.ImageRemove(ctx, tag, image.RemoveOptions{})
		}
	}
	fmt.Printf("%d MiB image, %d layers of random bytes, %d round(s); CPU seconds of the registry process and of dockerd during each step.\n\n", mib, layers, rounds)
	fmt.Println("| step | through | wall s | MiB/s | registry CPU s | dockerd CPU s |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range results {
		reg := "-"
		if r.regCPU > 0 || strings.Contains(r.target, "registry") {
			reg = fmt.Sprintf("%.2f", r.regCPU)
		}
		fmt.Printf("| %s | %s | %.2f | %.1f | %s | %.2f |\n", r.what, r.target, r.wall.Seconds(), float64(mib)/r.wall.Seconds(), reg, r.engCPU)
	}
	return nil
}
