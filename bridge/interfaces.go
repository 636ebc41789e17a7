package bridge

import (
	"context"
	"time"

	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// The pipeline talks to Kafka and MIMC only through these interfaces; the
// kafka and mimc packages implement them, and tests use fakes.

// Source opens the partitions assigned to this member.
type Source interface {
	// Open returns a reader of a.TopicPartition that starts at a.Offset.
	// It is called once per assignment at the start of a generation, from
	// that partition's fetcher; it should not wait on the network (errors
	// reaching the broker come from Next). An error leaves the partition
	// unread for the rest of the generation.
	Open(a Assignment) (PartitionReader, error)
}

// PartitionReader yields the records of one partition. One goroutine (the
// partition's fetcher) calls it.
type PartitionReader interface {
	// Next blocks until the next record, in offset order, or until ctx
	// ends; then it returns an error (ctx's) at once. Any other error is
	// transient: the reader has paused before returning it, and Next is
	// called again.
	Next(ctx context.Context) (Record, error)
	// Close releases the reader once its fetcher is done with it.
	Close() error
}

// Pusher sends one call to MIMC.
type Pusher interface {
	// Push sends call, retrying as MIMC's answers allow, and returns one
	// packet id per recipient in order, or the error that ended it (a
	// *mimc.Error carries the attempts made). It blocks for as long as
	// the retries take and returns promptly once ctx ends. The senders
	// call it concurrently.
	Push(ctx context.Context, call mimc.Call) (mimc.Result, error)
}

// Publisher writes outcome records to the results topic.
type Publisher interface {
	// Publish returns nil once every message is acknowledged by the
	// results topic. It retries failures itself and blocks until then,
	// however long that takes, or until ctx ends: then it returns an error
	// and no message of msgs counts as written. shrink gives a smaller
	// value for msgs[i] the broker refused as too large. One goroutine
	// (the writer) calls it.
	Publish(ctx context.Context, msgs []Message, shrink ShrinkFunc) error
}

// Committer commits the input offsets of one generation.
type Committer interface {
	// Commit commits, per partition, the next offset to read, and with it
	// since[tp]: no outcome of a record at or after offsets[tp] was
	// written before it (the next owner's Assignment.OutcomesSince). It
	// blocks for one request; an error leaves the offsets for the next
	// try. Once the generation's handler has returned it must refuse
	// without sending anything (ErrGenerationEnded). One
	// goroutine calls it at a time. It gives up when ctx ends.
	Commit(ctx context.Context, offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) error
}

// Scanner finds the outcomes the results topic already holds for records
// of the assigned partitions: written before a crash, by a drain that ran
// out of time, or by a member that lost its partitions without leaving.
type Scanner interface {
	// Scan returns, per assignment with an OutcomesSince, the offsets at
	// or after its Offset whose outcome the results topic holds; it does
	// not look for the others. It blocks for the scan and returns when
	// ctx ends. On an error nothing is found: a record done again repeats
	// a push, a record skipped wrongly would be lost.
	Scan(ctx context.Context, assignments []Assignment) (Done, ScanStats, error)
	// FirstOffsets returns the first offset of every partition asked:
	// where a partition with no commit starts. It blocks for one request
	// and returns when ctx ends.
	FirstOffsets(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error)
}

// EndOffsets looks up where partitions end, for the lag gauges.
type EndOffsets interface {
	// EndOffsets returns the next offset to be written of every partition
	// asked. It blocks for one request and returns when ctx ends.
	EndOffsets(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error)
}

// PartitionCounter counts partitions, for this member's share of the quota.
type PartitionCounter interface {
	// PartitionCount returns the number of partitions of all the topics
	// together. It blocks for one request per topic and returns when ctx
	// ends.
	PartitionCount(ctx context.Context, topics []string) (int, error)
}

// Group is this member of the consumer group.
type Group interface {
	// Run joins the group and calls handle for every generation, one at a
	// time, until ctx ends; then it waits for the running handler, leaves
	// the group and returns. The handler's context ends when its
	// generation is revoked; the group does not rejoin before handle has
	// returned. Errors joining the group are retried for as long as ctx
	// lasts, not returned.
	Run(ctx context.Context, handle GenerationHandler) error
}

// GenerationHandler runs one generation of the group: the partitions
// assigned to this member and the committer of their offsets, which refuses
// (ErrGenerationEnded) once the handler has returned.
type GenerationHandler func(ctx context.Context, id int32, assignments []Assignment, c Committer)

// Brokers is what the start-up checks ask of the brokers.
type Brokers interface {
	// Probe checks that the brokers answer with this TLS and SASL set-up
	// and that the topics exist, and returns one error naming the cause.
	Probe(ctx context.Context, topics ...string) error
	// TopicCleanup returns what the brokers delete of topic by
	// themselves.
	TopicCleanup(ctx context.Context, topic string) (TopicCleanup, error)
}
