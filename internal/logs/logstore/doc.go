// Package logstore owns the storage of CloudWatch Logs data on a Gantry
// server: log groups, their log streams and the log events in them, kept in
// an embedded key-value store in a data directory. It offers appends with
// exactly-once de-duplication per producer, GetLogEvents-style reads of one
// stream, FilterLogEvents-style scans merged over many streams, retention
// and a disk bound. It knows nothing of the wire protocol: the CloudWatch
// Logs operations and the agent's log shipping call this API.
//
// # Why Pebble
//
// Log events are written far more than they are read, arrive in large
// batches, and are read back as ordered ranges of one stream by time; an
// LSM tree (github.com/cockroachdb/pebble, CockroachDB's storage engine)
// turns those writes into sequential WAL appends and memtable inserts with
// group commit of concurrent synced batches, keeps keys ordered for range
// scans, compresses blocks, and drops expired ranges cheaply with range
// tombstones. etcd holds desired state and is built for small, replicated,
// transactional values with a full history, not for hundreds of thousands
// of events a second; bbolt (etcd's backend) is a copy-on-write B+tree with
// one writer and a page rewrite per commit, so its write amplification and
// fsync-per-transaction cost grow with the volume logs bring.
//
// # Data model and keys
//
// Names never contain NUL bytes, so NUL separates them in keys:
//
//	g/<group>                                      group record (JSON)
//	s/<group>\x00<stream>                          stream record (JSON): times, bytes, next sequence, producers
//	l/<group>\x00<lastEventTs 8B><stream>          index of streams by last event time (empty value)
//	e/<group>\x00<stream>\x00<ts 8B><seq 8B>       event: uvarint ingestion time, then the message
//
// Timestamps are milliseconds since the epoch, encoded big-endian with the
// sign bit flipped so that byte order is numeric order. The sequence is a
// per-stream arrival counter, so events of a stream are ordered by
// (timestamp, arrival) as CloudWatch Logs orders them. A stream's record is
// written in the same synced batch as its events, so after a crash a
// stream's metadata, its events and its producers' last batch sequences
// always agree. Group and stream metadata are also kept in memory (loaded at
// Open); a group's stored bytes are the sum of its streams'.
//
// # Size accounting
//
// Stored bytes are counted as CloudWatch Logs counts a batch: the message's
// length in bytes plus 26 bytes per event. Options.MaxBytes bounds the sum
// of all groups' stored bytes; see EnforceRetention for the policy. The
// files on disk are usually smaller (blocks are compressed) and lag behind
// deletions until Pebble compacts the deleted ranges away.
//
// # Concurrency
//
// A Store is safe for concurrent use. Appends to different streams commit
// in parallel and share fsyncs (Pebble's commit pipeline); appends to one
// stream are serialised by a per-stream lock held across the commit, so
// their sequences and records are written in order.
package logstore
