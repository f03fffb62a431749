// Package console is Gantry's web console: server-rendered pages at
// /console/ on the API's address that show and steer clusters, services,
// deployments, tasks, task definitions and container instances.
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
// Sessions live in the server's memory (a restart signs everyone out);
// the cookie is HttpOnly, SameSite=Strict, Secure under TLS, and expires.
// Assets (one stylesheet, one script) are embedded and served with
// long-lived cache headers under a content-hashed name; the Content
// Security Policy allows nothing from outside the console's origin and no
// inline script.
package console
