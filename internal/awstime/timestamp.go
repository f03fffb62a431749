package awstime

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Timestamp is an AWS timestamp. On the wire of the JSON 1.1 protocol it is
// a number of seconds since the Unix epoch, with a fraction.
type Timestamp struct {
	time.Time
}

// NewTimestamp returns a Timestamp for t, truncated to milliseconds as ECS
// reports them.
func NewTimestamp(t time.Time) *Timestamp {
	return &Timestamp{Time: t.UTC().Truncate(time.Millisecond)}
}

// MarshalJSON writes the epoch-seconds number.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads an epoch-seconds number (an ISO 8601 string is also
// accepted, as some clients send one).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) > 1 && s[0] == '"' {
		v, err := time.Parse(time.RFC3339Nano, s[1:len(s)-1])
		if err != nil {
			return fmt.Errorf("timestamp %s: %w", s, err)
		}
		t.Time = v.UTC()
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s is not a number of seconds", s)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
	return nil
}
