// Package logship is the agent's awslogs log driver: it ships the output of
// containers whose logConfiguration.logDriver is awslogs to the control
// plane, exactly once and in order, instead of Docker's own awslogs driver
// (which would try to reach the real CloudWatch Logs).
//
// The runtime creates such a container with Docker's local log driver
// (LocalDriverConfig: rotated files on disk, bounded). For each one, a
// shipper reads the output back through the runtime (runtime.LogReader:
// the local driver's files, read directly, or Docker's ContainerLogs with
// follow and timestamps), assembles events
// (long lines joined again; multi-line events with
// awslogs-multiline-pattern or awslogs-datetime-format, as Docker's driver
// makes them), and sends them in batches through a Sink (the
// GantryPutLogEvents extension operation):
//
//	runtime log files --ReadLogs--> reader --frames--> assembler --events--> pending
//	                                                                            |
//	checkpoint file <--(in flight, then acknowledged)-- sender --batches--> Sink
//
// A batch holds up to 10,000 events and 1 MiB (26 bytes of overhead per
// event), or what came within 200 ms of its first event; a container's
// batches that are not full start at least a second apart (each costs a
// checkpoint on disk and a request). Every batch carries (producer,
// batchSeq); the producer is the instance, task and container, batchSeq
// grows by one per batch. Before a batch is sent it is written to the
// container's checkpoint as in flight (a journal file: appended, then fdatasync); once
// the server acknowledges it, the checkpoint moves past it (in memory; on
// disk with the next batch, or once the shipper is idle, without an
// fsync: a checkpoint that still says in flight only makes a restarted
// agent re-send a batch the server de-duplicates): its position
// is the Docker timestamp (nanoseconds) of the batch's last frame and that
// frame's ordinal among consecutive frames with the same timestamp. A
// restarted agent (even after SIGKILL) re-sends the batch in flight as it
// was, same batchSeq and events, so the server, which de-duplicates by
// (producer, batchSeq), stores it once; then it reads the output again from
// the checkpoint.
//
// The spool (spool.go): once a batch could not be sent (the server is
// unreachable), and in non-blocking mode also once max-buffer-size is
// full, the events waiting in memory and every event read after them go
// to an on-disk spool beside the checkpoint, in order, and are shipped
// from it; the checkpoint records how far the spool is acknowledged, so a
// restarted agent ships the rest once and reads the container's output
// again after the last spooled frame. Config.SpoolSize bounds all the
// spools together.
//
// mode blocking: the shipper reads at most about 2 MiB ahead of a server
// that is behind (the rest waits in the local driver's files: 5 files of
// 20 MiB, or of max-buffer-size), and spools while the server is
// unreachable; at the spools' bound it stops reading. mode non-blocking:
// the shipper keeps reading and spools; at the spools' bound (or with no
// spool, beyond max-buffer-size, 1 MiB by default) it drops events and
// says so in the agent's log and in Reason, which the task engine puts in
// the container's reason.
//
// The task engine calls Prepare before a container starts (the server
// creates the stream, and refuses a missing group without
// awslogs-create-group, as Docker's driver does at start), Follow once it
// has started (or was found after a restart), waits for Drained before it
// removes a stopped task's containers (removing a container removes its
// log files), and calls Forget once it has. For the containers of a task
// it no longer runs (stopped by the control plane while the agent was
// away), Resume finishes shipping from the checkpoint, which keeps the
// container's log options for that.
package logship
