package ecsapi

import (
	"time"

	"github.com/gantry-dev/gantry/internal/awstime"
)

// Timestamp is the timestamp type of the ECS shapes (awstime.Timestamp).
type Timestamp = awstime.Timestamp

// NewTimestamp returns a Timestamp for t, truncated to milliseconds as ECS
// reports them.
func NewTimestamp(t time.Time) *Timestamp { return awstime.NewTimestamp(t) }
