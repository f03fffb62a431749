package logs

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/logs/logstore"
	"github.com/gantry-dev/gantry/internal/store"
)

// DefaultTailWait is how long a tailing FilterLogEvents request waits for
// new events before it answers with none.
const DefaultTailWait = 20 * time.Second

// DefaultScanBudget bounds the events one FilterLogEvents call examines;
// beyond it the call answers with what it found and a nextToken, as AWS
// answers a search over much data.
const DefaultScanBudget = 2_000_000

// The CloudWatch Logs error codes beside those apierror names. There is no
// DataAlreadyAcceptedException: AWS no longer returns it (PutLogEvents
// ignores sequence tokens), and Ingest answers a duplicate batch with nil.
const (
	CodeResourceAlreadyExists = "ResourceAlreadyExistsException"
	CodeServiceUnavailable    = "ServiceUnavailableException"
	CodeTooManyTags           = "TooManyTagsException"
)

// API is the CloudWatch Logs operations. Its methods are named after the
// operations and dispatched by internal/apiserver.
type API struct {
	// Store holds the groups, streams and events.
	Store *logstore.Store
	// Region and Account build ARNs.
	Region, Account string
	// Logger receives the API's log lines.
	Logger *slog.Logger
	// Now is the clock of PutLogEvents' time window; nil is time.Now.
	Now func() time.Time
	// TailWait is how long a tailing FilterLogEvents waits for new
	// events; 0 is DefaultTailWait.
	TailWait time.Duration
	// ScanBudget bounds the events one FilterLogEvents examines; 0 is
	// DefaultScanBudget.
	ScanBudget int
	// Peers, when set, asks the other live servers: reads (GetLogEvents,
	// FilterLogEvents and its tails, DescribeLogGroups and
	// DescribeLogStreams) answer from every server's store, merged, and
	// changes of groups and streams reach every server that holds them
	// (see fanout.go, fanread.go, fangroups.go).
	Peers PeerAsker
	// Self is this server's advertised URL, its key in merged tokens.
	Self string
	// Records, when set, is etcd: deletions of groups and streams and
	// groups' retention are recorded there, and Reconcile applies them
	// to this server's store (records.go).
	Records *store.Store

	stopOnce sync.Once
	stop     chan struct{}
	initOnce sync.Once
}

// New returns the API over store.
func New(store *logstore.Store, region, account string, logger *slog.Logger) *API {
	return &API{Store: store, Region: region, Account: account, Logger: logger}
}

func (a *API) stopped() <-chan struct{} {
	a.initOnce.Do(func() { a.stop = make(chan struct{}) })
	return a.stop
}

// Close ends the waits of tailing requests in flight (they answer with
// what they have), so that the HTTP server can shut down promptly. Later
// tailing requests do not wait. It does not close the Store.
func (a *API) Close() {
	a.stopped()
	a.stopOnce.Do(func() { close(a.stop) })
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// groupARN is a log group's ARN as DescribeLogGroups' logGroupArn and
// TagResource take it; arn adds the ":*" of the older arn member.
func (a *API) groupARN(name string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", a.Region, a.Account, name)
}

func (a *API) streamARN(group, stream string) string {
	return a.groupARN(group) + ":log-stream:" + stream
}

// groupFromARN returns the group an ARN of this region and account names
// (with or without a trailing ":*"). ok is false for anything else.
func (a *API) groupFromARN(arn string) (string, bool) {
	prefix := fmt.Sprintf("arn:aws:logs:%s:%s:log-group:", a.Region, a.Account)
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return "", false
	}
	name = strings.TrimSuffix(name, ":*")
	if name == "" || strings.Contains(name, ":") {
		return "", false
	}
	return name, true
}

// groupOf resolves the logGroupName / logGroupIdentifier pair of the
// read operations: exactly one must be given; an identifier is a name or
// a log group ARN.
func (a *API) groupOf(name, identifier string) (string, error) {
	switch {
	case name != "" && identifier != "":
		return "", invalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	case name != "":
		return name, checkGroupName("logGroupName", name)
	case identifier == "":
		return "", invalidParameter("Should provide either a LogGroup name or a LogGroup ARN.")
	}
	if len(identifier) > 2048 {
		return "", lengthError("logGroupIdentifier", identifier, "less than or equal to 2048")
	}
	if strings.HasPrefix(identifier, "arn:") {
		g, ok := a.groupFromARN(identifier)
		if !ok {
			return "", resourceNotFound("The specified log group does not exist.")
		}
		return g, nil
	}
	return identifier, checkGroupName("logGroupIdentifier", identifier)
}

func invalidParameter(format string, args ...any) error {
	return apierror.InvalidParameter(format, args...)
}

func resourceNotFound(msg string) error {
	return apierror.New(apierror.CodeResourceNotFound, "%s", msg)
}

var (
	errGroupNotFound  = resourceNotFound("The specified log group does not exist.")
	errStreamNotFound = resourceNotFound("The specified log stream does not exist.")
)

// storeError turns a logstore error into the API's: a missing group or
// stream is ResourceNotFoundException (what says which: notFound), an
// existing one ResourceAlreadyExistsException, a malformed token or query
// InvalidParameterException, a closed store ServiceUnavailableException;
// anything else is returned wrapped (a server fault).
func storeError(err error, op string, notFound error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, logstore.ErrNotFound):
		return notFound
	case errors.Is(err, logstore.ErrExists):
		return apierror.New(CodeResourceAlreadyExists, "%s", existsMessage(notFound))
	case errors.Is(err, logstore.ErrInvalidArgument):
		return invalidParameter("The specified nextToken is invalid.")
	case errors.Is(err, logstore.ErrFull):
		return apierror.New(CodeServiceUnavailable, "The log store is full (%v); writes are refused until space is freed, reads still work.", err)
	case errors.Is(err, logstore.ErrClosed):
		return apierror.New(CodeServiceUnavailable, "The service cannot complete the request.")
	}
	return fmt.Errorf("%s: %w", op, err)
}

func existsMessage(notFound error) string {
	if notFound == errStreamNotFound {
		return "The specified log stream already exists"
	}
	return "The specified log group already exists"
}
