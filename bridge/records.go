package bridge

import (
	"errors"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// The types the interfaces of interfaces.go speak in. The pipeline defines
// them; the kafka package (and the tests' fakes) produce and take them.

// Record is one input record as the pipeline sees it.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte // nil: the record has no key
	Value     []byte
	Time      time.Time // the record's timestamp (set by the producer or the broker)
	// HighWaterMark is the partition's end offset the fetch that brought
	// the record saw: the records past this one still to be read are
	// HighWaterMark - Offset - 1 (0 when the fetch did not say).
	HighWaterMark int64
	// TraceParent and TraceState are the W3C trace context headers of the
	// record (traceparent, tracestate), nil when absent. They alias the
	// record's memory, as Value does.
	TraceParent, TraceState []byte
}

// The W3C trace context headers: read on input records, written on outcome
// records (the context of the event's span).
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// Assignment is one partition given to this member, with the offset to start
// from (the first offset of the partition when the group has none committed).
type Assignment struct {
	TopicPartition
	Offset int64
	// OutcomesSince is the bound the commit of Offset carried: no outcome
	// of a record at or after Offset can have been written before it. Zero
	// when the commit carried none (no commit yet, an older version, a
	// tool): then nothing tells where to look for outcomes already written.
	OutcomesSince time.Time
	// BoundKnown tells that the commit's metadata was read: a zero
	// OutcomesSince then means the commit carries no bound, rather than
	// that reading it failed.
	BoundKnown bool
}

// ErrGenerationEnded is what a Committer returns once the handler of its
// generation has returned: from then on the generation may have been
// replaced, and a commit for its records must never be sent.
var ErrGenerationEnded = errors.New("consumer group generation ended")

// Message is one outcome record to publish.
type Message struct {
	Key   []byte
	Value []byte
	// Time is the record's timestamp for Admin.Produce (zero: now); the
	// publisher's records are stamped when written.
	Time time.Time
	// Source and SourceOffset name the input record the outcome is of.
	// They are written as headers, with the publisher's group, so that the
	// next owner of the partition finds what is done without reading JSON.
	// An empty Source.Topic writes no headers.
	Source       TopicPartition
	SourceOffset int64
	// Status is the outcome's status, written as a header and signed with
	// the source, the group and the key when the publisher has a Signer.
	Status string
	// Trace, when valid, is written as the W3C traceparent (and
	// tracestate) headers: the context of the event's span.
	Trace trace.SpanContext
}

// ShrinkFunc returns a smaller value for msgs[i] after the broker refused it
// as too large for the n-th time; it should reach a form that always fits by
// the second call. Without one a too-large record is replaced by a stub.
type ShrinkFunc func(i, n int) []byte

// Done lists, per partition, the offsets whose outcome is on the results
// topic. The zero Done holds nothing.
type Done struct {
	parts map[TopicPartition][]int64 // sorted, unique
}

// DoneOf returns a Done holding offsets, in any order.
func DoneOf(offsets map[TopicPartition][]int64) Done {
	parts := make(map[TopicPartition][]int64, len(offsets))
	for tp, offs := range offsets {
		offs = slices.Clone(offs)
		slices.Sort(offs)
		parts[tp] = slices.Compact(offs)
	}
	return Done{parts: parts}
}

// Has tells whether the outcome of offset of tp is on the results topic.
func (d Done) Has(tp TopicPartition, offset int64) bool {
	_, ok := slices.BinarySearch(d.parts[tp], offset)
	return ok
}

// Len returns how many offsets d holds.
func (d Done) Len() int {
	n := 0
	for _, offs := range d.parts {
		n += len(offs)
	}
	return n
}

// Partition returns the offsets of tp that d holds, in order. The slice is
// d's own.
func (d Done) Partition(tp TopicPartition) []int64 { return d.parts[tp] }

// ScanStats describes one scan.
type ScanStats struct {
	// Since is the earliest bound of the assignments scanned for (zero:
	// none had one, nothing was read).
	Since time.Time
	// Partitions is how many results partitions were read.
	Partitions int
	// Read is how many outcome records were read.
	Read int
	// Ignored is how many records naming the group and a record to look
	// for were ignored because their signature is missing or does not
	// check (forged, written by a version that did not sign, or signed
	// with another app secret): their records are done again.
	Ignored int
	// Took is how long the scan took.
	Took time.Duration
}

// Delivered is one delivered outcome of the group on the results topic.
type Delivered struct {
	ID     string // the event id (the record key)
	Source TopicPartition
	Offset int64
	At     time.Time // the outcome record's timestamp
}

// DeliveredStats describes one read of the delivered outcomes.
type DeliveredStats struct {
	Read    int // results records read
	Found   int // delivered outcomes of the group whose signature checks
	Ignored int // delivered outcomes of the group whose signature does not check
	Took    time.Duration
}

// TopicCleanup is what the brokers delete of a topic by themselves.
type TopicCleanup struct {
	Policy    string        // cleanup.policy: "delete", "compact" or "compact,delete"
	Retention time.Duration // retention.ms; negative when unlimited
}

// Compacts reports whether the policy includes compaction.
func (c TopicCleanup) Compacts() bool { return strings.Contains(c.Policy, "compact") }

// OffsetsRetention is how long the group's commits are kept, like Kafka's
// default offsets.retention.minutes: the crash skip reads outcomes back as
// far as a commit that old, and a Group keeps its commits that long.
const OffsetsRetention = 7 * 24 * time.Hour
