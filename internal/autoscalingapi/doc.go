// Package autoscalingapi holds the wire shapes of the Application Auto
// Scaling API (signing name application-autoscaling; awsJson 1.1), generated
// by internal/apigen from the pinned botocore model: every structure and
// enumeration (shapes_gen.go), and the API's metadata, operations and errors
// (service_gen.go). The protocol layer decodes requests into these shapes and
// encodes them by their struct tags. Regenerate with go generate
// ./internal/apigen; never edit the generated files.
package autoscalingapi
