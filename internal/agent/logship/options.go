package logship

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Driver is the log driver the agent implements itself.
const Driver = "awslogs"

// The awslogs options, spelled as Docker's awslogs driver and ECS spell them.
const (
	OptGroup            = "awslogs-group"
	OptRegion           = "awslogs-region"
	OptStreamPrefix     = "awslogs-stream-prefix"
	OptStream           = "awslogs-stream"
	OptCreateGroup      = "awslogs-create-group"
	OptDatetimeFormat   = "awslogs-datetime-format"
	OptMultilinePattern = "awslogs-multiline-pattern"
	OptMode             = "mode"
	OptMaxBufferSize    = "max-buffer-size"
)

// Delivery modes (the mode option).
const (
	ModeBlocking    = "blocking"
	ModeNonBlocking = "non-blocking"
)

// Defaults.
const (
	// DefaultMaxBufferSize is the in-memory buffer of the non-blocking mode
	// when max-buffer-size is not given: 1 MiB, Docker's default.
	DefaultMaxBufferSize = 1 << 20
	// LocalMaxSize and LocalMaxFile are the local driver's file size and
	// count the runtime gives an awslogs container when max-buffer-size is
	// not given (Docker's own defaults for the local driver): 5 files of
	// 20 MiB, the bounded disk buffer the blocking mode relies on.
	LocalMaxSize = "20m"
	LocalMaxFile = "5"
)

// ignoredOptions are options Docker's awslogs driver or ECS accept that
// make no difference when Gantry ships the events itself.
var ignoredOptions = map[string]bool{
	"awslogs-endpoint": true, "awslogs-credentials-endpoint": true, "awslogs-create-stream": true,
	"awslogs-force-flush-interval-seconds": true, "awslogs-max-buffered-events": true, "awslogs-format": true,
}

// Options are a container's awslogs options, checked.
type Options struct {
	Group        string
	Region       string
	StreamPrefix string
	// Stream is awslogs-stream (Docker's option), used when there is no
	// StreamPrefix.
	Stream      string
	CreateGroup bool
	// Multiline starts a new event at each line it matches (from
	// awslogs-multiline-pattern, or awslogs-datetime-format translated as
	// Docker does); nil means one event per line.
	Multiline *regexp.Regexp
	// NonBlocking is the non-blocking mode; MaxBufferSize its buffer, in
	// bytes (zero unless given).
	NonBlocking   bool
	MaxBufferSize int64
}

// ErrOptions is wrapped by every error of ParseOptions.
var ErrOptions = errors.New("invalid awslogs options")

// ParseOptions checks a container's awslogs options as Docker's awslogs
// driver does when it creates the container: awslogs-group is required,
// awslogs-datetime-format and awslogs-multiline-pattern exclude each other,
// unknown options are refused. Errors wrap ErrOptions.
func ParseOptions(opts map[string]string) (Options, error) {
	var o Options
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := opts[k]
		switch k {
		case OptGroup:
			o.Group = v
		case OptRegion:
			o.Region = v
		case OptStreamPrefix:
			o.StreamPrefix = v
		case OptStream:
			o.Stream = v
		case OptCreateGroup:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("must specify valid value for log opt '%s': %v", k, err)
			}
			o.CreateGroup = b
		case OptDatetimeFormat, OptMultilinePattern:
		case OptMode:
			switch v {
			case "", ModeBlocking:
			case ModeNonBlocking:
				o.NonBlocking = true
			default:
				bad("unknown mode %q: must be %s or %s", v, ModeBlocking, ModeNonBlocking)
			}
		case OptMaxBufferSize:
			n, err := parseSize(v)
			if err != nil || n <= 0 {
				bad("must specify a positive size for log opt '%s': %q", k, v)
			}
			o.MaxBufferSize = n
		default:
			if !ignoredOptions[k] {
				bad("unknown log opt '%s' for %s log driver", k, Driver)
			}
		}
	}
	if o.Group == "" {
		bad("must specify a value for log opt '%s'", OptGroup)
	}
	df, hasDF := opts[OptDatetimeFormat]
	mp, hasMP := opts[OptMultilinePattern]
	switch {
	case hasDF && hasMP:
		bad("you cannot configure log opt '%s' and '%s' at the same time", OptDatetimeFormat, OptMultilinePattern)
	case hasDF && df != "":
		mp = DatetimePattern(df)
		fallthrough
	case mp != "":
		re, err := regexp.Compile(mp)
		if err != nil {
			bad("awslogs could not parse multiline pattern %q: %v", mp, err)
		}
		o.Multiline = re
	}
	if len(errs) > 0 {
		return Options{}, fmt.Errorf("%w: %w", ErrOptions, errors.Join(errs...))
	}
	return o, nil
}

// StreamName is the log stream of a container as ECS names it:
// PREFIX/CONTAINER_NAME/TASK_ID with awslogs-stream-prefix; else
// awslogs-stream if given; else the container's runtime ID, the name
// Docker's awslogs driver gives a stream when ECS passes no prefix.
func (o Options) StreamName(taskArn, containerName, containerID string) string {
	if o.StreamPrefix != "" {
		return o.StreamPrefix + "/" + containerName + "/" + TaskID(taskArn)
	}
	if o.Stream != "" {
		return o.Stream
	}
	return containerID
}

// TaskID is the last part of a task ARN
// (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID → ID).
func TaskID(taskArn string) string {
	if i := strings.LastIndexByte(taskArn, '/'); i >= 0 {
		return taskArn[i+1:]
	}
	return taskArn
}

// LocalDriverConfig is the configuration of Docker's local log driver that
// an awslogs container gets: max-size from max-buffer-size when given, else
// LocalMaxSize; max-file LocalMaxFile. Errors wrap ErrOptions.
func LocalDriverConfig(opts map[string]string) (map[string]string, error) {
	o, err := ParseOptions(opts)
	if err != nil {
		return nil, err
	}
	size := LocalMaxSize
	if o.MaxBufferSize > 0 {
		size = strconv.FormatInt(o.MaxBufferSize, 10)
	}
	return map[string]string{"max-size": size, "max-file": LocalMaxFile}, nil
}

// parseSize parses a size as Docker does for max-buffer-size: a number
// with an optional binary unit b, k, m, g (kb, mb, gb, kib, ... too).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	f, err := strconv.ParseFloat(t[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}[strings.TrimSpace(t[i:])]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit", s)
	}
	return int64(f * mult), nil
}

// strftime maps the strftime directives awslogs-datetime-format may use to
// regular expressions, as Docker's awslogs driver does.
var strftime = map[string]string{
	"%a": `(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)`,
	"%A": `(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)`,
	"%w": `[0-6]`,
	"%d": `(?:0[1-9]|[1,2][0-9]|3[0,1])`,
	"%b": `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`,
	"%B": `(?:January|February|March|April|May|June|July|August|September|October|November|December)`,
	"%m": `(?:0[1-9]|1[0-2])`,
	"%Y": `\d{4}`,
	"%y": `\d{2}`,
	"%H": `(?:[0,1][0-9]|2[0-3])`,
	"%I": `(?:0[0-9]|1[0-2])`,
	"%p": `[A,P]M`,
	"%M": `[0-5][0-9]`,
	"%S": `[0-5][0-9]`,
	"%f": `\d{6}`,
	"%z": `[+-]\d{4}`,
	"%Z": `[A-Z]{1,4}T`,
	"%j": `(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])`,
	"%L": `\.\d{3}`,
}

var directive = regexp.MustCompile(`%.`)

// DatetimePattern translates an awslogs-datetime-format (strftime) into
// the regular expression that starts a multi-line event, as Docker's
// awslogs driver does: each directive becomes its pattern, the rest of the
// format stays as it is (so it is a regular expression too), and unknown
// directives are removed. Like Docker's, the pattern is not anchored: a
// line that contains a match anywhere starts a new event.
func DatetimePattern(format string) string {
	return directive.ReplaceAllStringFunc(format, func(d string) string { return strftime[d] })
}
