package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

func invalid(format string, args ...any) error { return apierror.InvalidParameter(format, args...) }

func clusterNotFound(name string) error {
	return apierror.New(apierror.CodeClusterNotFound, "Cluster not found: %s", name)
}

func serviceNotFound(name string) error {
	return apierror.New(apierror.CodeServiceNotFound, "Service not found: %s", name)
}

func (h *Handler) taskDefsPage(r *http.Request, s *session) (*view, error) {
	var fams []string
	token := ""
	for {
		out, err := call[ecsapi.ListTaskDefinitionFamiliesResponse](h, r, s, "ecs", "ListTaskDefinitionFamilies",
			&ecsapi.ListTaskDefinitionFamiliesRequest{Status: "ACTIVE", NextToken: token, MaxResults: i32(100)})
		if err != nil {
			return nil, err
		}
		fams = append(fams, out.Families...)
		if token = out.NextToken; token == "" || len(fams) >= 1000 {
			break
		}
	}
	return &view{Title: "Task definitions", NoLive: true, Crumbs: []crumb{{"Clusters", Prefix}}, Data: fams}, nil
}

// revision is one revision of a family.
type revision struct {
	ARN      string
	Revision int
}

func (h *Handler) revisions(r *http.Request, s *session, family string) ([]revision, error) {
	var revs []revision
	token := ""
	for {
		out, err := call[ecsapi.ListTaskDefinitionsResponse](h, r, s, "ecs", "ListTaskDefinitions",
			&ecsapi.ListTaskDefinitionsRequest{FamilyPrefix: family, Sort: "DESC", NextToken: token, MaxResults: i32(100)})
		if err != nil {
			return nil, err
		}
		for _, a := range out.TaskDefinitionArns {
			fr := shortARN(a)
			i := strings.LastIndexByte(fr, ':')
			if i < 0 || fr[:i] != family {
				continue // another family sharing the prefix
			}
			n, _ := strconv.Atoi(fr[i+1:])
			revs = append(revs, revision{ARN: a, Revision: n})
		}
		if token = out.NextToken; token == "" || len(revs) >= 500 {
			break
		}
	}
	return revs, nil
}

func (h *Handler) familyPage(r *http.Request, s *session) (*view, error) {
	family := r.PathValue("family")
	revs, err := h.revisions(r, s, family)
	if err != nil {
		return nil, err
	}
	if len(revs) > 0 {
		// The newest revision is the family's page.
		return h.taskDefView(r, s, family, strconv.Itoa(revs[0].Revision), revs)
	}
	return nil, invalid("The task definition family %s has no active revision.", family)
}

// taskDefData is the task definition page's.
type taskDefData struct {
	TaskDefinition ecsapi.TaskDefinition
	JSON           string
	Revisions      []revision
	// Against is the revision compared with (0: none) and Diff the
	// difference of its JSON to this one's.
	Against int
	Diff    []diffLine
	// Editor is the register request prefilled from this revision.
	Editor string
}

func (h *Handler) taskDefPage(r *http.Request, s *session) (*view, error) {
	family := r.PathValue("family")
	revs, err := h.revisions(r, s, family)
	if err != nil {
		return nil, err
	}
	return h.taskDefView(r, s, family, r.PathValue("revision"), revs)
}

func (h *Handler) describeTaskDef(r *http.Request, s *session, ref string) (*ecsapi.TaskDefinition, error) {
	out, err := call[ecsapi.DescribeTaskDefinitionResponse](h, r, s, "ecs", "DescribeTaskDefinition", &ecsapi.DescribeTaskDefinitionRequest{TaskDefinition: ref})
	if err != nil {
		return nil, err
	}
	if out.TaskDefinition == nil {
		return nil, invalid("The task definition %s was not found.", ref)
	}
	return out.TaskDefinition, nil
}

func (h *Handler) taskDefView(r *http.Request, s *session, family, rev string, revs []revision) (*view, error) {
	td, err := h.describeTaskDef(r, s, family+":"+rev)
	if err != nil {
		return nil, err
	}
	d := &taskDefData{TaskDefinition: *td, JSON: indentJSON(td), Revisions: revs}
	if a := r.URL.Query().Get("against"); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n <= 0 {
			return nil, invalid("The revision to compare with must be a positive number, not %q.", a)
		}
		other, err := h.describeTaskDef(r, s, family+":"+a)
		if err != nil {
			return nil, err
		}
		d.Against, d.Diff = n, diff(indentJSON(other), d.JSON)
	}
	d.Editor = editorJSON(td)
	return &view{Title: "Task definition " + family + ":" + rev, NoLive: true, Crumbs: []crumb{{"Clusters", Prefix}, {"Task definitions", Prefix + "taskdefs"}}, Data: d,
		Can: map[string]bool{
			"RegisterTaskDefinition":   h.can(r, s, "RegisterTaskDefinition", &ecsapi.RegisterTaskDefinitionRequest{Family: family}),
			"DeregisterTaskDefinition": td.Status == "ACTIVE" && h.can(r, s, "DeregisterTaskDefinition", &ecsapi.DeregisterTaskDefinitionRequest{TaskDefinition: td.TaskDefinitionArn}),
		}}, nil
}

func indentJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // html/template escapes for the page
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return strings.TrimRight(buf.String(), "\n")
}

// editorJSON is td as a RegisterTaskDefinition request: the members a
// registration takes, none of the ones ECS fills in.
func editorJSON(td *ecsapi.TaskDefinition) string {
	b, _ := json.Marshal(td)
	var in ecsapi.RegisterTaskDefinitionRequest
	_ = json.Unmarshal(b, &in)
	return indentJSON(&in)
}

// diffLine is one line of a difference: Op is ' ', '-' or '+'.
type diffLine struct {
	Op   string
	Text string
}

// diff is the line difference of a to b (longest common subsequence).
func diff(a, b string) []diffLine {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	n, m := len(x), len(y)
	if n*m > 4_000_000 {
		// Too large for the table: show both whole.
		var out []diffLine
		for _, l := range x {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range y {
			out = append(out, diffLine{"+", l})
		}
		return out
	}
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{" ", x[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return out
}

// taskLogs reads the last lines of each container of t that logs with
// awslogs, from the log stream the agent writes:
// prefix/container/task-id in the container's group.
func (h *Handler) taskLogs(r *http.Request, s *session, t *ecsapi.Task) []containerLog {
	td, err := h.describeTaskDef(r, s, t.TaskDefinitionArn)
	if err != nil {
		return []containerLog{{Err: errText(err)}}
	}
	id := shortARN(t.TaskArn)
	var out []containerLog
	for _, c := range td.ContainerDefinitions {
		lc := c.LogConfiguration
		if lc == nil || lc.LogDriver != "awslogs" || lc.Options["awslogs-group"] == "" {
			continue
		}
		cl := containerLog{Container: c.Name, Group: lc.Options["awslogs-group"]}
		// The stream as the agent names it (ECS's rule): prefix/name/id;
		// else awslogs-stream; else the container's runtime ID.
		switch {
		case lc.Options["awslogs-stream-prefix"] != "":
			cl.Stream = lc.Options["awslogs-stream-prefix"] + "/" + c.Name + "/" + id
		case lc.Options["awslogs-stream"] != "":
			cl.Stream = lc.Options["awslogs-stream"]
		default:
			for _, tc := range t.Containers {
				if tc.Name == c.Name {
					cl.Stream = tc.RuntimeId
				}
			}
		}
		if cl.Stream == "" {
			continue // not started yet
		}
		from := false
		ev, err := call[logsapi.GetLogEventsResponse](h, r, s, "logs", "GetLogEvents",
			&logsapi.GetLogEventsRequest{LogGroupName: cl.Group, LogStreamName: cl.Stream, Limit: i32(200), StartFromHead: &from})
		if err != nil {
			if ae, ok := apierror.As(err); !ok || ae.Code != "ResourceNotFoundException" {
				cl.Err = errText(err)
			}
		} else {
			for _, e := range ev.Events {
				l := logLine{Message: e.Message}
				if e.Timestamp != nil {
					l.Time = msTime(*e.Timestamp)
				}
				cl.Events = append(cl.Events, l)
			}
		}
		out = append(out, cl)
	}
	return out
}
