package cloudwatch

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// ListMetricsPageSize is how many metrics one ListMetrics page holds.
const ListMetricsPageSize = 500

// ListMetrics lists the metrics with data put in the last 15 days,
// filtered by namespace, name and dimensions.
func (a *API) ListMetrics(ctx context.Context, in *cloudwatchapi.ListMetricsInput) (*cloudwatchapi.ListMetricsOutput, error) {
	if in.Namespace != "" {
		if err := checkNamespace("Namespace", in.Namespace); err != nil {
			return nil, err
		}
	}
	if in.MetricName != "" {
		if err := checkName("MetricName", in.MetricName); err != nil {
			return nil, err
		}
	}
	if len(in.Dimensions) > 10 {
		return nil, invalidValue("The collection Dimensions must not have a size greater than 10.")
	}
	for i, f := range in.Dimensions {
		if f.Name == "" {
			return nil, missing("The parameter Dimensions.member.%d.Name is required.", i+1)
		}
		if len(f.Name) > MaxNameLength || len(f.Value) > MaxValueLength {
			return nil, invalidValue("The value %s for parameter Dimensions.member.%d is invalid.", f.Name, i+1)
		}
	}
	var since time.Time
	switch in.RecentlyActive {
	case "":
	case "PT3H":
		since = a.now().Add(-3 * time.Hour)
	default:
		return nil, invalidValue("The value %s for parameter RecentlyActive is invalid.", in.RecentlyActive)
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, badToken()
		}
		after = string(b)
	}
	q := listQuery{Namespace: in.Namespace, After: after, Limit: ListMetricsPageSize + 1, MetricName: in.MetricName,
		Dimensions: in.Dimensions, Listed: a.now().Add(-metricstore.DefaultRetention).UnixMilli()}
	if !since.IsZero() {
		q.Since = since.UnixMilli()
	}
	// Every live server's series (fanout.go): the page and its token are
	// over their union in key order.
	list := a.list(ctx, q)
	out := &cloudwatchapi.ListMetricsOutput{Metrics: []cloudwatchapi.Metric{}}
	if len(list) > ListMetricsPageSize {
		list = list[:ListMetricsPageSize]
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(list[len(list)-1].Key))
	}
	for _, si := range list {
		m := cloudwatchapi.Metric{Namespace: si.Series.Namespace, MetricName: si.Series.Name, Dimensions: []cloudwatchapi.Dimension{}}
		for _, d := range si.Series.Dimensions {
			m.Dimensions = append(m.Dimensions, cloudwatchapi.Dimension{Name: d.Name, Value: d.Value})
		}
		out.Metrics = append(out.Metrics, m)
	}
	return out, nil
}
