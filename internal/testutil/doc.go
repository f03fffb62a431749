// Package testutil holds helpers for Gantry's tests.
//
// Docker: RequireDocker returns a client of the local Docker Engine, or skips
// the test (under -short, or when the Engine is unreachable outside CI) or
// fails it (unreachable while CI is set). BuildImage compiles a static Go
// program with the local toolchain and builds a FROM-scratch image of it
// through the Engine's API, so no registry is needed; TestServerImage builds
// the shared test server (see package testserver). CleanupLabelled removes
// what a test created, by label, when the test ends.
//
// Images are a cache, not test garbage: an image is labelled with a hash of
// its source and rebuilt only when the source changes, so packages that
// build the same program in parallel or in later runs pay once.
// RemoveTestImages deletes them all.
//
// etcd: StartEtcd starts an embedded member for an integration test (it
// skips under -short). Clock is a manual clock for code that takes a
// func() time.Time, such as the in-memory store's leases.
package testutil
