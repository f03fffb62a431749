package metricstore

import (
	"encoding/binary"
	"errors"
	"math"
)

// A datum's value is encoded as:
//
//	flags (1: bit 0 high resolution, bit 1 statistic set, bit 2 counts)
//	unit (uvarint length, bytes)
//	statistic set: SampleCount, Sum, Min, Max (float64 bits, little-endian)
//	otherwise: n (uvarint), n values, and n counts if flag bit 2
const (
	flagHighRes = 1 << iota
	flagStats
	flagCounts
)

var errCorrupt = errors.New("corrupt datum")

func encodeDatum(b []byte, d *Datum) []byte {
	var flags byte
	if d.HighResolution {
		flags |= flagHighRes
	}
	counts := d.Counts != nil
	if counts {
		counts = false
		for _, c := range d.Counts {
			if c != 1 {
				counts = true
				break
			}
		}
	}
	switch {
	case d.Stats != nil:
		flags |= flagStats
	case counts:
		flags |= flagCounts
	}
	b = append(b, flags)
	b = appendString(b, d.Unit)
	if d.Stats != nil {
		for _, f := range [4]float64{d.Stats.SampleCount, d.Stats.Sum, d.Stats.Min, d.Stats.Max} {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(d.Values)))
	for _, v := range d.Values {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	if counts {
		for _, c := range d.Counts {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(c))
		}
	}
	return b
}

// decodeDatum fills d from b, reusing d's slices.
func decodeDatum(b []byte, d *Datum) error {
	if len(b) < 2 {
		return errCorrupt
	}
	flags := b[0]
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return errCorrupt
	}
	unit := b[k : k+int(n)]
	if string(unit) != d.Unit { // reuse the string when unchanged
		d.Unit = string(unit)
	}
	b = b[k+int(n):]
	d.HighResolution = flags&flagHighRes != 0
	d.Values, d.Counts = d.Values[:0], d.Counts[:0]
	if flags&flagStats != 0 {
		if len(b) < 32 {
			return errCorrupt
		}
		if d.Stats == nil {
			d.Stats = new(Stats)
		}
		d.Stats.SampleCount = f64(b[0:])
		d.Stats.Sum = f64(b[8:])
		d.Stats.Min = f64(b[16:])
		d.Stats.Max = f64(b[24:])
		return nil
	}
	d.Stats = nil
	cnt, k := binary.Uvarint(b)
	if k <= 0 {
		return errCorrupt
	}
	b = b[k:]
	need := cnt * 8
	if flags&flagCounts != 0 {
		need *= 2
	}
	if uint64(len(b)) < need {
		return errCorrupt
	}
	for i := uint64(0); i < cnt; i++ {
		d.Values = append(d.Values, f64(b[i*8:]))
	}
	if flags&flagCounts != 0 {
		b = b[cnt*8:]
		for i := uint64(0); i < cnt; i++ {
			d.Counts = append(d.Counts, f64(b[i*8:]))
		}
	} else {
		d.Counts = nil
	}
	return nil
}

func f64(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
