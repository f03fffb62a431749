package apiserver

import (
	"context"

	"github.com/gantry-dev/gantry/internal/apierror"
	"github.com/gantry-dev/gantry/internal/autoscalingapi"
	"github.com/gantry-dev/gantry/internal/awsop"
	"github.com/gantry-dev/gantry/internal/awsproto"
	"github.com/gantry-dev/gantry/internal/cloudwatchapi"
	"github.com/gantry-dev/gantry/internal/ecrapi"
	"github.com/gantry-dev/gantry/internal/ecsapi"
	"github.com/gantry-dev/gantry/internal/elbv2api"
	"github.com/gantry-dev/gantry/internal/logsapi"
)

// ECS returns the Amazon ECS service: the model's operations and Gantry's
// extensions (GantryPollTasks...), dispatched to handler's methods.
// Validation errors are InvalidParameterException, as ECS answers them; the
// model's error statuses are not applied, so every ECS error keeps the
// status apierror gives it.
func ECS(handler any, withCaller func(context.Context, Caller) context.Context) Service {
	ops := ecsapi.Operations()
	for name, io := range ecsapi.ExtensionOperations() {
		op := awsop.Operation{Name: name, Input: ecsapi.ExtensionShapeType(io[0])}
		if io[1] != "" {
			op.Output = ecsapi.ExtensionShapeType(io[1])
		}
		ops[name] = op
	}
	return Service{
		Meta: awsproto.Service{
			SigningName:    ecsapi.SigningName,
			APIVersion:     ecsapi.APIVersion,
			TargetPrefix:   ecsapi.TargetPrefix,
			JSONVersion:    ecsapi.JSONVersion,
			XMLNamespace:   ecsapi.XMLNamespace,
			Protocols:      ecsapi.Protocols(),
			ValidationCode: apierror.CodeInvalidParameter,
		},
		Operations: ops,
		Handler:    handler,
		WithCaller: withCaller,
	}
}

// Logs returns the CloudWatch Logs service dispatched to handler's methods
// (internal/logs). Validation errors are InvalidParameterException, as
// CloudWatch Logs answers them.
func Logs(handler any) Service {
	return Service{
		Meta: awsproto.Service{
			SigningName:    logsapi.SigningName,
			APIVersion:     logsapi.APIVersion,
			TargetPrefix:   logsapi.TargetPrefix,
			JSONVersion:    logsapi.JSONVersion,
			XMLNamespace:   logsapi.XMLNamespace,
			Protocols:      logsapi.Protocols(),
			Errors:         logsapi.Errors(),
			ValidationCode: apierror.CodeInvalidParameter,
		},
		Operations: logsapi.Operations(),
		Handler:    handler,
	}
}

// ELBv2 returns Elastic Load Balancing v2 (query protocol) dispatched to
// handler's methods; a nil handler answers every operation with the
// protocol's unknown-operation error.
func ELBv2(handler any) Service {
	return Service{Meta: awsproto.Service{SigningName: elbv2api.SigningName, APIVersion: elbv2api.APIVersion, TargetPrefix: elbv2api.TargetPrefix,
		JSONVersion: elbv2api.JSONVersion, XMLNamespace: elbv2api.XMLNamespace, Protocols: elbv2api.Protocols(), Errors: elbv2api.Errors()},
		Operations: elbv2api.Operations(), Handler: handler}
}

// CloudWatch returns CloudWatch (metrics and alarms; CBOR, JSON 1.0 and
// query) dispatched to handler's methods; a nil handler answers every
// operation with the protocol's unknown-operation error.
func CloudWatch(handler any) Service {
	return Service{Meta: awsproto.Service{SigningName: cloudwatchapi.SigningName, APIVersion: cloudwatchapi.APIVersion, TargetPrefix: cloudwatchapi.TargetPrefix,
		JSONVersion: cloudwatchapi.JSONVersion, XMLNamespace: cloudwatchapi.XMLNamespace, Protocols: cloudwatchapi.Protocols(), Errors: cloudwatchapi.Errors()},
		Operations: cloudwatchapi.Operations(), Handler: handler}
}

// AutoScaling returns Application Auto Scaling (JSON 1.1) dispatched to
// handler's methods; a nil handler answers every operation with the
// protocol's unknown-operation error.
func AutoScaling(handler any) Service {
	return Service{Meta: awsproto.Service{SigningName: autoscalingapi.SigningName, APIVersion: autoscalingapi.APIVersion, TargetPrefix: autoscalingapi.TargetPrefix,
		JSONVersion: autoscalingapi.JSONVersion, XMLNamespace: autoscalingapi.XMLNamespace, Protocols: autoscalingapi.Protocols(), Errors: autoscalingapi.Errors()},
		Operations: autoscalingapi.Operations(), Handler: handler}
}

// ECR returns Amazon ECR (JSON 1.1) dispatched to handler's methods; a nil
// handler answers every operation with the protocol's unknown-operation
// error.
func ECR(handler any) Service {
	return Service{Meta: awsproto.Service{SigningName: ecrapi.SigningName, APIVersion: ecrapi.APIVersion, TargetPrefix: ecrapi.TargetPrefix,
		JSONVersion: ecrapi.JSONVersion, XMLNamespace: ecrapi.XMLNamespace, Protocols: ecrapi.Protocols(), Errors: ecrapi.Errors()},
		Operations: ecrapi.Operations(), Handler: handler}
}

// Stubs returns the neighbour services with no handler: Elastic Load
// Balancing v2, CloudWatch, Application Auto Scaling and ECR, each
// answering the protocol's unknown-operation error to every operation.
func Stubs() []Service {
	return []Service{ELBv2(nil), CloudWatch(nil), AutoScaling(nil), ECR(nil)}
}

// SigningNames returns the SigV4 scopes of services, for
// sigv4.NewServicesVerifier.
func SigningNames(services []Service) []string {
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Meta.SigningName
	}
	return names
}
