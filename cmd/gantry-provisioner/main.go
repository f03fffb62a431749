// Command gantry-provisioner is Gantry's Docker provisioner for managed
// scaling: it serves the HTTP hook that `gantry server --provisioner
// http://ADDRESS/` posts scaling actions to, and carries them out by
// starting and removing agents as containers on the Docker Engine
// (internal/dockerprov).
//
//	gantry-provisioner --listen 127.0.0.1:8850 --server http://127.0.0.1:8845 --image gantry-agent:local
//
// With --build-from DIR it first builds the agent image from the Gantry
// module at DIR. The agents' credentials come from GANTRY_ACCESS_KEY_ID
// and GANTRY_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/gantry-dev/gantry/internal/dockerprov"
)

func main() {
	if err := run(); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "gantry-provisioner:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("gantry-provisioner", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8850", "address of the HTTP hook (give the server --provisioner http://ADDRESS/)")
	server := fs.String("server", "http://127.0.0.1:8845", "the agents' --server")
	region := fs.String("region", "us-east-1", "the agents' --region")
	image := fs.String("image", "gantry-agent:local", "image of the agent containers (ENTRYPOINT gantry-agent)")
	buildFrom := fs.String("build-from", "", "build --image first from the Gantry module in this directory")
	name := fs.String("name", "gantry", "name of this provisioner, labelled on its containers")
	cpu := fs.Int("cpu", 0, "each agent's --cpu (the host's when 0)")
	memory := fs.Int("memory", 0, "each agent's --memory in MiB (the host's when 0)")
	agentArgs := fs.String("agent-args", "", "more agent flags, space-separated")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	if *buildFrom != "" {
		logger.Info("building the agent image", "image", *image)
		if err := dockerprov.BuildAgentImage(ctx, docker, *buildFrom, *image); err != nil {
			return err
		}
	}
	p := dockerprov.New(dockerprov.Config{Name: *name, Image: *image, Server: *server, Region: *region,
		AccessKeyID: os.Getenv("GANTRY_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("GANTRY_SECRET_ACCESS_KEY"),
		CPU: *cpu, MemoryMiB: *memory, Args: strings.Fields(*agentArgs)}, docker, logger)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	logger.Info("gantry-provisioner listening", "url", "http://"+ln.Addr().String()+"/")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
