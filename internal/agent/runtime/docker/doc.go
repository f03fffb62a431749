// Package docker implements runtime.Runtime on the Docker Engine, through
// the Engine's Go SDK with API version negotiation (Engine 20.10 / API 1.41
// and later).
//
// # Mapping
//
// A container definition becomes a Docker create request the way the ECS
// agent builds one on Linux (mapContainer, mapping.go): cpu -> CPU shares
// (at least 2), memory -> hard limit (at least 4 MiB), memoryReservation ->
// soft limit, healthCheck -> Healthcheck with ECS's defaults (30 s, 5 s, 3
// retries), stopTimeout -> StopTimeout, portMappings -> exposed and
// published ports (hostPort 0 or absent: Docker picks a free port, which
// InspectContainer reports), mountPoints -> binds of host paths or named
// volumes, and so on for every member taskdefcheck.TaskDefinition accepts. The container is
// named ecs-<family>-<revision>-<container>-<20 hex digits> and labelled
// with the ECS agent's labels (com.amazonaws.ecs.task-arn, ...) plus
// dev.gantry.instance, the agent that owns it.
//
// # Network modes
//
//	bridge  the default docker0 bridge; links work; ports are published
//	host    the host's namespace; ports are bound by the process itself
//	none    a namespace with loopback only
//	awsvpc  a namespace per task, held by a pause container on the
//	        Gantry-created bridge network "gantry-awsvpc"; the task's
//	        containers join it (NetworkMode container:<pause>), and its
//	        address, reachable from the host, is the task's ENI
//	        (runtime.NetworkInterface)
//
// The pause image is built by the runtime itself, without registry or
// toolchain, from a hand-assembled static executable (pause.go).
//
// # Ownership
//
// Several agents may share one Docker Engine: everything per task carries
// the agent's instance label, and List, Events and CleanupTask only see that
// agent's objects. The awsvpc network and the pause image are shared.
package docker
