// Package awsop describes the operations and errors of a generated AWS API
// package (internal/<svc>api): the protocol layer and the router read them to
// decode a request into an operation's input shape and to render its errors.
// It imports only reflect, so every generated package may link it.
package awsop

import "reflect"

// Operation is one operation of an AWS API as its model defines it.
type Operation struct {
	// Name is the operation's name, e.g. "CreateLoadBalancer": the part of
	// the X-Amz-Target after the dot, the query protocol's Action.
	Name string
	// Input is the Go type (a struct, not a pointer) of the operation's
	// input shape, or nil when the operation takes none.
	Input reflect.Type
	// Output is the Go type (a struct, not a pointer) of the operation's
	// output shape, or nil when the operation returns none.
	Output reflect.Type
	// ResultWrapper is the element that wraps the output in a query
	// protocol response (e.g. "CreateLoadBalancerResult"), or "" when the
	// model names none.
	ResultWrapper string
}

// ErrorInfo is one error (exception shape) of an AWS API as its model
// defines it.
type ErrorInfo struct {
	// Shape is the name of the exception shape, e.g.
	// "LoadBalancerNotFoundException".
	Shape string
	// Code is the error code written on the wire: the model's error.code
	// when it gives one (ELBv2's "LoadBalancerNotFound"), else Shape.
	Code string
	// HTTPStatus is the response's status code: the model's
	// error.httpStatusCode when it gives one, else 500 for a shape marked
	// as a server fault and 400 otherwise.
	HTTPStatus int
	// Sender reports a client (sender) fault, as opposed to a server
	// (receiver) one; the query protocol writes it as <Type>Sender</Type>.
	Sender bool
}
