package cloudwatch

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// Limits of PutMetricData and of metrics, as CloudWatch documents them.
const (
	MaxDatumsPerPut  = 1000
	MaxDimensions    = 30
	MaxValues        = 150
	MaxNameLength    = 255
	MaxValueLength   = 1024
	pastLimit        = 14 * 24 * time.Hour
	futureLimit      = 2 * time.Hour
	reservedPrefixNS = "AWS/"
)

// reservedNamespaces are the namespaces AWS itself publishes that Record
// accepts; PutMetricData refuses every AWS/ namespace.
var reservedNamespaces = []string{"AWS/ECS", "AWS/ECS/ManagedScaling", "ECS/ContainerInsights", "AWS/ApplicationELB", "AWS/NetworkELB"}

// PutMetricData stores datapoints in a custom namespace.
func (a *API) PutMetricData(ctx context.Context, in *cloudwatchapi.PutMetricDataInput) (*struct{}, error) {
	if err := checkNamespace("Namespace", in.Namespace); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.Namespace, reservedPrefixNS) {
		return nil, invalidValue("The value %s for parameter Namespace is invalid.", in.Namespace)
	}
	if len(in.EntityMetricData) > 0 {
		return nil, invalidValue("EntityMetricData is not supported.")
	}
	if len(in.MetricData) == 0 {
		return nil, missing("The parameter MetricData is required.")
	}
	return nil, a.put(in.Namespace, in.MetricData)
}

// Record stores datapoints in a namespace AWS publishes (AWS/ECS,
// ECS/ContainerInsights, AWS/ApplicationELB, AWS/NetworkELB), checked as PutMetricData's.
func (a *API) Record(ctx context.Context, namespace string, data []cloudwatchapi.MetricDatum) error {
	if !slices.Contains(reservedNamespaces, namespace) {
		return invalidValue("The value %s for parameter Namespace is invalid.", namespace)
	}
	if len(data) == 0 {
		return nil
	}
	for len(data) > 0 {
		n := min(len(data), MaxDatumsPerPut)
		if err := a.put(namespace, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (a *API) put(namespace string, data []cloudwatchapi.MetricDatum) error {
	if len(data) > MaxDatumsPerPut {
		return invalidValue("The collection MetricData must not have a size greater than %d.", MaxDatumsPerPut)
	}
	now := a.now()
	out := make([]metricstore.Datum, len(data))
	// One backing array for the request's dimensions and single values:
	// the store copies what it keeps.
	nd := 0
	for i := range data {
		nd += min(len(data[i].Dimensions), MaxDimensions+1)
	}
	sc := putScratch{dims: make([]metricstore.Dimension, 0, nd), vals: make([]float64, len(data))}
	for i := range data {
		if err := convertDatum(namespace, &data[i], i+1, now, &out[i], &sc); err != nil {
			return err
		}
	}
	if err := a.Metrics.Append(out); err != nil {
		if errors.Is(err, metricstore.ErrFull) {
			return apierror.New(CodeInternalServiceFault, "The metric store is full (%v); writes are refused until space is freed, reads still work.", err)
		}
		return a.internal("PutMetricData", err)
	}
	a.arrival.notify(namespace, data)
	return nil
}

// putScratch holds the backing arrays of one request's converted data.
type putScratch struct {
	dims []metricstore.Dimension
	vals []float64
}

func convertDatum(namespace string, d *cloudwatchapi.MetricDatum, n int, now time.Time, out *metricstore.Datum, sc *putScratch) error {
	// The member's path, built only for an error.
	p := func() string { return "MetricData.member." + itoa(n) }
	if !nameOK(d.MetricName) {
		if err := checkName(p()+".MetricName", d.MetricName); err != nil {
			return err
		}
	}
	dims, err := appendDimensions(sc.dims[len(sc.dims):len(sc.dims):cap(sc.dims)], func() string { return p() + ".Dimensions" }, d.Dimensions)
	if err != nil {
		return err
	}
	if len(dims) > 0 && len(sc.dims)+len(dims) <= cap(sc.dims) {
		sc.dims = sc.dims[:len(sc.dims)+len(dims)]
	}
	unit := string(d.Unit)
	if unit == "" {
		unit = "None"
	} else if !validUnit(unit) {
		return invalidValue("The value %s for parameter %s.Unit is invalid.", unit, p())
	}
	res := int32(60)
	if d.StorageResolution != nil {
		res = *d.StorageResolution
		if res != 1 && res != 60 {
			return invalidValue("The value %d for parameter %s.StorageResolution is invalid.", res, p())
		}
	}
	ts := now
	if d.Timestamp != nil {
		ts = d.Timestamp.Time
		if ts.Before(now.Add(-pastLimit)) {
			return invalidValue("The parameter %s.Timestamp must specify a time no more than two weeks in the past.", p())
		}
		if ts.After(now.Add(futureLimit)) {
			return invalidValue("The parameter %s.Timestamp must specify a time no more than two hours in the future.", p())
		}
	}
	if res == 60 {
		// Standard resolution: CloudWatch keeps one-minute granularity.
		ts = ts.Truncate(time.Minute)
	} else {
		ts = ts.Truncate(time.Second)
	}
	given := 0
	for _, set := range []bool{d.Value != nil, d.StatisticValues != nil, d.Values != nil} {
		if set {
			given++
		}
	}
	switch {
	case given == 0:
		return missing("At least one of the parameters %[1]s.Value, %[1]s.StatisticValues or %[1]s.Values must be specified.", p())
	case given > 1:
		return combination("The parameters %[1]s.Value, %[1]s.StatisticValues and %[1]s.Values are mutually exclusive and you have specified more than one.", p())
	case d.Counts != nil && d.Values == nil:
		return combination("The parameter %[1]s.Counts may only be specified with %[1]s.Values.", p())
	}
	*out = metricstore.Datum{
		Series:         metricstore.Series{Namespace: namespace, Name: d.MetricName, Dimensions: dims},
		Time:           ts,
		Unit:           unit,
		HighResolution: res == 1,
	}
	switch {
	case d.Value != nil:
		if err := checkFloat(p()+".Value", *d.Value); err != nil {
			return err
		}
		sc.vals[n-1] = *d.Value
		out.Values = sc.vals[n-1 : n : n]
	case d.StatisticValues != nil:
		s := d.StatisticValues
		if s.SampleCount == nil || s.Sum == nil || s.Minimum == nil || s.Maximum == nil {
			return missing("The parameters %[1]s.StatisticValues.SampleCount, Sum, Minimum and Maximum are all required.", p())
		}
		for name, v := range map[string]float64{"SampleCount": *s.SampleCount, "Sum": *s.Sum, "Minimum": *s.Minimum, "Maximum": *s.Maximum} {
			if err := checkFloat(p()+".StatisticValues."+name, v); err != nil {
				return err
			}
		}
		if *s.SampleCount <= 0 {
			return invalidValue("The value %s for parameter %s.StatisticValues.SampleCount is invalid.", formatFloat(*s.SampleCount), p())
		}
		if *s.Minimum > *s.Maximum {
			return invalidValue("The parameter %[1]s.StatisticValues.Minimum must be less than or equal to %[1]s.StatisticValues.Maximum.", p())
		}
		out.Stats = &metricstore.Stats{SampleCount: *s.SampleCount, Sum: *s.Sum, Min: *s.Minimum, Max: *s.Maximum}
	default:
		if len(d.Values) > MaxValues {
			return invalidValue("The collection %s.Values must not have a size greater than %d.", p(), MaxValues)
		}
		if d.Counts != nil && len(d.Counts) != len(d.Values) {
			return invalidValue("The parameters %[1]s.Values and %[1]s.Counts must be of the same size.", p())
		}
		if len(d.Values) == 0 {
			return missing("At least one of the parameters %[1]s.Value, %[1]s.StatisticValues or %[1]s.Values must be specified.", p())
		}
		for j, v := range d.Values {
			if err := checkFloat(p()+".Values.member."+itoa(j+1), v); err != nil {
				return err
			}
		}
		for j, c := range d.Counts {
			if err := checkFloat(p()+".Counts.member."+itoa(j+1), c); err != nil {
				return err
			}
			if c <= 0 {
				return invalidValue("The value %s for parameter %s.Counts.member.%d is invalid.", formatFloat(c), p(), j+1)
			}
		}
		out.Values = d.Values
		out.Counts = d.Counts
	}
	return nil
}

// checkFloat refuses what CloudWatch refuses: NaN, infinities, and
// magnitudes beyond 2^360 or below 2^-260 (other than zero).
func checkFloat(param string, v float64) error {
	a := math.Abs(v)
	if math.IsNaN(v) || math.IsInf(v, 0) || a > 0x1p360 || (a != 0 && a < 0x1p-260) {
		return invalidValue("The value %s for parameter %s is invalid.", formatFloat(v), param)
	}
	return nil
}

func checkNamespace(param, ns string) error {
	if ns == "" {
		return missing("The parameter %s is required.", param)
	}
	if len(ns) > MaxNameLength {
		return invalidValue("The parameter %s must be shorter than %d characters.", param, MaxNameLength+1)
	}
	for _, r := range ns {
		if r < 0x20 || r > 0x7e {
			return invalidValue("The value %s for parameter %s contains non-ASCII characters.", ns, param)
		}
	}
	if strings.TrimSpace(ns) == "" || strings.HasPrefix(ns, ":") {
		return invalidValue("The value %s for parameter %s is invalid.", ns, param)
	}
	return nil
}

func checkName(param, name string) error {
	if name == "" {
		return missing("The parameter %s is required.", param)
	}
	if len(name) > MaxNameLength {
		return invalidValue("The parameter %s must be shorter than %d characters.", param, MaxNameLength+1)
	}
	if strings.TrimSpace(name) == "" {
		return invalidValue("The value %s for parameter %s is invalid.", name, param)
	}
	return nil
}

// convertDimensions checks dimensions and returns them sorted by name;
// a name given twice is refused.
func convertDimensions(param string, in []cloudwatchapi.Dimension) ([]metricstore.Dimension, error) {
	if len(in) == 0 || len(in) > MaxDimensions {
		return appendDimensions(nil, func() string { return param }, in)
	}
	return appendDimensions(make([]metricstore.Dimension, 0, len(in)), func() string { return param }, in)
}

// appendDimensions is convertDimensions appending to dst (the parameter's
// name built only for an error); nil when in is empty.
func appendDimensions(dst []metricstore.Dimension, param func() string, in []cloudwatchapi.Dimension) ([]metricstore.Dimension, error) {
	if len(in) > MaxDimensions {
		return nil, invalidValue("The collection %s must not have a size greater than %d.", param(), MaxDimensions)
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := dst
	for i, d := range in {
		p := func() string { return param() + ".member." + itoa(i+1) }
		if d.Name == "" {
			return nil, missing("The parameter %s.Name is required.", p())
		}
		if d.Value == "" {
			return nil, missing("The parameter %s.Value is required.", p())
		}
		if len(d.Name) > MaxNameLength || strings.TrimSpace(d.Name) == "" || strings.HasPrefix(d.Name, ":") {
			return nil, invalidValue("The value %s for parameter %s.Name is invalid.", d.Name, p())
		}
		if len(d.Value) > MaxValueLength || strings.TrimSpace(d.Value) == "" {
			return nil, invalidValue("The value %s for parameter %s.Value is invalid.", d.Value, p())
		}
		out = append(out, metricstore.Dimension{Name: d.Name, Value: d.Value})
	}
	if len(out) > 1 {
		metricstore.SortDimensions(out)
	}
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, invalidValue("No metric may have duplicate dimension names: %s is given twice in %s.", out[i].Name, param())
		}
	}
	return out, nil
}

// nameOK reports whether checkName accepts name (a cheaper test first).
func nameOK(name string) bool {
	return name != "" && len(name) <= MaxNameLength && strings.TrimSpace(name) != ""
}

// units is the set of CloudWatch's units.
var units = func() map[string]bool {
	m := map[string]bool{}
	for _, u := range cloudwatchapi.StandardUnit("").Values() {
		m[string(u)] = true
	}
	return m
}()

func validUnit(u string) bool { return units[u] }
