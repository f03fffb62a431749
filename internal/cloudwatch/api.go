package cloudwatch

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/cloudwatch/metricstore"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/store"
)

// The CloudWatch error shapes Gantry answers with (internal/awsproto
// writes each in the protocol of the request, with its query code).
const (
	CodeInvalidParameterValue       = "InvalidParameterValueException"
	CodeMissingParameter            = "MissingRequiredParameterException"
	CodeInvalidParameterCombination = "InvalidParameterCombinationException"
	CodeResourceNotFound            = "ResourceNotFound"
	CodeResourceNotFoundException   = "ResourceNotFoundException"
	CodeInvalidNextToken            = "InvalidNextToken"
	CodeInvalidFormat               = "InvalidFormatFault"
	CodeLimitExceeded               = "LimitExceededFault"
	CodeInternalServiceFault        = "InternalServiceFault"
)

// API is the CloudWatch operations (metrics and alarms). Its methods are
// named after the operations and dispatched by internal/apiserver; it also
// implements cwlink.Recorder, cwlink.Alarms and cwlink.AlarmStates.
type API struct {
	// Metrics holds the datapoints.
	Metrics *metricstore.Store
	// Store holds the alarms and their history (etcd).
	Store *store.Store
	// Region and Account build ARNs.
	Region, Account string
	// Logger receives the API's log lines.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Peers, when set, asks the other live servers: reads of datapoints
	// and metrics answer with every server's data, and datapoints put
	// here wake the leading alarm evaluator on another server
	// (fanout.go). Set it before the API serves.
	Peers PeerAsker

	mu      sync.RWMutex
	invoker cwlink.Invoker
	// arrival wakes the alarm evaluator when watched metrics get
	// datapoints (arrival.go).
	arrival arrivals
}

var (
	_ cwlink.Recorder    = (*API)(nil)
	_ cwlink.Alarms      = (*API)(nil)
	_ cwlink.AlarmStates = (*API)(nil)
)

// New returns the API over a metric store and the etcd store.
func New(metrics *metricstore.Store, st *store.Store, region, account string, logger *slog.Logger) *API {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &API{Metrics: metrics, Store: st, Region: region, Account: account, Logger: logger}
}

// SetInvoker sets what runs the alarms' Application Auto Scaling actions
// (nil: such actions are recorded as failed in the alarm's history).
func (a *API) SetInvoker(inv cwlink.Invoker) {
	a.mu.Lock()
	a.invoker = inv
	a.mu.Unlock()
}

func (a *API) getInvoker() cwlink.Invoker {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.invoker
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) alarmARN(name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", a.Region, a.Account, name)
}

func invalidValue(format string, args ...any) error {
	return apierror.New(CodeInvalidParameterValue, format, args...)
}

func missing(format string, args ...any) error {
	return apierror.New(CodeMissingParameter, format, args...)
}

func combination(format string, args ...any) error {
	return apierror.New(CodeInvalidParameterCombination, format, args...)
}

func badToken() error {
	return apierror.New(CodeInvalidNextToken, "The service cannot process the NextToken.")
}

// internal is a store failure: logged, answered as InternalServiceFault.
func (a *API) internal(op string, err error) error {
	if _, ok := apierror.As(err); ok {
		return err
	}
	a.Logger.Error("cloudwatch operation failed", "op", op, "err", err)
	return apierror.New(CodeInternalServiceFault, "Internal service error.")
}

func apierrorNew(code, msg string) error { return apierror.New(code, "%s", msg) }
