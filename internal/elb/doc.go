// Package elb owns the Elastic Load Balancing v2 API of a Gantry server
// (query protocol, Version 2015-12-01): load balancers, target groups and
// their targets, listeners and rules, tags, with AWS's defaults,
// validation rules, limits and error codes. It is the control plane of
// Gantry's load balancers; the data plane (internal/lb) reads what it
// stores through lbconf.Source (API.Watch) and reports what its health
// checks find through lbconf.HealthSink (API.HealthSink).
//
// # Storage
//
// Every record lives in etcd under elbv2/ (one key per load balancer,
// target group, listener, rule and registered target). The records are few
// and small, so an operation reads all of them in one consistent Range and
// commits its writes in one transaction guarded by the mod revision of the
// elbv2/version key, which every write also bumps: ELBv2 writes are
// serialised, a concurrent change makes the loser retry against fresh
// state, and no update is lost. Health reports are kept apart, under
// elbv2-health/, one key per target and reporting data plane on that
// process's lease, so that a dead data plane's reports vanish with it and
// they never wake the configuration watch.
//
// # Self-hosted meaning of EC2 things
//
// There is no EC2 here. Gantry has one default VPC per account and region
// (VPCID), with one subnet per availability zone (SubnetID): the zones
// REGION+"a", "b" and "c", as an AWS default VPC has, and every zone the
// cluster's container instances report in their ecs.availability-zone
// attribute. Security group IDs are accepted when well-formed and kept as
// given; an application load balancer created without any gets the VPC's
// default group. Load balancers need subnets in two zones (application)
// or one (network), as AWS rules; when a request names none, Gantry picks
// every subnet of the default VPC, so `aws elbv2 create-load-balancer
// --name web` works without a preceding EC2 lookup.
//
// # Addresses
//
// A load balancer's DNSName is the address its listeners are reached at:
// API.Address (from the server's configuration; 127.0.0.1 by default, as in
// `gantry dev`), where the data plane binds every listener port. An
// instance target's Id is the container instance's ec2InstanceId (what
// ECS reports; the container instance ID when the agent sent no identity
// document); the data plane dials the instance's gantry.host-address
// attribute, else API.InstanceHost (127.0.0.1 by default).
package elb
