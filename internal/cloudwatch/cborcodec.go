package cloudwatch

import (
	"github.com/gantry-dev/gantry/internal/awsproto"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
)

// Hand-written CBOR codecs of the two operations whose bodies are large
// (internal/awsproto's fast paths): PutMetricData's input and
// GetMetricData's output. Anything the decoder does not handle falls back
// to the generic decoder, errors included.

func init() {
	awsproto.RegisterFastCBOR(decodePutMetricData, nil)
	awsproto.RegisterFastCBOR(nil, encodeGetMetricData)
}

// decodePutMetricData decodes PutMetricData's input.
func decodePutMetricData(r *awsproto.CBORReader, in *cloudwatchapi.PutMetricDataInput) bool {
	names := map[string]string{}
	var seen uint
	m := r.Map()
	for r.Next(&m) {
		var bit uint
		switch string(r.Key()) {
		case "Namespace":
			bit = 1
			in.Namespace = r.String()
		case "MetricData":
			bit = 2
			a := r.Array()
			in.MetricData = make([]cloudwatchapi.MetricDatum, 0, hint(a))
			for r.Next(&a) {
				in.MetricData = append(in.MetricData, cloudwatchapi.MetricDatum{})
				if !decodeDatum(r, &in.MetricData[len(in.MetricData)-1], names) {
					return false
				}
			}
		case "StrictEntityValidation":
			bit = 4
			b := r.Bool()
			in.StrictEntityValidation = &b
		default: // EntityMetricData, unknown members
			return false
		}
		if seen&bit != 0 {
			return false // a duplicate key: the generic decoder's error
		}
		seen |= bit
	}
	return !r.Failed()
}

// hint is a capacity for a container's elements.
func hint(c awsproto.CBORContainer) int {
	if n := c.Len(); n >= 0 {
		return n
	}
	return 8
}

// intern returns a copy of name shared within one request (metric and
// dimension names repeat from datum to datum).
func intern(r *awsproto.CBORReader, names map[string]string) string {
	b := r.Key()
	if s, ok := names[string(b)]; ok {
		return s
	}
	s := r.Validated(b)
	if !r.Failed() {
		names[s] = s
	}
	return s
}

func decodeDatum(r *awsproto.CBORReader, d *cloudwatchapi.MetricDatum, names map[string]string) bool {
	var seen uint
	m := r.Map()
	for r.Next(&m) {
		var bit uint
		switch string(r.Key()) {
		case "MetricName":
			bit = 1
			d.MetricName = intern(r, names)
		case "Dimensions":
			bit = 2
			a := r.Array()
			d.Dimensions = make([]cloudwatchapi.Dimension, 0, hint(a))
			for r.Next(&a) {
				var dim cloudwatchapi.Dimension
				var dseen uint
				dm := r.Map()
				for r.Next(&dm) {
					var dbit uint
					switch string(r.Key()) {
					case "Name":
						dbit = 1
						dim.Name = intern(r, names)
					case "Value":
						dbit = 2
						dim.Value = r.String()
					default:
						return false
					}
					if dseen&dbit != 0 {
						return false
					}
					dseen |= dbit
				}
				d.Dimensions = append(d.Dimensions, dim)
			}
		case "Timestamp":
			bit = 4
			ts := r.Timestamp()
			d.Timestamp = &ts
		case "Value":
			bit = 8
			v := r.Float()
			d.Value = &v
		case "StatisticValues":
			bit = 16
			d.StatisticValues = &cloudwatchapi.StatisticSet{}
			if !decodeStatisticSet(r, d.StatisticValues) {
				return false
			}
		case "Values":
			bit = 32
			d.Values = floats(r)
		case "Counts":
			bit = 64
			d.Counts = floats(r)
		case "Unit":
			bit = 128
			d.Unit = cloudwatchapi.StandardUnit(intern(r, names))
		case "StorageResolution":
			bit = 256
			v := r.Int32()
			d.StorageResolution = &v
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	return !r.Failed()
}

func floats(r *awsproto.CBORReader) []float64 {
	a := r.Array()
	out := make([]float64, 0, hint(a))
	for r.Next(&a) {
		out = append(out, r.Float())
	}
	return out
}

func decodeStatisticSet(r *awsproto.CBORReader, s *cloudwatchapi.StatisticSet) bool {
	var seen uint
	m := r.Map()
	for r.Next(&m) {
		var bit uint
		var p **float64
		switch string(r.Key()) {
		case "SampleCount":
			bit, p = 1, &s.SampleCount
		case "Sum":
			bit, p = 2, &s.Sum
		case "Minimum":
			bit, p = 4, &s.Minimum
		case "Maximum":
			bit, p = 8, &s.Maximum
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		v := r.Float()
		*p = &v
	}
	return !r.Failed()
}

// encodeGetMetricData encodes GetMetricData's output: the members the
// generic encoder writes (the empty strings and nil lists left out).
func encodeGetMetricData(w *awsproto.CBORWriter, out *cloudwatchapi.GetMetricDataOutput) {
	size := 64
	for i := range out.MetricDataResults {
		size += 64 + len(out.MetricDataResults[i].Label) + 18*len(out.MetricDataResults[i].Timestamps)
	}
	w.Grow(size)
	n := 0
	for _, set := range []bool{out.MetricDataResults != nil, out.NextToken != "", out.Messages != nil} {
		if set {
			n++
		}
	}
	w.Map(n)
	if out.MetricDataResults != nil {
		w.String("MetricDataResults")
		w.Array(len(out.MetricDataResults))
		for i := range out.MetricDataResults {
			appendResult(w, &out.MetricDataResults[i])
		}
	}
	if out.NextToken != "" {
		w.String("NextToken")
		w.String(out.NextToken)
	}
	if out.Messages != nil {
		w.String("Messages")
		appendMessages(w, out.Messages)
	}
}

func appendResult(w *awsproto.CBORWriter, res *cloudwatchapi.MetricDataResult) {
	n := 0
	for _, set := range []bool{res.Id != "", res.Label != "", res.Timestamps != nil, res.Values != nil, res.StatusCode != "", res.Messages != nil} {
		if set {
			n++
		}
	}
	w.Map(n)
	if res.Id != "" {
		w.String("Id")
		w.String(res.Id)
	}
	if res.Label != "" {
		w.String("Label")
		w.String(res.Label)
	}
	if res.Timestamps != nil {
		w.String("Timestamps")
		w.Array(len(res.Timestamps))
		for _, t := range res.Timestamps {
			w.Timestamp(t)
		}
	}
	if res.Values != nil {
		w.String("Values")
		w.Array(len(res.Values))
		for _, v := range res.Values {
			w.Float(v)
		}
	}
	if res.StatusCode != "" {
		w.String("StatusCode")
		w.String(string(res.StatusCode))
	}
	if res.Messages != nil {
		w.String("Messages")
		appendMessages(w, res.Messages)
	}
}

func appendMessages(w *awsproto.CBORWriter, ms []cloudwatchapi.MessageData) {
	w.Array(len(ms))
	for _, m := range ms {
		n := 0
		if m.Code != "" {
			n++
		}
		if m.Value != "" {
			n++
		}
		w.Map(n)
		if m.Code != "" {
			w.String("Code")
			w.String(m.Code)
		}
		if m.Value != "" {
			w.String("Value")
			w.String(m.Value)
		}
	}
}
