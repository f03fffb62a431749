// Package caller carries who made a request, as the API server
// authenticated it, from the API server to the operations of every service.
package caller

import "context"

type key struct{}

// Caller is who made a request.
type Caller struct {
	AccessKeyID string
	// Principal is the caller's IAM-style ARN (account settings are kept
	// per principal).
	Principal string
	RequestID string
}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, key{}, c)
}

// CallerFrom returns the caller in ctx (zero if none).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(key{}).(Caller)
	return c
}
