package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/chromedp/chromedp"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// browser is a headless Chromium for one test.
type browser struct {
	t   *testing.T
	ctx context.Context
	// shots is where screenshots go (GANTRY_CONSOLE_SCREENSHOTS), or "".
	shots string
}

// newBrowser starts Debian's chromium headless; outside CI a machine
// without it skips the test, in CI it fails.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (scripts/ensure-deps installs it)")
		}
		t.Skip("chromium is not installed (scripts/ensure-deps installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, shots: os.Getenv("GANTRY_CONSOLE_SCREENSHOTS")}
}

// run runs actions, failing the test (with what step) when they fail or
// take longer than timeout.
func (b *browser) run(step string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("%s: %v\npage text:\n%s", step, err, body)
	}
}

// value evaluates expr in the page.
func value[T any](b *browser, step, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
	return v
}

// waitJS waits until expr is true in the page, across the navigations a
// submitted form causes (an evaluation that meets one is tried again).
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		var last error
		for {
			ok, err := chromedp.Evaluate[bool]("!!("+expr+")")(ctx, t)
			if err == nil && ok {
				return chromedp.Void{}, nil
			}
			last = err
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w (last error: %v)", expr, ctx.Err(), last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// shot saves a screenshot of the page as docs/console/name.png when
// GANTRY_CONSOLE_SCREENSHOTS names the directory.
func (b *browser) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".jpg"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestConsoleInBrowser drives the web console in a real headless Chromium
// against a real server and agent with real containers: sign in, create a
// service and watch its deployment reach steady state without a reload,
// stop a task and see its stop reason, read a task's log lines as they
// come, register a revision in the editor and see the difference, drain
// the instance, sign out. Markup in a tag, a log line, an event and a task
// definition renders as text and never runs; a change from another origin
// or without the CSRF token is refused; a read-only key's session shows
// no action.
func TestConsoleInBrowser(t *testing.T) {
	dir := t.TempDir()
	ro := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:List*","ecs:Describe*","logs:GetLogEvents"],"Resource":"*"}]}`
	if err := os.WriteFile(filepath.Join(dir, "ro.json"), []byte(ro), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte("AKIDCONSOLEREADER000 reader-secret reader ro.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterOptions{credentialsFile: filepath.Join(dir, "credentials")})
	b := newBrowser(t)
	ctx := context.Background()
	base := c.env.URL + "/console/"
	xss := `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`

	// A task definition whose container logs a numbered line every 300ms
	// and carries markup in an environment value.
	logged := func(name string) types.ContainerDefinition {
		return types.ContainerDefinition{Name: aws.String(name), Image: aws.String(c.image), Memory: aws.Int32(32), Essential: aws.Bool(true),
			Command:     []string{"count", "400", "300ms"},
			Environment: []types.KeyValuePair{{Name: aws.String("NOTE"), Value: aws.String(xss)}},
			LogConfiguration: &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
				"awslogs-group": "/gantry/console", "awslogs-region": apitest.Region, "awslogs-stream-prefix": "con", "awslogs-create-group": "true"}}}
	}
	c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: []types.ContainerDefinition{logged("app")}})

	// Sign in with the labelled fields.
	b.run("sign in", 30*time.Second,
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(`#akid`)),
	)
	b.shot("signin")
	b.run("sign in", 30*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#akid`), apitest.AccessKeyID),
		chromedp.SendKeys(chromedp.CSS(`#secret`), apitest.SecretAccessKey),
		chromedp.Click(chromedp.CSS(`#signin`)),
		waitJS(`document.body.innerText.includes("Signed in as")`),
		waitJS(`document.body.innerText.includes("e2e")`),
	)
	b.shot("clusters")

	// Create a service from the cluster page and watch its deployment
	// reach steady state, live.
	b.run("create a service", 90*time.Second,
		chromedp.Navigate(base+"clusters/e2e"),
		chromedp.WaitVisible(chromedp.CSS(`#cs-name`)),
		chromedp.SendKeys(chromedp.CSS(`#cs-name`), "web"),
		chromedp.SendKeys(chromedp.CSS(`#cs-td`), "web"),
		chromedp.SetValue(chromedp.CSS(`#cs-count`), "1"),
		chromedp.Click(chromedp.CSS(`#cs-submit`)),
		waitJS(`location.pathname.endsWith("/services/web")`),
		waitJS(`document.body.innerText.includes("Created the service web.")`),
		// The page is not reloaded: the live part moves by itself.
		chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`),
		waitJS(`(function(){var d=document.querySelector('.deployment[data-status="PRIMARY"]');return !!d && d.dataset.rollout==="COMPLETED" && d.querySelector(".counts").textContent.startsWith("1 running");})()`),
		waitJS(`window.__sameDocument === true`),
	)
	// (Tags and events cannot carry markup: AWS's pattern for tag values
	// refuses '<', and events are the server's own words; the unit tests
	// render such values all the same.)
	b.run("service page", 30*time.Second, chromedp.Navigate(base+"clusters/e2e/services/web"),
		waitJS(`document.body.innerText.includes("has reached a steady state")`))
	b.shot("service")

	// The service's task: its log lines arrive live; a log line with
	// markup renders as text.
	tasks, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("e2e"), ServiceName: aws.String("web")})
	if err != nil || len(tasks.TaskArns) != 1 {
		t.Fatalf("service tasks: %v %v", tasks, err)
	}
	taskID := tasks.TaskArns[0][strings.LastIndexByte(tasks.TaskArns[0], '/')+1:]
	logsClient := cloudwatchlogs.New(cloudwatchlogs.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL),
		Credentials: credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")})
	b.run("task logs", 60*time.Second, chromedp.Navigate(base+"clusters/e2e/tasks/"+taskID),
		waitJS(`document.querySelector("pre.log") && document.querySelector("pre.log").textContent.includes("line 000002")`),
	)
	before := value[string](b, "read the log", `document.querySelector("pre.log").textContent`)
	if _, err := logsClient.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/gantry/console"),
		LogStreamName: aws.String("con/app/" + taskID), LogEvents: []cwltypes.InputLogEvent{{Message: aws.String("evil " + xss), Timestamp: aws.Int64(time.Now().UnixMilli())}}}); err != nil {
		t.Fatal(err)
	}
	b.run("live log lines", 60*time.Second,
		waitJS(fmt.Sprintf(`(function(){var t=document.querySelector("pre.log").textContent;return t.length > %d && t.includes("line 000004");})()`, len(before))),
		waitJS(`document.querySelector("pre.log").textContent.includes("evil <script>window.__xss=1</script>")`),
	)
	b.shot("task")
	if value[bool](b, "no script ran", `window.__xss !== undefined`) {
		t.Fatal("markup from a log line ran as script")
	}

	// Stop the task and see its stop reason.
	b.run("stop the task", 60*time.Second,
		chromedp.SetValue(chromedp.CSS(`#st-reason`), "stopped by the browser test"),
		chromedp.Click(chromedp.CSS(`#st-submit`)),
		waitJS(`document.body.innerText.includes("Stopping the task")`),
		waitJS(`document.getElementById("stop-reason") && document.getElementById("stop-reason").textContent === "stopped by the browser test"`),
		waitJS(`document.getElementById("task-status").textContent === "STOPPED"`),
		waitJS(`document.getElementById("stop-code") && document.getElementById("stop-code").textContent.length > 0`),
	)

	// Register a revision in the editor: bad JSON is caught before it is
	// sent; a good one lands on the new revision with the difference.
	b.run("editor", 30*time.Second, chromedp.Navigate(base+"taskdefs/web/1"),
		chromedp.WaitVisible(chromedp.CSS(`#taskdef-json`)),
		waitJS(`!!document.querySelector("#taskdef").textContent.includes("<script>window.__xss=1</script>")`),
	)
	editor := value[string](b, "editor", `document.getElementById("taskdef-json").value`)
	b.run("bad JSON is refused", 30*time.Second,
		chromedp.SetValue(chromedp.CSS(`#taskdef-json`), `{"family": "web", `),
		chromedp.Click(chromedp.CSS(`#register`)),
		waitJS(`document.getElementById("taskdef-check").textContent.startsWith("The task definition is not valid JSON")`),
		waitJS(`location.pathname.endsWith("/taskdefs/web/1")`),
	)
	edited := strings.Replace(editor, `"memory": 32`, `"memory": 48`, 1)
	if edited == editor {
		t.Fatalf("the editor's JSON has no memory of 32:\n%s", editor)
	}
	b.run("register a revision", 30*time.Second,
		chromedp.SetValue(chromedp.CSS(`#taskdef-json`), edited),
		chromedp.Click(chromedp.CSS(`#register`)),
		waitJS(`location.pathname.endsWith("/taskdefs/web/2")`),
		waitJS(`(function(){var a=[...document.querySelectorAll("#diff .add")].map(e=>e.textContent), d=[...document.querySelectorAll("#diff .del")].map(e=>e.textContent);
			return a.some(t=>t.includes('"memory": 48')) && d.some(t=>t.includes('"memory": 32')) && a.some(t=>t.includes('"revision": 2'));})()`),
	)
	b.shot("taskdef")
	if value[bool](b, "no script ran", `window.__xss !== undefined`) {
		t.Fatal("markup from a task definition ran as script")
	}

	// A change without the CSRF token, and one from another origin, are
	// refused.
	b.run("service page", 30*time.Second, chromedp.Navigate(base+"clusters/e2e/services/web"), chromedp.WaitVisible(chromedp.CSS(`#dc-count`)))
	status := value[int](b, "no CSRF token", `fetch("/console/do/update-service", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"},
			body: "cluster=e2e&service=web&desiredCount=3&back=/console/", redirect: "manual"}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != http.StatusForbidden {
		t.Fatalf("a change without the CSRF token: status %d", status)
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%sdo/update-service"><input name="cluster" value="e2e"><input name="service" value="web">
<input name="desiredCount" value="4"><input name="back" value="/console/"><button id="go">go</button></form>`, base)
	}))
	defer evil.Close()
	b.run("another origin", 30*time.Second, chromedp.Navigate(evil.URL), chromedp.Click(chromedp.CSS(`#go`)),
		waitJS(`document.body.innerText.includes("Refused")`))
	refused := value[string](b, "refusal", `document.body.innerText`)
	if !strings.Contains(refused, "origin") {
		t.Fatalf("the cross-origin change: %s", refused)
	}
	svc, err := c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("e2e"), Services: []string{"web"}})
	if err != nil || svc.Services[0].DesiredCount != 1 {
		t.Fatalf("the refused changes changed the service: %+v %v", svc, err)
	}

	// Drain the instance.
	list, err := c.ecs.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("e2e")})
	if err != nil || len(list.ContainerInstanceArns) != 1 {
		t.Fatalf("instances: %v %v", list, err)
	}
	inst := list.ContainerInstanceArns[0][strings.LastIndexByte(list.ContainerInstanceArns[0], '/')+1:]
	b.run("instance page", 30*time.Second, chromedp.Navigate(base+"clusters/e2e/instances/"+inst), chromedp.WaitVisible(chromedp.CSS(`#drain`)))
	b.shot("instance")
	b.run("drain", 30*time.Second, chromedp.Click(chromedp.CSS(`#drain`)),
		waitJS(`document.getElementById("instance-status").textContent === "DRAINING"`), chromedp.WaitVisible(chromedp.CSS(`#activate`)))

	// Sign out: the session no longer works.
	b.run("sign out", 30*time.Second, chromedp.Click(chromedp.CSS(`#signout`)), waitJS(`location.pathname === "/console/signin"`),
		chromedp.Navigate(base+"clusters/e2e/services/web"), waitJS(`location.pathname === "/console/signin"`))

	// A read-only key sees the same pages with no action on them.
	b.run("read-only key", 60*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#akid`), "AKIDCONSOLEREADER000"),
		chromedp.SendKeys(chromedp.CSS(`#secret`), "reader-secret"),
		chromedp.Click(chromedp.CSS(`#signin`)),
		waitJS(`document.body.innerText.includes("Signed in as")`),
		chromedp.Navigate(base+"clusters/e2e/services/web"),
		waitJS(`document.body.innerText.includes("Deployments")`),
	)
	forms := value[int](b, "forms", `document.querySelectorAll('form[action*="/do/"]').length + document.querySelectorAll('main button').length`)
	if forms != 0 {
		t.Fatalf("the read-only key's service page has %d action forms and buttons", forms)
	}
}
