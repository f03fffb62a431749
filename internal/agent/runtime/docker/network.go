package docker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/gantry-dev/gantry/internal/agent/runtime"
)

// ensureNetwork returns the ID of the awsvpc bridge network, creating it if
// it does not exist. Agents sharing a Docker Engine share the network.
//
// Docker checks a new network's name for duplicates only as best effort:
// agents starting together on a fresh Engine can create two networks of
// the same name, and the name then no longer resolves ("ambiguous"). So
// the network is found by listing, every agent keeps the same one of
// several (the oldest; the smallest ID among equals) and removes the
// others (an empty duplicate goes; one in use stays and is left alone),
// and pause containers join it by ID.
func (r *Runtime) ensureNetwork(ctx context.Context) (string, error) {
	r.setupMu.Lock()
	defer r.setupMu.Unlock()
	name := r.cfg.AWSVPCNetwork
	for attempt := 0; ; attempt++ {
		list, err := r.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
		if err != nil {
			return "", wrap(runtime.ResourceInitializationError, err)
		}
		var same []network.Summary
		for _, n := range list {
			if n.Name == name {
				same = append(same, n)
			}
		}
		if len(same) > 0 {
			slices.SortFunc(same, func(a, b network.Summary) int {
				if c := a.Created.Compare(b.Created); c != 0 {
					return c
				}
				return strings.Compare(a.ID, b.ID)
			})
			keep := same[0]
			for _, n := range same[1:] {
				if err := r.cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
					r.log.Warn("a second awsvpc network of the same name stays", "network", name, "id", n.ID, "kept", keep.ID, "err", err)
				} else {
					r.log.Info("removed a second awsvpc network of the same name", "network", name, "id", n.ID, "kept", keep.ID)
				}
			}
			if keep.Driver != "bridge" {
				return "", errorf(runtime.ResourceInitializationError, "network %s has driver %s, not bridge", name, keep.Driver)
			}
			return keep.ID, nil
		}
		if attempt > 1 {
			return "", errorf(runtime.ResourceInitializationError, "network %s: created, then not found", name)
		}
		opts := network.CreateOptions{Driver: "bridge", Labels: map[string]string{LabelManaged: "true"}}
		if r.cfg.AWSVPCSubnet != "" {
			opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: r.cfg.AWSVPCSubnet}}}
		}
		resp, err := r.cli.NetworkCreate(ctx, name, opts)
		if err == nil {
			r.log.Info("created awsvpc network", "network", name, "id", resp.ID)
		} else if !cerrdefs.IsConflict(err) {
			return "", wrap(runtime.ResourceInitializationError, fmt.Errorf("create network %s: %w", name, err))
		}
		// Created, by this agent or another meanwhile: list again, which
		// also finds a duplicate another agent made at the same time.
	}
}

// preparePause returns the running pause container of an awsvpc task and
// its network interface, creating and starting the container if needed.
func (r *Runtime) preparePause(ctx context.Context, task *runtime.Task) (string, *runtime.NetworkInterface, error) {
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", LabelInstance+"="+r.cfg.InstanceID),
		filters.Arg("label", LabelTaskARN+"="+task.Arn),
		filters.Arg("label", LabelContainerName+"="+runtime.PauseContainerName),
	)})
	if err != nil {
		return "", nil, wrap(runtime.ResourceInitializationError, err)
	}
	var (
		id string
		c  container.InspectResponse
	)
	if len(list) == 0 && r.cfg.WarmPause > 0 && warmEligible(task) {
		// A warm pause container the task claimed before (an agent
		// restart, or PrepareTask again)?
		c, err = r.cli.ContainerInspect(ctx, claimedPauseName(task.Arn))
		switch {
		case err == nil:
			id = c.ID
		case !cerrdefs.IsNotFound(err):
			return "", nil, wrap(runtime.ResourceInitializationError, err)
		}
	}
	switch {
	case len(list) > 0:
		id = list[0].ID
		if list[0].State != container.StateRunning {
			if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
				return "", nil, wrap(runtime.ResourceInitializationError, fmt.Errorf("start pause container: %w", err))
			}
		}
	case id != "":
		if c.State == nil || !c.State.Running {
			if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
				return "", nil, wrap(runtime.ResourceInitializationError, fmt.Errorf("start pause container: %w", err))
			}
		}
	default:
		if id = r.claimWarmPause(ctx, task); id == "" {
			if id, err = r.createPause(ctx, task); err != nil {
				return "", nil, err
			}
		}
	}
	c, err = r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return "", nil, wrap(runtime.ResourceInitializationError, err)
	}
	eni, err := r.networkInterface(task, c)
	if err != nil {
		return "", nil, runtime.NewError(runtime.ResourceInitializationError, false, err)
	}
	return id, eni, nil
}

// createPause creates and starts the pause container of an awsvpc task on
// the awsvpc network. A pause container that fails to start is removed.
func (r *Runtime) createPause(ctx context.Context, task *runtime.Task) (string, error) {
	netID, err := r.ensureNetwork(ctx)
	if err != nil {
		return "", err
	}
	if err := r.ensurePauseImage(ctx); err != nil {
		return "", err
	}
	cfg, hc, netcfg := r.pauseConfig(netID, r.taskLabels(task, runtime.PauseContainerName))
	hc.Sysctls = pauseSysctls(task.Definition)
	if task.Definition.IpcMode == "task" {
		hc.IpcMode = "shareable"
	}
	resp, err := r.cli.ContainerCreate(ctx, cfg, hc, netcfg, nil, runtimeName(task, "internalecspause"))
	if err != nil {
		return "", wrap(runtime.ResourceInitializationError, fmt.Errorf("create pause container: %w", err))
	}
	if err := r.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		_ = r.cli.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true})
		return "", wrap(runtime.ResourceInitializationError, fmt.Errorf("start pause container: %w", err))
	}
	return resp.ID, nil
}

// networkInterface describes the pause container's endpoint on the awsvpc
// network as the task's network interface.
func (r *Runtime) networkInterface(task *runtime.Task, c container.InspectResponse) (*runtime.NetworkInterface, error) {
	var ep *network.EndpointSettings
	if c.NetworkSettings != nil {
		ep = c.NetworkSettings.Networks[r.cfg.AWSVPCNetwork]
	}
	if ep == nil || ep.IPAddress == "" {
		return nil, fmt.Errorf("pause container %s has no address on network %s", c.ID, r.cfg.AWSVPCNetwork)
	}
	addr, err := netip.ParseAddr(ep.IPAddress)
	if err != nil {
		return nil, fmt.Errorf("pause container %s address: %w", c.ID, err)
	}
	subnet := ""
	if p, err := addr.Prefix(ep.IPPrefixLen); err == nil {
		subnet = p.String()
	}
	return &runtime.NetworkInterface{
		AttachmentID:   attachmentID(task.Arn),
		ID:             "eni-" + shortHex(c.ID),
		SubnetID:       "subnet-" + shortHex(ep.NetworkID),
		NetworkName:    r.cfg.AWSVPCNetwork,
		IPv4Address:    ep.IPAddress,
		SubnetCIDR:     subnet,
		Gateway:        ep.Gateway,
		MACAddress:     ep.MacAddress,
		PrivateDNSName: "ip-" + strings.ReplaceAll(ep.IPAddress, ".", "-"),
	}, nil
}

// shortHex returns the first 17 hex digits of a Docker ID, the length of
// EC2's resource IDs.
func shortHex(id string) string {
	if len(id) > 17 {
		return id[:17]
	}
	return id
}

// attachmentID derives a stable UUID-formatted attachment ID from the task
// ARN (RFC 9562 version 8: custom, here SHA-256 based).
func attachmentID(taskArn string) string {
	h := sha256.Sum256([]byte("gantry-eni-attachment:" + taskArn))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// BridgeGateway returns the host's address on Docker's default bridge
// network (docker0's, 172.17.0.1 on most hosts): every container on a
// bridge network reaches it through its gateway, and host-mode containers
// own it, so the agent serves the task metadata endpoint there. It reads
// the gateway from the network's IPAM configuration, else from the bridge
// interface, which works only when the Engine runs on this host.
func (r *Runtime) BridgeGateway(ctx context.Context) (netip.Addr, error) {
	n, err := r.cli.NetworkInspect(ctx, "bridge", network.InspectOptions{})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("inspect the bridge network: %w", err)
	}
	for _, c := range n.IPAM.Config {
		if a, err := netip.ParseAddr(c.Gateway); err == nil && a.Is4() {
			return a, nil
		}
	}
	name := n.Options["com.docker.network.bridge.name"]
	if name == "" {
		name = "docker0"
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("the bridge network has no gateway in its configuration, and its interface %s: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address", name)
}
