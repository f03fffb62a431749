package autoscaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/cwlink"
	"github.com/gantry-dev/gantry/internal/store"
)

// The only namespace and dimension Gantry scales.
const (
	NamespaceECS     = "ecs"
	DimensionDesired = "ecs:service:DesiredCount"
)

// DefaultAlarmPeriod is the period, in seconds, of the alarms target
// tracking creates. AWS uses 60 (ECS publishes one-minute metrics), which
// makes a scale-out wait three minutes; Gantry's metrics are finer and its
// issue asks for a reaction within 30 seconds, so its alarms look at 10
// second periods (a CloudWatch high-resolution alarm period), with AWS's
// datapoint counts: 3 of 3 high, 15 of 15 low.
const DefaultAlarmPeriod = 10

// Errors of Services.
var (
	// ErrServiceNotFound is a service that does not exist or is not
	// ACTIVE.
	ErrServiceNotFound = errors.New("ECS service not found")
	// ErrCountChanged is a desired count that is not the one a scaling
	// decision was computed from any more.
	ErrCountChanged = errors.New("desired count changed")
)

// Services reads and changes ECS services' desired counts (the server's
// ECS operations in-process).
type Services interface {
	// DesiredCount returns the desired count of an ACTIVE service;
	// ErrServiceNotFound if there is none.
	DesiredCount(ctx context.Context, cluster, service string) (int32, error)
	// SetDesiredCount changes the desired count from from to to, as
	// UpdateService does; ErrCountChanged if it is not from any more,
	// ErrServiceNotFound if the service is gone.
	SetDesiredCount(ctx context.Context, cluster, service string, from, to int32) error
}

// Leadership is a term won by an Elector; Lost closes when it ends.
type Leadership interface {
	Lost() <-chan struct{}
}

// Elector elects the one server that runs scheduled actions.
type Elector interface {
	// Campaign blocks until this server leads or ctx ends.
	Campaign(ctx context.Context, id string) (Leadership, error)
}

// API is Application Auto Scaling's operations for ECS services. Its
// methods are named after the operations and dispatched by
// internal/apiserver; it is also the cwlink.Invoker of the server.
type API struct {
	// Store holds targets, policies, scheduled actions and activities.
	Store *store.Store
	// Services reads and changes desired counts.
	Services Services
	// Alarms creates and deletes target tracking's alarms; nil refuses
	// target tracking policies.
	Alarms cwlink.Alarms
	// Region and Account build ARNs.
	Region, Account string
	// Logger receives the API's log lines.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// AlarmPeriod is the period of target tracking's alarms in seconds;
	// 0 is DefaultAlarmPeriod.
	AlarmPeriod int32

	locks sync.Map // target key -> *sync.Mutex: one scaling decision at a time per target

	actMu   sync.Mutex
	lastAct time.Time // the key time of the last activity recorded
}

var _ cwlink.Invoker = (*API)(nil)

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (a *API) alarmPeriod() int32 {
	if a.AlarmPeriod > 0 {
		return a.AlarmPeriod
	}
	return DefaultAlarmPeriod
}

// lock serialises the scaling decisions of one target in this process.
func (a *API) lock(key string) func() {
	m, _ := a.locks.LoadOrStore(key, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Error codes of Application Auto Scaling.
const (
	CodeValidation          = "ValidationException"
	CodeObjectNotFound      = "ObjectNotFoundException"
	CodeConcurrentUpdate    = "ConcurrentUpdateException"
	CodeInvalidNextToken    = "InvalidNextTokenException"
	CodeLimitExceeded       = "LimitExceededException"
	CodeResourceNotFound    = "ResourceNotFoundException"
	CodeTooManyTags         = "TooManyTagsException"
	CodeFailedResourceAcces = "FailedResourceAccessException"
)

func validation(format string, args ...any) error {
	return apierror.New(CodeValidation, format, args...)
}

func objectNotFound(format string, args ...any) error {
	return apierror.New(CodeObjectNotFound, format, args...)
}

// concurrentUpdate is a write that lost too many races; AWS sends it with
// status 500 (a server fault the SDKs retry).
func concurrentUpdate() error {
	return &apierror.Error{Code: CodeConcurrentUpdate, Message: "Concurrent update of the scalable target; please try again.", Status: 500}
}

// fault turns an unexpected error (not an *apierror.Error, nor the
// request's end) into Application Auto Scaling's server fault,
// InternalServiceException, logged here with what it was.
func (a *API) fault(err *error) {
	if *err == nil || errors.Is(*err, context.Canceled) {
		return
	}
	if _, ok := apierror.As(*err); ok {
		return
	}
	a.logger().Error("application auto scaling request failed", "err", *err)
	*err = &apierror.Error{Code: "InternalServiceException", Message: "The service encountered an internal error.", Status: 500}
}

// newID returns n random bytes in hex.
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (a *API) targetARN(id string) string {
	return fmt.Sprintf("arn:aws:application-autoscaling:%s:%s:scalable-target/%s", a.Region, a.Account, id)
}

func (a *API) policyARN(id, resourceID, name string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:scalingPolicy:%s:resource/%s/%s:policyName/%s", a.Region, a.Account, id, NamespaceECS, resourceID, name)
}

func (a *API) actionARN(id, resourceID, name string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:scheduledAction:%s:resource/%s/%s:scheduledActionName/%s", a.Region, a.Account, id, NamespaceECS, resourceID, name)
}

func (a *API) alarmARN(name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", a.Region, a.Account, name)
}

// defaultRoleARN is the service-linked role AWS creates for ECS targets.
func (a *API) defaultRoleARN() string {
	return fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService", a.Account)
}

// policyRef is what a policy ARN names.
type policyRef struct {
	id, resourceID, name string
}

// parsePolicyARN reads an ARN policyARN builds, of this region and account.
func (a *API) parsePolicyARN(arn string) (policyRef, bool) {
	prefix := fmt.Sprintf("arn:aws:autoscaling:%s:%s:scalingPolicy:", a.Region, a.Account)
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return policyRef{}, false
	}
	id, rest, ok := strings.Cut(rest, ":resource/"+NamespaceECS+"/")
	if !ok {
		return policyRef{}, false
	}
	res, name, ok := strings.Cut(rest, ":policyName/")
	if !ok || id == "" || res == "" || name == "" {
		return policyRef{}, false
	}
	return policyRef{id: id, resourceID: res, name: name}, true
}

// Keys of the records (under store.Prefix):
//
//	autoscaling/targets/ecs/<path-escaped resource id>/<dimension>
//	autoscaling/arns/<target id>                    -> the target's key
//	autoscaling/activities/<newest-first time>-<id>
func targetKey(resourceID string) string {
	return store.Key("autoscaling", "targets", NamespaceECS, url.PathEscape(resourceID), DimensionDesired)
}

func targetsPrefix() string { return store.Key("autoscaling", "targets", NamespaceECS) + "/" }

func arnKey(id string) string { return store.Key("autoscaling", "arns", id) }

func activitiesPrefix() string { return store.Key("autoscaling", "activities") + "/" }

// activityKey sorts newer activities first.
func activityKey(t time.Time, id string) string {
	return activitiesPrefix() + fmt.Sprintf("%016x", uint64(1<<62)-uint64(t.UnixNano())) + "-" + id
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
