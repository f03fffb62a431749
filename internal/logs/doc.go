// Package logs owns the CloudWatch Logs API of a Gantry server: the
// operations on log groups, log streams and log events (CreateLogGroup,
// PutLogEvents, GetLogEvents, FilterLogEvents, retention and tags...), with
// AWS's validation rules and error codes, over the embedded log store
// (internal/logs/logstore) and the filter pattern language
// (internal/logs/filterpattern). Ingest is the same write path for the
// agent's awslogs shipping, with exactly-once de-duplication.
//
// # Live tailing
//
// `aws logs tail --follow` of the AWS CLI versions Debian ships (2.9) polls
// FilterLogEvents with interleaved=true and sleeps five seconds after every
// answer without a nextToken, then asks again from the newest timestamp it
// has seen. To show a line within a fraction of a second, such a request
// that finds nothing newer than its startTime is held until the group gets
// new events (Store.Notify) or TailWait passes, and its answer carries a
// tail token ("t/..."), so the CLI asks again at once instead of sleeping;
// a request with a tail token is held the same way and always answered with
// one. A plain FilterLogEvents (interleaved unset, an endTime, or anything
// newer than startTime found) is answered at once, as AWS does, so paging
// and `aws logs tail` without --follow end as usual.
//
// With several servers (API.Peers set) the tail scans every live server's
// store, its token carries one cursor per server, and a held request is
// woken by events ingested on any server: the peers answer a long poll
// (logs/wait) when their store's generation for the group moves.
package logs
