// Package console is Gantry's web console: server-rendered pages at
// /console/ on the API's address that show and steer clusters, services,
// deployments, tasks, task definitions and container instances, and show
// the neighbours: load balancers and target health (elasticloadbalancing),
// autoscaling (application-autoscaling), a log explorer with a live tail
// (logs), metric charts drawn as SVG on the server and alarms
// (monitoring), and registry repositories and images (ecr).
//
// Everything it shows or does is an operation of the API run in process
// (Backend.Invoke) with the signed-in key's identity, so the same
// validation and key policies (internal/authz) apply; an action a key's
// policy refuses is neither offered (Backend.Allowed) nor, when tried
// anyway, taken: AWS's error is shown.
//
//	browser ──GET page──▶ Handler ──Invoke(ecs, DescribeServices, key)──▶ apiserver ─▶ authz ─▶ ecs
//	        ◀─HTML (html/template, inline SVG bars)
//	        ──EventSource(same URL)──▶ the page's live part, re-rendered and sent when it changes
//	        ──POST form + csrf──▶ Origin check, CSRF check ─▶ Invoke ─▶ 303 back with the outcome
//
// Sessions live in a SessionStore under the SHA-256 of their ID: the
// server's store (etcd, with a lease per session) in a server, so a
// restart keeps them and sign-out revokes them on every server; memory
// by default. The CSRF token is derived from the ID, so neither is
// stored. The cookie is HttpOnly, SameSite=Strict, Secure under TLS, and
// expires.
// Assets (one stylesheet, one script) are embedded and served with
// long-lived cache headers under a content-hashed name; the Content
// Security Policy allows nothing from outside the console's origin and no
// inline script.
package console
