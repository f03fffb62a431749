// Package ecsapi holds the Amazon ECS JSON 1.1 wire shapes, generated from
// the botocore service model (shapes_gen.go), and the helpers that encode
// them: timestamps as epoch seconds, required-member checks.
//
// The shapes are the ECS API's own and double as Gantry's stored records:
// every member a client sends is kept and returned unchanged.
package ecsapi

//go:generate go run ./gen -out shapes_gen.go
