package cloudwatch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// Alarm states.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Limits of alarms.
const (
	MaxAlarmNamesPerCall = 100
	MaxTags              = 50
	MaxActions           = 5
	defaultMaxRecords    = 50
)

var treatMissing = []string{"missing", "ignore", "breaching", "notBreaching"}

// alarmRecord is an alarm as stored in etcd.
type alarmRecord struct {
	Alarm cloudwatchapi.MetricAlarm `json:"alarm"`
	Tags  []cloudwatchapi.Tag       `json:"tags,omitempty"`
}

func alarmPrefix() string         { return store.Key("cloudwatch", "alarms") + "/" }
func alarmKey(name string) string { return alarmPrefix() + name }

func checkAlarmName(param, name string) error {
	if name == "" {
		return missing("The parameter %s is required.", param)
	}
	if len(name) > 255 {
		return invalidValue("The parameter %s must be shorter than 256 characters.", param)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return invalidValue("The value for parameter %s contains control characters.", param)
		}
	}
	return nil
}

// checkActions validates action ARNs: SNS topics, Application Auto
// Scaling / EC2 Auto Scaling policies, EC2 actions, Systems Manager and
// Lambda, as CloudWatch accepts them.
func checkActions(param string, actions []string) error {
	if len(actions) > MaxActions {
		return invalidValue("The collection %s must not have a size greater than %d.", param, MaxActions)
	}
	for i, act := range actions {
		parts := strings.SplitN(act, ":", 6)
		ok := len(parts) == 6 && parts[0] == "arn" && parts[1] != "" &&
			slices.Contains([]string{"sns", "autoscaling", "automate", "ssm", "ssm-incidents", "lambda"}, parts[2]) && parts[5] != ""
		if !ok || len(act) > 1024 {
			return invalidValue("Invalid arn syntax: %s (parameter %s.member.%d)", act, param, i+1)
		}
	}
	return nil
}

// isAutoScalingAction reports whether an action ARN is an Auto Scaling
// policy, invoked through the Invoker.
func isAutoScalingAction(arn string) bool {
	return strings.HasPrefix(arn, "arn:") && strings.Contains(arn, ":autoscaling:")
}

// buildAlarm checks PutMetricAlarm's input and returns the alarm it
// defines (without state).
func (a *API) buildAlarm(in *cloudwatchapi.PutMetricAlarmInput) (*cloudwatchapi.MetricAlarm, error) {
	if err := checkAlarmName("AlarmName", in.AlarmName); err != nil {
		return nil, err
	}
	if len(in.AlarmDescription) > 1024 {
		return nil, invalidValue("The parameter AlarmDescription must be shorter than 1025 characters.")
	}
	for p, acts := range map[string][]string{"OKActions": in.OKActions, "AlarmActions": in.AlarmActions, "InsufficientDataActions": in.InsufficientDataActions} {
		if err := checkActions(p, acts); err != nil {
			return nil, err
		}
	}
	if in.EvaluationPeriods == nil {
		return nil, missing("The parameter EvaluationPeriods is required.")
	}
	if *in.EvaluationPeriods < 1 {
		return nil, invalidValue("The parameter EvaluationPeriods must be greater than or equal to 1.")
	}
	if in.ComparisonOperator == "" {
		return nil, missing("The parameter ComparisonOperator is required.")
	}
	switch in.ComparisonOperator {
	case "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold":
	case "LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold":
		return nil, combination("The ComparisonOperator %s needs an anomaly detection band (ThresholdMetricId); Gantry does not support anomaly detection.", in.ComparisonOperator)
	default:
		return nil, invalidValue("The value %s for parameter ComparisonOperator is invalid.", in.ComparisonOperator)
	}
	if in.ThresholdMetricId != "" {
		return nil, combination("ThresholdMetricId names an anomaly detection band; Gantry does not support anomaly detection.")
	}
	if in.EvaluationCriteria != nil || in.EvaluationInterval != nil {
		return nil, combination("EvaluationCriteria and EvaluationInterval (PromQL alarms) are not supported.")
	}
	if in.Threshold == nil {
		return nil, missing("The parameter Threshold is required.")
	}
	if err := checkFloat("Threshold", *in.Threshold); err != nil {
		return nil, err
	}
	n := *in.EvaluationPeriods
	if in.DatapointsToAlarm != nil {
		if m := *in.DatapointsToAlarm; m < 1 || m > n {
			return nil, invalidValue("DatapointsToAlarm (%d) must be between 1 and EvaluationPeriods (%d).", m, n)
		}
	}
	if in.TreatMissingData != "" && !slices.Contains(treatMissing, in.TreatMissingData) {
		return nil, invalidValue("The value %s for parameter TreatMissingData is invalid: use missing, ignore, breaching or notBreaching.", in.TreatMissingData)
	}
	if in.EvaluateLowSampleCountPercentile != "" && in.EvaluateLowSampleCountPercentile != "evaluate" && in.EvaluateLowSampleCountPercentile != "ignore" {
		return nil, invalidValue("The value %s for parameter EvaluateLowSampleCountPercentile is invalid.", in.EvaluateLowSampleCountPercentile)
	}
	if in.Unit != "" && !validUnit(string(in.Unit)) {
		return nil, invalidValue("The value %s for parameter Unit is invalid.", in.Unit)
	}
	al := &cloudwatchapi.MetricAlarm{
		AlarmName:                        in.AlarmName,
		AlarmArn:                         a.alarmARN(in.AlarmName),
		AlarmDescription:                 in.AlarmDescription,
		ActionsEnabled:                   boolPtr(in.ActionsEnabled == nil || *in.ActionsEnabled),
		OKActions:                        orEmpty(in.OKActions),
		AlarmActions:                     orEmpty(in.AlarmActions),
		InsufficientDataActions:          orEmpty(in.InsufficientDataActions),
		EvaluationPeriods:                in.EvaluationPeriods,
		DatapointsToAlarm:                in.DatapointsToAlarm,
		Threshold:                        in.Threshold,
		ComparisonOperator:               in.ComparisonOperator,
		TreatMissingData:                 in.TreatMissingData,
		EvaluateLowSampleCountPercentile: in.EvaluateLowSampleCountPercentile,
		Unit:                             in.Unit,
	}
	simple := in.MetricName != "" || in.Namespace != "" || in.Statistic != "" || in.ExtendedStatistic != "" || len(in.Dimensions) > 0 || in.Period != nil
	switch {
	case len(in.Metrics) > 0 && simple:
		return nil, combination("The parameters Metrics and MetricName, Namespace, Statistic, ExtendedStatistic, Dimensions and Period are mutually exclusive.")
	case len(in.Metrics) > 0:
		qs, err := checkQueries("Metrics", in.Metrics, a.now(), a.now(), false)
		if err != nil {
			return nil, err
		}
		var period int32
		returned := 0
		for _, q := range qs {
			if q.ret {
				returned++
			}
			p := q.in.Period
			if q.in.MetricStat != nil {
				p = q.in.MetricStat.Period
			}
			if p != nil {
				if err := checkAlarmPeriod(*p); err != nil {
					return nil, err
				}
				if period == 0 || *p < period {
					period = *p
				}
			}
		}
		if returned != 1 {
			return nil, invalidValue("Exactly one element of the Metrics list must have ReturnData set to true.")
		}
		if period == 0 {
			return nil, missing("A period is required: set MetricStat.Period or Period in Metrics.")
		}
		if int64(period)*int64(n) > 7*86400 {
			return nil, invalidValue("The evaluation period (Period * EvaluationPeriods) must not exceed one week.")
		}
		al.Metrics = in.Metrics
		al.Period = nil
	default:
		if err := checkNamespace("Namespace", in.Namespace); err != nil {
			return nil, err
		}
		if err := checkName("MetricName", in.MetricName); err != nil {
			return nil, err
		}
		dims, err := convertDimensions("Dimensions", in.Dimensions)
		if err != nil {
			return nil, err
		}
		switch {
		case in.Statistic != "" && in.ExtendedStatistic != "":
			return nil, combination("Exactly one element of the Statistic and ExtendedStatistic parameters must be specified.")
		case in.Statistic == "" && in.ExtendedStatistic == "":
			return nil, missing("Exactly one element of the Statistic and ExtendedStatistic parameters must be specified.")
		case in.Statistic != "" && !slices.Contains(basicStats, string(in.Statistic)):
			return nil, invalidValue("The value %s for parameter Statistic is invalid.", in.Statistic)
		case in.ExtendedStatistic != "":
			if !validStat(in.ExtendedStatistic) || slices.Contains(basicStats, in.ExtendedStatistic) {
				return nil, invalidValue("The value %s for parameter ExtendedStatistic is invalid.", in.ExtendedStatistic)
			}
		}
		if in.Period == nil {
			return nil, missing("The parameter Period is required.")
		}
		if err := checkAlarmPeriod(*in.Period); err != nil {
			return nil, err
		}
		if int64(*in.Period)*int64(n) > 86400 && *in.Period < 3600 || int64(*in.Period)*int64(n) > 7*86400 {
			return nil, invalidValue("The evaluation period (Period * EvaluationPeriods) must not exceed one day (one week for periods of an hour or more).")
		}
		al.Namespace, al.MetricName = in.Namespace, in.MetricName
		al.Statistic, al.ExtendedStatistic = in.Statistic, in.ExtendedStatistic
		al.Period = in.Period
		al.Dimensions = []cloudwatchapi.Dimension{}
		for _, d := range dims {
			al.Dimensions = append(al.Dimensions, cloudwatchapi.Dimension{Name: d.Name, Value: d.Value})
		}
	}
	if len(in.Tags) > MaxTags {
		return nil, invalidValue("The collection Tags must not have a size greater than %d.", MaxTags)
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	return al, nil
}

// checkAlarmPeriod: 10, 20, 30 or a multiple of 60 seconds.
func checkAlarmPeriod(p int32) error {
	if p == 10 || p == 20 || p == 30 || p >= 60 && p%60 == 0 {
		return nil
	}
	return invalidValue("The parameter Period must be 10, 20, 30 or a multiple of 60 for an alarm.")
}

// PutMetricAlarm creates an alarm (in INSUFFICIENT_DATA) or replaces an
// alarm's configuration (its state is kept; tags are set only on creation).
func (a *API) PutMetricAlarm(ctx context.Context, in *cloudwatchapi.PutMetricAlarmInput) (*struct{}, error) {
	al, err := a.buildAlarm(in)
	if err != nil {
		return nil, err
	}
	now := a.now()
	created := false
	_, err = store.Mutate(ctx, a.Store, alarmKey(in.AlarmName), func(cur *alarmRecord, exists bool) error {
		next := *al
		next.AlarmConfigurationUpdatedTimestamp = awstime.NewTimestamp(now)
		if exists {
			created = false
			old := cur.Alarm
			next.StateValue, next.StateReason, next.StateReasonData = old.StateValue, old.StateReason, old.StateReasonData
			next.StateUpdatedTimestamp, next.StateTransitionedTimestamp = old.StateUpdatedTimestamp, old.StateTransitionedTimestamp
		} else {
			created = true
			next.StateValue = StateInsufficientData
			next.StateReason = "Unchecked: Initial alarm creation"
			next.StateUpdatedTimestamp = awstime.NewTimestamp(now)
			next.StateTransitionedTimestamp = awstime.NewTimestamp(now)
			cur.Tags = slices.Clone(in.Tags)
		}
		cur.Alarm = next
		return nil
	})
	if err != nil {
		return nil, a.internal("PutMetricAlarm", err)
	}
	verb := "updated"
	if created {
		verb = "created"
	}
	data, _ := json.Marshal(map[string]any{"version": "1.0", "type": strings.ToTitle(verb[:1]) + verb[1:], "updatedAlarm": al})
	a.addHistory(ctx, in.AlarmName, "ConfigurationUpdate", fmt.Sprintf("Alarm %q %s", in.AlarmName, verb), string(data), now)
	return nil, nil
}

// loadAlarms returns every alarm in name order.
func (a *API) loadAlarms(ctx context.Context) ([]alarmRecord, []int64, error) {
	items, err := a.Store.List(ctx, alarmPrefix(), "", 0)
	if err != nil {
		return nil, nil, err
	}
	recs := make([]alarmRecord, 0, len(items))
	revs := make([]int64, 0, len(items))
	for _, it := range items {
		var r alarmRecord
		if err := it.Decode(&r); err != nil {
			a.Logger.Warn("undecodable alarm", "key", it.Key, "err", err)
			continue
		}
		recs = append(recs, r)
		revs = append(revs, it.ModRev)
	}
	return recs, revs, nil
}

// DescribeAlarms lists metric alarms by names, prefix, state and action
// prefix (composite alarms do not exist in Gantry: none are returned).
func (a *API) DescribeAlarms(ctx context.Context, in *cloudwatchapi.DescribeAlarmsInput) (*cloudwatchapi.DescribeAlarmsOutput, error) {
	if len(in.AlarmNames) > MaxAlarmNamesPerCall {
		return nil, invalidValue("The collection AlarmNames must not have a size greater than %d.", MaxAlarmNamesPerCall)
	}
	if len(in.AlarmNames) > 0 && in.AlarmNamePrefix != "" {
		return nil, combination("The parameters AlarmNames and AlarmNamePrefix are mutually exclusive.")
	}
	if (in.ChildrenOfAlarmName != "" || in.ParentsOfAlarmName != "") && (len(in.AlarmNames) > 0 || in.AlarmNamePrefix != "" || in.StateValue != "" || in.ActionPrefix != "") {
		return nil, combination("ChildrenOfAlarmName and ParentsOfAlarmName may not be combined with other filters.")
	}
	if in.StateValue != "" && !slices.Contains([]string{StateOK, StateAlarm, StateInsufficientData}, string(in.StateValue)) {
		return nil, invalidValue("The value %s for parameter StateValue is invalid.", in.StateValue)
	}
	metric := len(in.AlarmTypes) == 0
	for i, t := range in.AlarmTypes {
		switch t {
		case "MetricAlarm":
			metric = true
		case "CompositeAlarm":
		default:
			return nil, invalidValue("The value %s for parameter AlarmTypes.member.%d is invalid.", t, i+1)
		}
	}
	limit, err := maxRecords(in.MaxRecords)
	if err != nil {
		return nil, err
	}
	after, err := decodeNameToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &cloudwatchapi.DescribeAlarmsOutput{MetricAlarms: []cloudwatchapi.MetricAlarm{}, CompositeAlarms: []cloudwatchapi.CompositeAlarm{}}
	if !metric || in.ChildrenOfAlarmName != "" || in.ParentsOfAlarmName != "" {
		return out, nil
	}
	recs, _, err := a.loadAlarms(ctx)
	if err != nil {
		return nil, a.internal("DescribeAlarms", err)
	}
	for _, r := range recs {
		al := r.Alarm
		switch {
		case after != "" && al.AlarmName <= after:
			continue
		case len(in.AlarmNames) > 0 && !slices.Contains(in.AlarmNames, al.AlarmName):
			continue
		case !strings.HasPrefix(al.AlarmName, in.AlarmNamePrefix):
			continue
		case in.StateValue != "" && al.StateValue != in.StateValue:
			continue
		case in.ActionPrefix != "" && !hasActionPrefix(al, in.ActionPrefix):
			continue
		}
		if len(out.MetricAlarms) == limit {
			out.NextToken = encodeNameToken(out.MetricAlarms[limit-1].AlarmName)
			break
		}
		out.MetricAlarms = append(out.MetricAlarms, al)
	}
	return out, nil
}

func hasActionPrefix(al cloudwatchapi.MetricAlarm, prefix string) bool {
	for _, list := range [][]string{al.OKActions, al.AlarmActions, al.InsufficientDataActions} {
		for _, act := range list {
			if strings.HasPrefix(act, prefix) {
				return true
			}
		}
	}
	return false
}

func maxRecords(p *int32) (int, error) {
	if p == nil {
		return defaultMaxRecords, nil
	}
	if *p < 1 || *p > 100 {
		return 0, invalidValue("The value %d for parameter MaxRecords is invalid: it must be between 1 and 100.", *p)
	}
	return int(*p), nil
}

func encodeNameToken(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("n:" + name))
}

func decodeNameToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "n:") {
		return "", badToken()
	}
	return string(b[2:]), nil
}

// DescribeAlarmsForMetric lists the alarms on one metric (and, when
// given, statistic, dimensions, period and unit).
func (a *API) DescribeAlarmsForMetric(ctx context.Context, in *cloudwatchapi.DescribeAlarmsForMetricInput) (*cloudwatchapi.DescribeAlarmsForMetricOutput, error) {
	if err := checkNamespace("Namespace", in.Namespace); err != nil {
		return nil, err
	}
	if err := checkName("MetricName", in.MetricName); err != nil {
		return nil, err
	}
	dims, err := convertDimensions("Dimensions", in.Dimensions)
	if err != nil {
		return nil, err
	}
	if in.Statistic != "" && in.ExtendedStatistic != "" {
		return nil, combination("The parameters Statistic and ExtendedStatistic are mutually exclusive.")
	}
	recs, _, err := a.loadAlarms(ctx)
	if err != nil {
		return nil, a.internal("DescribeAlarmsForMetric", err)
	}
	out := &cloudwatchapi.DescribeAlarmsForMetricOutput{MetricAlarms: []cloudwatchapi.MetricAlarm{}}
	for _, r := range recs {
		al := r.Alarm
		if al.Namespace != in.Namespace || al.MetricName != in.MetricName {
			continue
		}
		if in.Statistic != "" && al.Statistic != in.Statistic || in.ExtendedStatistic != "" && al.ExtendedStatistic != in.ExtendedStatistic {
			continue
		}
		if in.Period != nil && (al.Period == nil || *al.Period != *in.Period) || in.Unit != "" && al.Unit != in.Unit {
			continue
		}
		// The metric's dimensions must all be given, as on AWS.
		if ad, _ := convertDimensions("", al.Dimensions); !slices.Equal(ad, dims) {
			continue
		}
		out.MetricAlarms = append(out.MetricAlarms, al)
	}
	return out, nil
}

// DeleteAlarms deletes alarms: all of them, or none when one does not
// exist (ResourceNotFound).
func (a *API) DeleteAlarms(ctx context.Context, in *cloudwatchapi.DeleteAlarmsInput) (*struct{}, error) {
	if len(in.AlarmNames) == 0 {
		return nil, missing("The parameter AlarmNames is required.")
	}
	if len(in.AlarmNames) > MaxAlarmNamesPerCall {
		return nil, invalidValue("The collection AlarmNames must not have a size greater than %d.", MaxAlarmNamesPerCall)
	}
	for attempt := 0; ; attempt++ {
		var cmps []store.Cmp
		var ops []store.Op
		seen := map[string]bool{}
		for i, name := range in.AlarmNames {
			if err := checkAlarmName(fmt.Sprintf("AlarmNames.member.%d", i+1), name); err != nil {
				return nil, err
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			var r alarmRecord
			rev, err := a.Store.Get(ctx, alarmKey(name), &r)
			if errors.Is(err, store.ErrNotFound) {
				return nil, apierror404(fmt.Sprintf("%s not found", name))
			}
			if err != nil {
				return nil, a.internal("DeleteAlarms", err)
			}
			cmps = append(cmps, store.ModRevisionIs(alarmKey(name), rev))
			ops = append(ops, store.OpDelete(alarmKey(name)), store.OpDeletePrefix(historyPrefix(name)))
		}
		res, err := a.Store.Txn(ctx, cmps, ops...)
		if err != nil {
			return nil, a.internal("DeleteAlarms", err)
		}
		if res.Succeeded {
			return nil, nil
		}
		if attempt > 20 {
			return nil, a.internal("DeleteAlarms", store.ErrConflict)
		}
	}
}

func apierror404(msg string) error {
	return apierrorNew(CodeResourceNotFound, msg)
}

// SetAlarmState sets an alarm's state until its next evaluation; the
// evaluator runs the actions of the new state.
func (a *API) SetAlarmState(ctx context.Context, in *cloudwatchapi.SetAlarmStateInput) (*struct{}, error) {
	if err := checkAlarmName("AlarmName", in.AlarmName); err != nil {
		return nil, err
	}
	if !slices.Contains([]string{StateOK, StateAlarm, StateInsufficientData}, string(in.StateValue)) {
		return nil, invalidValue("The value %s for parameter StateValue is invalid.", in.StateValue)
	}
	if len(in.StateReason) > 1023 {
		return nil, invalidValue("The parameter StateReason must be shorter than 1024 characters.")
	}
	if in.StateReasonData != "" {
		if len(in.StateReasonData) > 4000 || !json.Valid([]byte(in.StateReasonData)) {
			return nil, apierrorNew(CodeInvalidFormat, "StateReasonData is not valid JSON.")
		}
	}
	now := a.now()
	var old cloudwatchapi.MetricAlarm
	_, err := store.Mutate(ctx, a.Store, alarmKey(in.AlarmName), func(cur *alarmRecord, exists bool) error {
		if !exists {
			return apierror404(fmt.Sprintf("Alarm %s not found", in.AlarmName))
		}
		old = cur.Alarm
		cur.Alarm.StateValue = in.StateValue
		cur.Alarm.StateReason = in.StateReason
		cur.Alarm.StateReasonData = in.StateReasonData
		cur.Alarm.StateUpdatedTimestamp = awstime.NewTimestamp(now)
		if old.StateValue != in.StateValue {
			cur.Alarm.StateTransitionedTimestamp = awstime.NewTimestamp(now)
		}
		return nil
	})
	if err != nil {
		return nil, a.internal("SetAlarmState", err)
	}
	if old.StateValue != in.StateValue {
		a.addHistory(ctx, in.AlarmName, "StateUpdate", fmt.Sprintf("Alarm updated from %s to %s", old.StateValue, in.StateValue),
			stateHistoryData(old.StateValue, old.StateReason, string(in.StateValue), in.StateReason, in.StateReasonData), now)
	}
	return nil, nil
}

// EnableAlarmActions turns the actions of alarms on.
func (a *API) EnableAlarmActions(ctx context.Context, in *cloudwatchapi.EnableAlarmActionsInput) (*struct{}, error) {
	return nil, a.setActionsEnabled(ctx, "EnableAlarmActions", in.AlarmNames, true)
}

// DisableAlarmActions turns the actions of alarms off.
func (a *API) DisableAlarmActions(ctx context.Context, in *cloudwatchapi.DisableAlarmActionsInput) (*struct{}, error) {
	return nil, a.setActionsEnabled(ctx, "DisableAlarmActions", in.AlarmNames, false)
}

func (a *API) setActionsEnabled(ctx context.Context, op string, names []string, on bool) error {
	if len(names) == 0 {
		return missing("The parameter AlarmNames is required.")
	}
	if len(names) > MaxAlarmNamesPerCall {
		return invalidValue("The collection AlarmNames must not have a size greater than %d.", MaxAlarmNamesPerCall)
	}
	for i, name := range names {
		if err := checkAlarmName(fmt.Sprintf("AlarmNames.member.%d", i+1), name); err != nil {
			return err
		}
	}
	errSkip := errors.New("absent")
	for _, name := range names {
		_, err := store.Mutate(ctx, a.Store, alarmKey(name), func(cur *alarmRecord, exists bool) error {
			if !exists {
				return errSkip
			}
			cur.Alarm.ActionsEnabled = boolPtr(on)
			return nil
		})
		if err != nil && !errors.Is(err, errSkip) {
			return a.internal(op, err)
		}
	}
	return nil
}

// AlarmStates answers the states of the named alarms that exist.
func (a *API) AlarmStates(ctx context.Context, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, name := range names {
		var r alarmRecord
		_, err := a.Store.Get(ctx, alarmKey(name), &r)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[name] = string(r.Alarm.StateValue)
	}
	return out, nil
}

func boolPtr(b bool) *bool { return &b }

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
