package awsproto

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestCBORHalfFloats: every half-precision number reads as its value and
// is written back in half precision (the generic encoder's shortest form),
// subnormals and signed zeros included; a value half precision cannot hold
// exactly is written wider and reads back unchanged.
func TestCBORHalfFloats(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := float16(uint16(h))
		if math.IsNaN(f) {
			continue
		}
		var w CBORWriter
		w.Float(f)
		b := w.Bytes()
		if len(b) != 3 || b[0] != 0xf9 || binary.BigEndian.Uint16(b[1:]) != uint16(h) {
			t.Fatalf("half %#04x (%v) written as % x", h, f, b)
		}
		r := CBORReader{b: b}
		if got := r.Float(); !r.Done() || math.Float64bits(got) != math.Float64bits(f) {
			t.Fatalf("half %#04x read back as %v", h, got)
		}
	}
	for _, f := range []float64{0.1, 1e-8, 65520, 3.4e38, 1e300, 0x1p-25, math.SmallestNonzeroFloat64} {
		var w CBORWriter
		w.Float(f)
		r := CBORReader{b: w.Bytes()}
		if got := r.Float(); !r.Done() || got != f || w.Bytes()[0] == 0xf9 {
			t.Fatalf("%v written as % x, read back as %v", f, w.Bytes(), got)
		}
	}
}
