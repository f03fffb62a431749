// Package controller holds what Gantry's reconcile loops share: a keyed,
// de-duplicating work queue with per-key exponential backoff, and Run, which
// drives workers that call a Reconcile function for each key.
//
// A key is in the queue at most once. While a worker holds a key, adding it
// again marks it dirty instead, and Done puts it back, so one key is never
// reconciled by two workers at once and no change is lost:
//
//	Add/AddAfter --> [queued] --Get--> [processing] --Done--> (dirty? queued : gone)
//	                                       |  Add while processing: dirty
package controller
