package cloudwatch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/store"
)

// MaxHistoryPerAlarm bounds the history kept per alarm in etcd: the
// oldest items are dropped beyond it. An alarm's history goes with it.
const MaxHistoryPerAlarm = 100

var historySeq atomic.Uint64

func historyRoot() string { return store.Key("cloudwatch", "history") + "/" }

func historyPrefix(name string) string { return historyRoot() + name + "\x00" }

// addHistory records an item of an alarm's history; a failure is logged
// (history is best effort, the alarm's state is not).
func (a *API) addHistory(ctx context.Context, name, typ, summary, data string, at time.Time) {
	key, val := a.historyOp(name, typ, summary, data, at)
	if _, err := a.Store.Txn(ctx, nil, store.OpPut(key, val)); err != nil {
		a.Logger.Warn("alarm history", "alarm", name, "err", err)
		return
	}
	a.trimHistory(ctx, name)
}

func (a *API) historyOp(name, typ, summary, data string, at time.Time) (string, []byte) {
	item := cloudwatchapi.AlarmHistoryItem{AlarmName: name, AlarmType: "MetricAlarm", Timestamp: awstime.NewTimestamp(at),
		HistoryItemType: cloudwatchapi.HistoryItemType(typ), HistorySummary: summary, HistoryData: data}
	val, _ := json.Marshal(item)
	key := fmt.Sprintf("%s%016x%08x", historyPrefix(name), at.UnixNano(), uint32(historySeq.Add(1)))
	return key, val
}

func (a *API) trimHistory(ctx context.Context, name string) {
	items, err := a.Store.List(ctx, historyPrefix(name), "", 0)
	if err != nil || len(items) <= MaxHistoryPerAlarm {
		return
	}
	var ops []store.Op
	for _, it := range items[:len(items)-MaxHistoryPerAlarm] {
		ops = append(ops, store.OpDelete(it.Key))
	}
	if _, err := a.Store.Txn(ctx, nil, ops...); err != nil {
		a.Logger.Warn("trim alarm history", "alarm", name, "err", err)
	}
}

func stateHistoryData(oldState cloudwatchapi.StateValue, oldReason, newState, newReason, newData string) string {
	ns := map[string]any{"stateValue": newState, "stateReason": newReason}
	if newData != "" {
		var v any
		if json.Unmarshal([]byte(newData), &v) == nil {
			ns["stateReasonData"] = v
		}
	}
	b, _ := json.Marshal(map[string]any{"version": "1.0",
		"oldState": map[string]any{"stateValue": string(oldState), "stateReason": oldReason}, "newState": ns})
	return string(b)
}

// DescribeAlarmHistory lists the history of one alarm or of all, newest
// first unless ScanBy says TimestampAscending.
func (a *API) DescribeAlarmHistory(ctx context.Context, in *cloudwatchapi.DescribeAlarmHistoryInput) (*cloudwatchapi.DescribeAlarmHistoryOutput, error) {
	if in.AlarmName != "" {
		if err := checkAlarmName("AlarmName", in.AlarmName); err != nil {
			return nil, err
		}
	}
	if in.HistoryItemType != "" && !slices.Contains(cloudwatchapi.HistoryItemType("").Values(), in.HistoryItemType) {
		return nil, invalidValue("The value %s for parameter HistoryItemType is invalid.", in.HistoryItemType)
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
	scan := string(in.ScanBy)
	if scan == "" {
		scan = scanTimestampDescend
	}
	if scan != scanTimestampAscending && scan != scanTimestampDescend {
		return nil, invalidValue("The value %s for parameter ScanBy is invalid.", in.ScanBy)
	}
	limit, err := maxRecords(in.MaxRecords)
	if err != nil {
		return nil, err
	}
	offset := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, perr := strconv.Atoi(strings.TrimPrefix(string(b), "h:"))
		if err != nil || perr != nil || !strings.HasPrefix(string(b), "h:") || n < 0 {
			return nil, badToken()
		}
		offset = n
	}
	if in.StartDate != nil && in.EndDate != nil && in.EndDate.Before(in.StartDate.Time) {
		return nil, invalidValue("The parameter StartDate must be less than the parameter EndDate.")
	}
	out := &cloudwatchapi.DescribeAlarmHistoryOutput{AlarmHistoryItems: []cloudwatchapi.AlarmHistoryItem{}}
	if !metric {
		return out, nil
	}
	prefix := historyRoot()
	if in.AlarmName != "" {
		prefix = historyPrefix(in.AlarmName)
	}
	items, err := a.Store.List(ctx, prefix, "", 0)
	if err != nil {
		return nil, a.internal("DescribeAlarmHistory", err)
	}
	var all []cloudwatchapi.AlarmHistoryItem
	for _, it := range items {
		var h cloudwatchapi.AlarmHistoryItem
		if err := it.Decode(&h); err != nil || h.Timestamp == nil {
			continue
		}
		switch {
		case in.HistoryItemType != "" && h.HistoryItemType != in.HistoryItemType,
			in.StartDate != nil && h.Timestamp.Before(in.StartDate.Time),
			in.EndDate != nil && h.Timestamp.After(in.EndDate.Time):
			continue
		}
		all = append(all, h)
	}
	slices.SortStableFunc(all, func(x, y cloudwatchapi.AlarmHistoryItem) int { return x.Timestamp.Compare(y.Timestamp.Time) })
	if scan == scanTimestampDescend {
		slices.Reverse(all)
	}
	if offset > len(all) {
		return nil, badToken()
	}
	all = all[offset:]
	if len(all) > limit {
		all = all[:limit]
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte("h:" + strconv.Itoa(offset+limit)))
	}
	out.AlarmHistoryItems = append(out.AlarmHistoryItems, all...)
	return out, nil
}
