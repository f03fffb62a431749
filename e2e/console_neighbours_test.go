package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/chromedp/chromedp"

	"github.com/gantry-dev/gantry/internal/apitest"
)

// TestConsoleRollbackAndNeighbours drives the console in a real headless
// Chromium against a real server and agent: a service behind a load
// balancer of the server's data plane, with a circuit breaker and an
// autoscaling policy, shows its healthy target, its policy and its CPU
// and memory charts; updated from the browser to a revision whose
// container exits 4 seconds after it starts, its deployment bars show the
// new deployment and then the rollback to the first, without a reload.
// The load balancer, log explorer (a filter pattern, then a line that
// arrives live), metric chart, alarm and repository pages show what the
// SDK put there, and markup in a log line and an alarm's description
// renders as text and never runs.
func TestConsoleRollbackAndNeighbours(t *testing.T) {
	c := newCluster(t, clusterOptions{cleanupDelay: time.Second, minHealthy: 5 * time.Second, lbDataPlane: true})
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider(apitest.AccessKeyID, apitest.SecretAccessKey, "")
	base := c.env.URL + "/console/"
	xss := `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`

	lb := c.newLB("front", 1)
	good := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("cr"), ContainerDefinitions: []types.ContainerDefinition{webContainer("web", c.image)}})
	crashing := webContainer("web", c.image)
	crashing.Environment = []types.KeyValuePair{{Name: aws.String("EXIT_AFTER"), Value: aws.String("4s")}, {Name: aws.String("EXIT_CODE"), Value: aws.String("1")}}
	crash := c.register(&ecs.RegisterTaskDefinitionInput{Family: aws.String("cr"), ContainerDefinitions: []types.ContainerDefinition{crashing}})
	c.createService(&ecs.CreateServiceInput{ServiceName: aws.String("cr"), TaskDefinition: aws.String(good), DesiredCount: aws.Int32(1),
		LoadBalancers:           []types.LoadBalancer{{TargetGroupArn: aws.String(lb.tg), ContainerName: aws.String("web"), ContainerPort: aws.Int32(8080)}},
		DeploymentConfiguration: &types.DeploymentConfiguration{DeploymentCircuitBreaker: &types.DeploymentCircuitBreaker{Enable: true, Rollback: true}}})
	as := aas.New(aas.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), Credentials: creds})
	res, ns, dim := aws.String("service/"+c.name+"/cr"), aastypes.ServiceNamespaceEcs, aastypes.ScalableDimensionECSServiceDesiredCount
	if _, err := as.RegisterScalableTarget(ctx, &aas.RegisterScalableTargetInput{ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		MinCapacity: aws.Int32(1), MaxCapacity: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := as.PutScalingPolicy(ctx, &aas.PutScalingPolicyInput{PolicyName: aws.String("cpu-track"), ServiceNamespace: ns, ResourceId: res, ScalableDimension: dim,
		PolicyType: aastypes.PolicyTypeTargetTrackingScaling, TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{
			TargetValue: aws.Float64(60), PredefinedMetricSpecification: &aastypes.PredefinedMetricSpecification{PredefinedMetricType: aastypes.MetricTypeECSServiceAverageCPUUtilization}}}); err != nil {
		t.Fatal(err)
	}
	c.waitStable("cr", 60*time.Second)
	c.waitCompleted("cr", 30*time.Second)

	// What the other pages show: log lines, a metric, an alarm, a
	// repository.
	logs := cloudwatchlogs.New(cloudwatchlogs.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), Credentials: creds})
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/gantry/explorer")}); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/gantry/explorer"), LogStreamName: aws.String("app/1")}); err != nil {
		t.Fatal(err)
	}
	putLog := func(msgs ...string) {
		t.Helper()
		var evs []cwltypes.InputLogEvent
		for _, m := range msgs {
			evs = append(evs, cwltypes.InputLogEvent{Message: aws.String(m), Timestamp: aws.Int64(time.Now().UnixMilli())})
		}
		if _, err := logs.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String("/gantry/explorer"), LogStreamName: aws.String("app/1"), LogEvents: evs}); err != nil {
			t.Fatal(err)
		}
	}
	putLog("GET /health 200", "ERROR first failure "+xss, "GET / 200")
	cw := cloudwatch.New(cloudwatch.Options{Region: apitest.Region, BaseEndpoint: aws.String(c.env.URL), Credentials: creds})
	now := time.Now()
	var data []cwtypes.MetricDatum
	for i := range 10 {
		data = append(data, cwtypes.MetricDatum{MetricName: aws.String("Requests"), Dimensions: []cwtypes.Dimension{{Name: aws.String("Env"), Value: aws.String("prod")}},
			Timestamp: aws.Time(now.Add(-time.Duration(9-i) * time.Minute)), Value: aws.Float64(float64(10 + i*i))})
	}
	if _, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("Shop"), MetricData: data}); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: aws.String("requests-high"), AlarmDescription: aws.String("Too many " + xss),
		Namespace: aws.String("Shop"), MetricName: aws.String("Requests"), Dimensions: []cwtypes.Dimension{{Name: aws.String("Env"), Value: aws.String("prod")}},
		Statistic: cwtypes.StatisticAverage, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(50),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold}); err != nil {
		t.Fatal(err)
	}
	if _, err := ecrClient(c.env.URL).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/web")}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	b.run("sign in", 60*time.Second,
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS(`#akid`)),
		chromedp.SendKeys(chromedp.CSS(`#akid`), apitest.AccessKeyID),
		chromedp.SendKeys(chromedp.CSS(`#secret`), apitest.SecretAccessKey),
		chromedp.Click(chromedp.CSS(`#signin`)),
		waitJS(`document.body.innerText.includes("Signed in as")`),
	)
	// The service page: its target turns healthy, its policy and charts.
	b.run("service page with its neighbours", 60*time.Second,
		chromedp.Navigate(base+"clusters/e2e/services/cr"),
		waitJS(`[...document.querySelectorAll("td.health-healthy")].length === 1`),
		waitJS(`document.body.innerText.includes("cpu-track") && document.body.innerText.includes("between 1 and 1")`),
		waitJS(`document.querySelectorAll("figure.chart svg[role=img]").length === 1`),
	)
	b.shot("service-neighbours")

	// Deploy the crashing revision from the browser and watch the
	// deployment bars: the new deployment appears beside the first, then
	// the breaker rolls back to the first. The page is not reloaded: a
	// script notes every deployment the live part shows.
	crashRev := crash[strings.LastIndexByte(crash, '/')+1:]
	goodRev := good[strings.LastIndexByte(good, '/')+1:]
	b.run("deploy the crashing revision", 30*time.Second,
		chromedp.SetValue(chromedp.CSS(`#ur-td`), crashRev),
		chromedp.Click(chromedp.CSS(`#ur-submit`)),
		waitJS(`document.body.innerText.includes("Started a deployment of cr to `+crashRev+`.")`),
		chromedp.Evaluate[chromedp.Void](`window.__seen = []; window.__sameDocument = true;
			(function note(){ document.querySelectorAll(".deployment").forEach(function(d){ window.__seen.push(d.dataset.status + " " + d.querySelector("a").textContent + " " + d.dataset.rollout); });
			  new MutationObserver(function(){ document.querySelectorAll(".deployment").forEach(function(d){ window.__seen.push(d.dataset.status + " " + d.querySelector("a").textContent + " " + d.dataset.rollout); }); })
			    .observe(document.getElementById("live"), {childList: true, subtree: true}); })()`),
	)
	b.run("two deployments", 60*time.Second,
		waitJS(`window.__seen.some(function(s){return s.startsWith("PRIMARY `+crashRev+`")}) && document.querySelectorAll(".deployment").length >= 1`),
	)
	b.shot("service-rollout")
	b.run("the rollback", 120*time.Second,
		waitJS(`document.body.innerText.includes("rolling back to deployment")`),
		waitJS(`(function(){var ds=document.querySelectorAll(".deployment");return ds.length===1 && ds[0].dataset.status==="PRIMARY" && ds[0].querySelector("a").textContent==="`+goodRev+`" && ds[0].dataset.rollout==="COMPLETED";})()`),
		waitJS(`window.__sameDocument === true`),
	)
	b.shot("service-rollback")
	seen := value[[]string](b, "deployments seen", `window.__seen`)
	sawCrash, sawBoth := false, false
	for _, s := range seen {
		sawCrash = sawCrash || strings.HasPrefix(s, "PRIMARY "+crashRev)
		sawBoth = sawBoth || strings.HasPrefix(s, "ACTIVE "+goodRev)
	}
	if !sawCrash || !sawBoth {
		t.Fatalf("the deployment bars never showed the crashing deployment beside the first: %v", seen)
	}
	if s := c.svc("cr"); aws.ToString(s.TaskDefinition) != good {
		t.Fatalf("after the rollback the service runs %s", aws.ToString(s.TaskDefinition))
	}

	// Load balancers, listeners, rules and targets.
	b.run("load balancers", 30*time.Second, chromedp.Navigate(base+"loadbalancers"),
		waitJS(`document.body.innerText.includes("front") && document.body.innerText.includes("1 of 1")`))
	b.shot("loadbalancers")
	b.run("load balancer", 30*time.Second, chromedp.Navigate(base+"loadbalancers/front"),
		waitJS(`document.body.innerText.includes("forward to front") && document.querySelectorAll("td.health-healthy").length === 1`))
	b.shot("loadbalancer")

	// The log explorer: a filter pattern, then a matching line that
	// arrives live; markup in a line is text.
	b.run("log groups", 30*time.Second, chromedp.Navigate(base+"logs"), waitJS(`document.body.innerText.includes("/gantry/explorer")`))
	b.run("filter", 30*time.Second, chromedp.Navigate(base+"logs/group?name=%2Fgantry%2Fexplorer"),
		chromedp.WaitVisible(chromedp.CSS(`#lf-pattern`)),
		chromedp.SendKeys(chromedp.CSS(`#lf-pattern`), "ERROR"),
		chromedp.Click(chromedp.CSS(`#lf-submit`)),
		waitJS(`location.search.includes("pattern=ERROR")`),
		waitJS(`(function(){var t=document.getElementById("log-events").textContent;return t.includes("ERROR first failure <script>window.__xss=1</script>") && !t.includes("GET /health");})()`),
	)
	putLog("ERROR second failure", "GET /health 200")
	b.run("live tail", 30*time.Second, waitJS(`document.getElementById("log-events").textContent.includes("ERROR second failure")`))
	b.shot("logs")

	// A metric chosen in the picker, charted, with its alarm; the alarms
	// page.
	b.run("metrics", 30*time.Second, chromedp.Navigate(base+"metrics?namespace=Shop&metric=Requests"),
		waitJS(`document.querySelector("#m-dims") && document.querySelector("#m-dims").value === "Env=prod"`),
		chromedp.Click(chromedp.CSS(`#m-show`)),
		waitJS(`location.search.includes("dims=Env%3Dprod")`),
		waitJS(`document.querySelector("figure.chart polyline") && document.querySelector("figure.chart svg").getAttribute("aria-label").includes("10 points")`),
		waitJS(`document.body.innerText.includes("requests-high")`),
	)
	b.shot("metrics")
	b.run("alarms", 30*time.Second, chromedp.Navigate(base+"alarms"),
		waitJS(`document.querySelector("td.alarm-description") && document.querySelector("td.alarm-description").textContent === "Too many <script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">"`),
		waitJS(`document.querySelector("tr.alarm td[class^=state-]").textContent !== ""`),
	)
	b.shot("alarms")

	// Registry repositories and their images.
	b.run("repositories", 30*time.Second, chromedp.Navigate(base+"repositories"),
		waitJS(`document.body.innerText.includes("team/web")`))
	b.shot("repositories")
	b.run("repository", 30*time.Second, chromedp.Navigate(base+"repositories/team/web"),
		waitJS(`document.body.innerText.includes("No images.") && document.body.innerText.includes("team/web")`))
	if value[bool](b, "no script ran", `window.__xss !== undefined`) {
		t.Fatal("markup from a log line or an alarm ran as script")
	}
}
