package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/ecsapi"
)

func msTime(ms int64) *ecsapi.Timestamp { return ecsapi.NewTimestamp(time.UnixMilli(ms)) }

// maxFormBytes bounds an action's form (a task definition's JSON is the
// largest: ECS allows 64 KiB).
const maxFormBytes = 256 << 10

// action runs one change from a form: Origin and CSRF checks, the
// operation as the session's key, then back to the page it came from with
// what happened (AWS's error, when it failed).
func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	s := h.session(r)
	if s == nil {
		if !sameOrigin(r) {
			http.Error(w, "Refused: the request does not come from the console's own origin.", http.StatusForbidden)
			return
		}
		http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "The form could not be read: "+err.Error(), http.StatusBadRequest)
		return
	}
	if !h.checkChange(w, r, s) {
		return
	}
	back := r.PostFormValue("back")
	if !strings.HasPrefix(back, Prefix) || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = Prefix
	}
	f := r.PostForm
	cluster := f.Get("cluster")
	var (
		op, done string
		in       any
		next     func(out any) string // where to go after success, when not back
	)
	switch r.PathValue("action") {
	case "create-service":
		n, err := count(f.Get("desiredCount"))
		if err != nil {
			h.fail(w, r, s, back, err)
			return
		}
		name := f.Get("serviceName")
		op, in = "CreateService", &ecsapi.CreateServiceRequest{Cluster: cluster, ServiceName: name, TaskDefinition: f.Get("taskDefinition"), DesiredCount: n}
		done = "Created the service " + name + "."
		next = func(any) string { return Prefix + "clusters/" + cluster + "/services/" + name }
	case "update-service":
		in := &ecsapi.UpdateServiceRequest{Cluster: cluster, Service: f.Get("service")}
		switch {
		case f.Has("desiredCount"):
			n, err := count(f.Get("desiredCount"))
			if err != nil {
				h.fail(w, r, s, back, err)
				return
			}
			in.DesiredCount = n
			done = fmt.Sprintf("Set the desired count of %s to %s.", in.Service, f.Get("desiredCount"))
		case f.Has("taskDefinition"):
			in.TaskDefinition = f.Get("taskDefinition")
			done = fmt.Sprintf("Started a deployment of %s to %s.", in.Service, in.TaskDefinition)
		case f.Get("forceNewDeployment") == "true":
			in.ForceNewDeployment = true
			done = "Started a new deployment of " + in.Service + "."
		default:
			h.fail(w, r, s, back, invalid("The form names no change to make."))
			return
		}
		op = "UpdateService"
		h.run(w, r, s, back, op, in, done, nil)
		return
	case "stop-deployment":
		stop := ecsapi.StopServiceDeploymentStopType(f.Get("stopType"))
		if stop == "" {
			stop = "ROLLBACK"
		}
		op, in = "StopServiceDeployment", &ecsapi.StopServiceDeploymentRequest{ServiceDeploymentArn: f.Get("serviceDeployment"), StopType: stop}
		done = "Stopping the deployment (" + strings.ToLower(string(stop)) + ")."
	case "delete-service":
		name := f.Get("service")
		if f.Get("confirm") != name {
			h.fail(w, r, s, back, invalid("To delete the service, type its name, %s, in the confirmation field.", name))
			return
		}
		force := true
		op, in = "DeleteService", &ecsapi.DeleteServiceRequest{Cluster: cluster, Service: name, Force: &force}
		done = "Deleted the service " + name + "; its tasks are stopping."
		next = func(any) string { return Prefix + "clusters/" + cluster }
	case "run-task":
		n, err := count(f.Get("count"))
		if err != nil {
			h.fail(w, r, s, back, err)
			return
		}
		if n == nil {
			n = i32(1)
		}
		op, in = "RunTask", &ecsapi.RunTaskRequest{Cluster: cluster, TaskDefinition: f.Get("taskDefinition"), Count: n, StartedBy: "console"}
		done = "Started " + strconv.Itoa(int(*n)) + " task(s) of " + f.Get("taskDefinition") + "."
	case "stop-task":
		op, in = "StopTask", &ecsapi.StopTaskRequest{Cluster: cluster, Task: f.Get("task"), Reason: f.Get("reason")}
		done = "Stopping the task " + shortARN(f.Get("task")) + "."
	case "instance-state":
		st := ecsapi.ContainerInstanceStatus(f.Get("status"))
		op, in = "UpdateContainerInstancesState", &ecsapi.UpdateContainerInstancesStateRequest{Cluster: cluster, ContainerInstances: []string{f.Get("instance")}, Status: st}
		done = "Set the container instance to " + string(st) + "."
	case "register-taskdef":
		var td ecsapi.RegisterTaskDefinitionRequest
		dec := json.NewDecoder(bytes.NewReader([]byte(f.Get("json"))))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&td); err != nil {
			h.fail(w, r, s, back, invalid("The task definition is not a valid RegisterTaskDefinition request: %v", err))
			return
		}
		op, in = "RegisterTaskDefinition", &td
		next = func(out any) string {
			o, _ := out.(*ecsapi.RegisterTaskDefinitionResponse)
			if o == nil || o.TaskDefinition == nil {
				return back
			}
			rev := o.TaskDefinition.Revision
			u := fmt.Sprintf("%staskdefs/%s/%d", Prefix, o.TaskDefinition.Family, rev)
			if rev > 1 {
				u += fmt.Sprintf("?against=%d", rev-1)
			}
			return u
		}
		done = "Registered a new revision of " + td.Family + "."
	case "deregister-taskdef":
		if f.Get("confirm") != f.Get("taskDefinition") {
			h.fail(w, r, s, back, invalid("To deregister the task definition, type its name, %s, in the confirmation field.", f.Get("taskDefinition")))
			return
		}
		op, in = "DeregisterTaskDefinition", &ecsapi.DeregisterTaskDefinitionRequest{TaskDefinition: f.Get("taskDefinition")}
		done = "Deregistered " + f.Get("taskDefinition") + "."
	default:
		http.NotFound(w, r)
		return
	}
	h.run(w, r, s, back, op, in, done, next)
}

// count parses an optional non-negative count from a form.
func count(v string) (*int32, error) {
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 0 {
		return nil, invalid("The count must be a whole number of 0 or more, not %q.", v)
	}
	return i32(int32(n)), nil
}

func (h *Handler) run(w http.ResponseWriter, r *http.Request, s *session, back, op string, in any, done string, next func(any) string) {
	out, err := h.backend.Invoke(r.Context(), r, s.key, "ecs", op, in)
	if err != nil {
		h.fail(w, r, s, back, err)
		return
	}
	h.logger.Info("console action", "access_key_id", s.key.AccessKeyID, "operation", op)
	s.addFlash(flash{Text: done})
	to := back
	if next != nil {
		to = next(out)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *session, back string, err error) {
	s.addFlash(flash{Error: true, Text: errText(err)})
	http.Redirect(w, r, back, http.StatusSeeOther)
}
