package awsproto

import (
	"encoding/binary"
	"math"
	"reflect"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gantry-dev/gantry/internal/awstime"
)

// Fast paths of the CBOR codec for the operations whose bodies are large
// (CloudWatch's PutMetricData input, GetMetricData output): an input or
// output structure decodes or encodes itself straight from or to the wire,
// without the generic tree and reflection of cbor.go.
//
// A fast decoder handles what the AWS SDKs send (definite or indefinite
// maps and arrays, text keys, the members it knows); anything else in the
// body (an unknown member, a null, a duplicate key, a value of another
// type, malformed CBOR) makes it give up, and the generic decoder decodes
// the body again from the start, so that every error is the generic one.

// fastCodec is a structure type's hand-written codec.
type fastCodec struct {
	decode func(r *CBORReader, v any) bool
	encode func(w *CBORWriter, v any)
}

var fastCodecs sync.Map // pointer to structure type -> *fastCodec

// RegisterFastCBOR registers hand-written CBOR codecs of the structure T:
// decode (nil for none) fills a zero T from r, and reports false (or
// leaves r failed) for a body it does not handle; encode (nil for none)
// appends T as the generic encoder would write it.
func RegisterFastCBOR[T any](decode func(r *CBORReader, v *T) bool, encode func(w *CBORWriter, v *T)) {
	c := &fastCodec{}
	if old, ok := fastCodecs.Load(reflect.TypeFor[*T]()); ok {
		*c = *old.(*fastCodec)
	}
	if decode != nil {
		c.decode = func(r *CBORReader, v any) bool { return decode(r, v.(*T)) }
	}
	if encode != nil {
		c.encode = func(w *CBORWriter, v any) { encode(w, v.(*T)) }
	}
	fastCodecs.Store(reflect.TypeFor[*T](), c)
}

func fastCodecOf(v any) *fastCodec {
	if c, ok := fastCodecs.Load(reflect.TypeOf(v)); ok {
		return c.(*fastCodec)
	}
	return nil
}

// maxCBORItems is the most elements an array or pairs a map may have, as
// the generic decoder's options allow.
const maxCBORItems = 1 << 20

// CBORReader reads CBOR data items from a body in order. Its methods
// return zero values once it has failed (Failed); a caller checks at the
// end.
type CBORReader struct {
	b      []byte
	off    int
	failed bool
}

// NewCBORReader returns a reader of body.
func NewCBORReader(body []byte) *CBORReader { return &CBORReader{b: body} }

// Failed reports whether the reader met something it does not handle.
func (r *CBORReader) Failed() bool { return r.failed }

// Fail marks the reader failed.
func (r *CBORReader) Fail() { r.failed = true }

// Done reports whether the whole body was read without failure.
func (r *CBORReader) Done() bool { return !r.failed && r.off == len(r.b) }

// head reads an item's initial byte and argument: the major type, the
// additional information and the argument (for ai < 28).
func (r *CBORReader) head() (major, ai byte, arg uint64) {
	if r.failed || r.off >= len(r.b) {
		r.failed = true
		return 0, 0, 0
	}
	c := r.b[r.off]
	r.off++
	major, ai = c>>5, c&0x1f
	switch {
	case ai < 24:
		return major, ai, uint64(ai)
	case ai == 24:
		if r.off+1 > len(r.b) {
			break
		}
		arg = uint64(r.b[r.off])
		r.off++
		return major, ai, arg
	case ai == 25:
		if r.off+2 > len(r.b) {
			break
		}
		arg = uint64(binary.BigEndian.Uint16(r.b[r.off:]))
		r.off += 2
		return major, ai, arg
	case ai == 26:
		if r.off+4 > len(r.b) {
			break
		}
		arg = uint64(binary.BigEndian.Uint32(r.b[r.off:]))
		r.off += 4
		return major, ai, arg
	case ai == 27:
		if r.off+8 > len(r.b) {
			break
		}
		arg = binary.BigEndian.Uint64(r.b[r.off:])
		r.off += 8
		return major, ai, arg
	case ai == 31 && (major == 4 || major == 5):
		return major, ai, 0 // indefinite array or map
	}
	r.failed = true
	return 0, 0, 0
}

// CBORContainer is the state of an array or map being read.
type CBORContainer struct {
	left int // items (pairs) still to read; -1 for an indefinite length
	seen int
}

// Len returns the number of elements (pairs) of a definite-length
// container still to read, -1 for an indefinite one.
func (c CBORContainer) Len() int { return c.left }

// Map starts reading a map.
func (r *CBORReader) Map() CBORContainer { return r.container(5) }

// Array starts reading an array.
func (r *CBORReader) Array() CBORContainer { return r.container(4) }

func (r *CBORReader) container(want byte) CBORContainer {
	major, ai, arg := r.head()
	if r.failed || major != want {
		r.failed = true
		return CBORContainer{}
	}
	if ai == 31 {
		return CBORContainer{left: -1}
	}
	if arg > maxCBORItems {
		r.failed = true
		return CBORContainer{}
	}
	return CBORContainer{left: int(arg)}
}

// Next reports whether c has another element (pair), consuming an
// indefinite container's break at its end.
func (r *CBORReader) Next(c *CBORContainer) bool {
	if r.failed {
		return false
	}
	if c.left == -1 {
		if r.off < len(r.b) && r.b[r.off] == 0xff {
			r.off++
			return false
		}
		if c.seen++; c.seen > maxCBORItems {
			r.failed = true
			return false
		}
		return true
	}
	if c.left == 0 {
		return false
	}
	c.left--
	return true
}

// text reads a definite-length text string's bytes (not copied).
func (r *CBORReader) text() []byte {
	major, _, n := r.head()
	if r.failed || major != 3 || n > uint64(len(r.b)-r.off) {
		r.failed = true
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// Key reads a map key (a text string; not copied, so only to compare).
func (r *CBORReader) Key() []byte { return r.text() }

// String reads a text string, which must be valid UTF-8.
func (r *CBORReader) String() string { return r.Validated(r.text()) }

// Validated returns a copy of a text string read by Key, checked as
// String checks it.
func (r *CBORReader) Validated(s []byte) string {
	if r.failed || !utf8.Valid(s) {
		r.failed = true
		return ""
	}
	return string(s)
}

// Bool reads a boolean.
func (r *CBORReader) Bool() bool {
	if r.failed || r.off >= len(r.b) {
		r.failed = true
		return false
	}
	switch r.b[r.off] {
	case 0xf4:
		r.off++
		return false
	case 0xf5:
		r.off++
		return true
	}
	r.failed = true
	return false
}

// Float reads a number: a float of any width or an integer.
func (r *CBORReader) Float() float64 {
	major, ai, arg := r.head()
	if r.failed {
		return 0
	}
	switch major {
	case 0:
		return float64(arg)
	case 1:
		if arg > math.MaxInt64 {
			break
		}
		return float64(-1 - int64(arg))
	case 7:
		switch ai {
		case 25:
			return float16(uint16(arg))
		case 26:
			return float64(math.Float32frombits(uint32(arg)))
		case 27:
			return math.Float64frombits(arg)
		}
	}
	r.failed = true
	return 0
}

// Int32 reads an integer in int32's range.
func (r *CBORReader) Int32() int32 {
	major, ai, arg := r.head()
	if r.failed || ai > 27 {
		r.failed = true
		return 0
	}
	switch {
	case major == 0 && arg <= math.MaxInt32:
		return int32(arg)
	case major == 1 && arg <= math.MaxInt32:
		return int32(-1 - int64(arg))
	}
	r.failed = true
	return 0
}

// Timestamp reads a timestamp as the generic decoder does: tag 1 with an
// integer or a float of epoch seconds (rounded to milliseconds), or a bare
// number of epoch seconds.
func (r *CBORReader) Timestamp() awstime.Timestamp {
	if r.failed || r.off >= len(r.b) {
		r.failed = true
		return awstime.Timestamp{}
	}
	if r.b[r.off] != 0xc1 { // not tag 1: a bare number
		f := r.Float()
		if r.failed || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) >= 1e13 {
			r.failed = true
			return awstime.Timestamp{}
		}
		return epochTimestamp(f)
	}
	r.off++
	major, ai, arg := r.head()
	if r.failed {
		return awstime.Timestamp{}
	}
	var t time.Time
	switch {
	case major == 0 && arg <= math.MaxInt64:
		t = time.Unix(int64(arg), 0)
	case major == 1 && arg <= math.MaxInt64:
		t = time.Unix(-1-int64(arg), 0)
	case major == 7 && ai >= 25 && ai <= 27:
		var f float64
		switch ai {
		case 25:
			f = float16(uint16(arg))
		case 26:
			f = float64(math.Float32frombits(uint32(arg)))
		default:
			f = math.Float64frombits(arg)
		}
		sec, frac := math.Modf(f)
		if math.IsNaN(f) || math.IsInf(f, 0) || sec >= math.MaxInt64 || sec < math.MinInt64 {
			r.failed = true
			return awstime.Timestamp{}
		}
		t = time.Unix(int64(sec), int64(frac*1e9))
	default:
		r.failed = true
		return awstime.Timestamp{}
	}
	return awstime.Timestamp{Time: t.UTC().Round(time.Millisecond)}
}

// float16 converts an IEEE 754 half-precision number.
func float16(h uint16) float64 {
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	var f float64
	switch exp {
	case 0:
		f = math.Ldexp(frac, -24)
	case 0x1f:
		if frac == 0 {
			f = math.Inf(1)
		} else {
			f = math.NaN()
		}
	default:
		f = math.Ldexp(1024+frac, exp-25)
	}
	if h&0x8000 != 0 {
		f = -f
	}
	return f
}

// CBORWriter appends CBOR data items to a buffer.
type CBORWriter struct {
	b []byte
}

// Bytes returns what was written.
func (w *CBORWriter) Bytes() []byte { return w.b }

// Grow makes room for n more bytes.
func (w *CBORWriter) Grow(n int) {
	if cap(w.b)-len(w.b) < n {
		nb := make([]byte, len(w.b), len(w.b)+n)
		copy(nb, w.b)
		w.b = nb
	}
}

func (w *CBORWriter) head(major byte, n uint64) {
	switch {
	case n < 24:
		w.b = append(w.b, major<<5|byte(n))
	case n <= math.MaxUint8:
		w.b = append(w.b, major<<5|24, byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, major<<5|25), uint16(n))
	case n <= math.MaxUint32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, major<<5|26), uint32(n))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, major<<5|27), n)
	}
}

// Map writes the head of a map of n pairs.
func (w *CBORWriter) Map(n int) { w.head(5, uint64(n)) }

// Array writes the head of an array of n elements.
func (w *CBORWriter) Array(n int) { w.head(4, uint64(n)) }

// String writes a text string.
func (w *CBORWriter) String(s string) {
	w.head(3, uint64(len(s)))
	w.b = append(w.b, s...)
}

// Int writes an integer.
func (w *CBORWriter) Int(n int64) {
	if n >= 0 {
		w.head(0, uint64(n))
	} else {
		w.head(1, uint64(-1-n))
	}
}

// Float writes a float in the shortest of the half, single and double
// widths that holds it exactly, as the generic encoder does.
func (w *CBORWriter) Float(f float64) {
	switch {
	case math.IsNaN(f):
		w.b = append(w.b, 0xf9, 0x7e, 0x00)
		return
	case math.IsInf(f, 1):
		w.b = append(w.b, 0xf9, 0x7c, 0x00)
		return
	case math.IsInf(f, -1):
		w.b = append(w.b, 0xf9, 0xfc, 0x00)
		return
	}
	f32 := float32(f)
	if float64(f32) != f {
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xfb), math.Float64bits(f))
		return
	}
	if h, ok := toFloat16(f32); ok {
		w.b = binary.BigEndian.AppendUint16(append(w.b, 0xf9), h)
		return
	}
	w.b = binary.BigEndian.AppendUint32(append(w.b, 0xfa), math.Float32bits(f32))
}

// toFloat16 returns the half-precision form of f when it holds f exactly.
func toFloat16(f float32) (uint16, bool) {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int(bits>>23&0xff) - 127
	mant := bits & 0x7fffff
	switch {
	case bits&0x7fffffff == 0:
		return sign, true
	case exp >= -14 && exp <= 15: // normal half
		if mant&0x1fff != 0 {
			return 0, false
		}
		return sign | uint16(exp+15)<<10 | uint16(mant>>13), true
	case exp >= -24 && exp < -14: // subnormal half: (1.mant) * 2^exp = m * 2^-24
		full := mant | 0x800000 // value full * 2^(exp-23) = (full >> shift) * 2^-24
		shift := uint(-1 - exp)
		if full&(1<<shift-1) != 0 {
			return 0, false
		}
		return sign | uint16(full>>shift), true
	}
	return 0, false
}

// Timestamp writes tag 1 with the epoch seconds: an integer when whole,
// else a float with the milliseconds, as the generic encoder does.
func (w *CBORWriter) Timestamp(t awstime.Timestamp) {
	w.b = append(w.b, 0xc1)
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		w.Int(ms / 1000)
		return
	}
	w.Float(float64(ms) / 1000)
}
