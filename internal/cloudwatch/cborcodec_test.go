package cloudwatch

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/gantry-dev/gantry/internal/awsproto"
	"github.com/gantry-dev/gantry/internal/awstime"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

var cwService = awsproto.Service{Protocols: cloudwatchapi.Protocols()}

// indefinite re-encodes a generic value with indefinite-length maps and
// arrays, as the AWS SDK for Go v2 writes them.
func indefinite(t *testing.T, x any) []byte {
	t.Helper()
	switch v := x.(type) {
	case map[string]any:
		out := []byte{0xbf}
		for k, el := range v {
			kb, _ := cbor.Marshal(k)
			out = append(out, kb...)
			out = append(out, indefinite(t, el)...)
		}
		return append(out, 0xff)
	case []any:
		out := []byte{0x9f}
		for _, el := range v {
			out = append(out, indefinite(t, el)...)
		}
		return append(out, 0xff)
	}
	b, err := cbor.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPutMetricDataFastDecoder: the hand-written CBOR decoder of
// PutMetricData's input gives what the generic decoders give for the same
// request in awsJson (definite and indefinite lengths, every member,
// floats of each width, tag 1 timestamps with and without milliseconds),
// and what the generic CBOR decoder gives, errors included, for bodies it
// leaves to it.
func TestPutMetricDataFastDecoder(t *testing.T) {
	ts := time.Date(2026, 12, 6, 8, 1, 2, 345e6, time.UTC)
	req := map[string]any{
		"Namespace":              "App/Web",
		"StrictEntityValidation": true,
		"MetricData": []any{
			map[string]any{"MetricName": "Latency", "Value": 12.5, "Unit": "Milliseconds", "Timestamp": cbor.Tag{Number: 1, Content: float64(ts.UnixMilli()) / 1e3},
				"Dimensions": []any{map[string]any{"Name": "Service", "Value": "web"}, map[string]any{"Name": "Cluster", "Value": "c1"}}},
			map[string]any{"MetricName": "Latency", "Values": []any{1.0, 2.5, float32(0.75), uint64(7)}, "Counts": []any{1.0, 2.0, 3.0, 4.0},
				"StorageResolution": uint64(1), "Dimensions": []any{map[string]any{"Name": "Service", "Value": "api"}}},
			map[string]any{"MetricName": "Requests", "StatisticValues": map[string]any{"SampleCount": 3.0, "Sum": 30.0, "Minimum": int64(-2), "Maximum": 1e300}},
		},
	}
	jsonReq := func() []byte {
		r := map[string]any{}
		b, _ := json.Marshal(req)
		_ = json.Unmarshal(b, &r)
		r["MetricData"].([]any)[0].(map[string]any)["Timestamp"] = float64(ts.UnixMilli()) / 1e3
		b, _ = json.Marshal(r)
		return b
	}()
	var want cloudwatchapi.PutMetricDataInput
	if err := awsproto.Decode(&awsproto.Request{Protocol: awsproto.JSON10}, &cwService, jsonReq, &want); err != nil {
		t.Fatal(err)
	}
	definite, err := cbor.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"definite": definite, "indefinite": indefinite(t, req)} {
		var got cloudwatchapi.PutMetricDataInput
		r := awsproto.NewCBORReader(body)
		if !decodePutMetricData(r, &got) || !r.Done() {
			t.Fatalf("%s: the fast decoder gave up", name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ngot  %+v\nwant %+v", name, got, want)
		}
		got = cloudwatchapi.PutMetricDataInput{}
		if err := awsproto.Decode(&awsproto.Request{Protocol: awsproto.CBOR}, &cwService, body, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s through Decode: %v %+v", name, err, got)
		}
	}

	// Bodies left to the generic decoder: its result and errors.
	for _, tc := range []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{"duplicate key", []byte("\xa2\x69Namespace\x61a\x69Namespace\x61b"), "SerializationException"},
		{"wrong type", mustCBOR(t, map[string]any{"Namespace": "a", "MetricData": []any{map[string]any{"MetricName": "m", "Value": "x"}}}), "SerializationException"},
		{"trailing bytes", append(mustCBOR(t, map[string]any{"Namespace": "a"}), 0x00), "SerializationException"},
		{"truncated", definite[:len(definite)-3], "SerializationException"},
		{"invalid UTF-8", []byte("\xa1\x69Namespace\x62\xff\xfe"), "SerializationException"},
		{"unknown member", mustCBOR(t, map[string]any{"Namespace": "a", "Other": 1}), ""},
		{"null member", mustCBOR(t, map[string]any{"Namespace": "a", "StrictEntityValidation": nil}), ""},
		{"not a map", mustCBOR(t, []any{1}), "SerializationException"},
	} {
		r := awsproto.NewCBORReader(tc.body)
		var in cloudwatchapi.PutMetricDataInput
		if decodePutMetricData(r, &in) && r.Done() {
			t.Fatalf("%s: the fast decoder took it", tc.name)
		}
		in = cloudwatchapi.PutMetricDataInput{}
		err := awsproto.Decode(&awsproto.Request{Protocol: awsproto.CBOR}, &cwService, tc.body, &in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || err.Code != tc.wantErr):
			t.Fatalf("%s: got %v, want %s", tc.name, err, tc.wantErr)
		case tc.wantErr == "" && in.Namespace != "a":
			t.Fatalf("%s: decoded %+v", tc.name, in)
		}
	}
}

func mustCBOR(t *testing.T, x any) []byte {
	t.Helper()
	b, err := cbor.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGetMetricDataFastEncoder: the hand-written encoder of GetMetricData's
// output writes what the generic encoder writes, read back as generic
// values (timestamps whole and with milliseconds, floats of every width,
// empty members left out, an empty list kept).
func TestGetMetricDataFastEncoder(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	out := &cloudwatchapi.GetMetricDataOutput{
		MetricDataResults: []cloudwatchapi.MetricDataResult{
			{Id: "m1", Label: "Latency", StatusCode: "Complete",
				Timestamps: []awstime.Timestamp{{Time: t0}, {Time: t0.Add(1500 * time.Millisecond)}, {Time: t0.Add(-time.Minute)}, {Time: t0}, {Time: t0}, {Time: t0}, {Time: t0}},
				Values:     []float64{1, 0.1, -2.5, 65504, 1e-7, 0x1p-24, math.MaxFloat64}},
			{Id: "e1", StatusCode: "Complete", Timestamps: []awstime.Timestamp{}, Values: []float64{},
				Messages: []cloudwatchapi.MessageData{{Code: "NoData", Value: "none"}}},
		},
		NextToken: "tok",
		Messages:  []cloudwatchapi.MessageData{{Code: "C"}},
	}
	var w awsproto.CBORWriter
	encodeGetMetricData(&w, out)
	generic, err := cbor.Marshal(genericTree(out))
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	dm, _ := cbor.DecOptions{DefaultMapType: reflect.TypeFor[map[string]any]()}.DecMode()
	if err := dm.Unmarshal(w.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if err := dm.Unmarshal(generic, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	// And through the protocol layer's encoder, which takes the fast path.
	var back cloudwatchapi.GetMetricDataOutput
	if err := awsproto.Decode(&awsproto.Request{Protocol: awsproto.CBOR}, &cwService, w.Bytes(), &back); err != nil || !reflect.DeepEqual(&back, out) {
		t.Fatalf("read back: %v\n%+v", err, back)
	}
}

// genericTree is the output as the generic encoder builds it (members
// omitted by the json tags' rules, timestamps as tag 1).
func genericTree(out *cloudwatchapi.GetMetricDataOutput) map[string]any {
	msgs := func(ms []cloudwatchapi.MessageData) []any {
		a := []any{}
		for _, m := range ms {
			e := map[string]any{}
			if m.Code != "" {
				e["Code"] = m.Code
			}
			if m.Value != "" {
				e["Value"] = m.Value
			}
			a = append(a, e)
		}
		return a
	}
	var results []any
	for _, r := range out.MetricDataResults {
		e := map[string]any{"Id": r.Id, "StatusCode": string(r.StatusCode)}
		if r.Label != "" {
			e["Label"] = r.Label
		}
		ts := []any{}
		for _, t := range r.Timestamps {
			ms := t.UnixMilli()
			var c any = ms / 1000
			if ms%1000 != 0 {
				c = float64(ms) / 1000
			}
			ts = append(ts, cbor.Tag{Number: 1, Content: c})
		}
		e["Timestamps"] = ts
		vals := []any{}
		for _, v := range r.Values {
			vals = append(vals, v)
		}
		e["Values"] = vals
		if r.Messages != nil {
			e["Messages"] = msgs(r.Messages)
		}
		results = append(results, e)
	}
	return map[string]any{"MetricDataResults": results, "NextToken": out.NextToken, "Messages": msgs(out.Messages)}
}
