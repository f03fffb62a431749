// Package tmds is the agent's task metadata endpoint, as the ECS agent
// serves it: version 4 (ECS_CONTAINER_METADATA_URI_V4), version 3
// (ECS_CONTAINER_METADATA_URI) and the agent API's task protection
// (ECS_AGENT_URI), with the ECS agent's paths, JSON member names and error
// answers:
//
//	GET ${ECS_CONTAINER_METADATA_URI_V4}               the container's metadata
//	GET ${ECS_CONTAINER_METADATA_URI_V4}/task          the task's, with every container
//	GET ${ECS_CONTAINER_METADATA_URI_V4}/taskWithTags  the same with the task's tags
//	GET ${ECS_CONTAINER_METADATA_URI_V4}/stats         the container's Docker stats
//	GET ${ECS_CONTAINER_METADATA_URI_V4}/task/stats    every container's, by Docker ID
//	GET|PUT ${ECS_AGENT_URI}/task-protection/v1/state  GetTaskProtection / UpdateTaskProtection
//
// Each container's URIs carry an endpoint ID derived with HMAC-SHA256 from
// a secret kept in the agent's data dir, its task's ARN and its name
// (Endpoints), so the IDs survive an agent restart without being stored
// and cannot be guessed by another task. The server also checks where a
// request comes from: a bridge or awsvpc task's request must come from one
// of that task's own addresses, a host-mode task's from the host itself.
// A request that fails either check is answered as an unknown ID.
//
// Reachability: the ECS agent listens on 169.254.170.2:80 through an
// iptables DNAT rule. Gantry's agent instead listens on the host's address
// on Docker's default bridge (docker0's gateway, 172.17.0.1 on most hosts)
// at a port it keeps in its data dir: bridge and awsvpc containers reach it
// through their network's gateway (the host routes to its own address),
// host-mode containers own the address, and no firewall rule or fixed port
// is needed, so several agents can share a host. Containers of tasks with
// network mode none have no network and cannot reach it, as on ECS.
package tmds
