package bridge

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Tracker follows, per partition, which fetched records have their outcome
// acknowledged, and tells the highest offset that may be committed: the one
// below which every fetched record is done. It is what makes a crash repeat a
// push rather than drop one.
//
// Records of a partition are added in offset order by one fetcher; Done may be
// called in any order from any goroutine.
type Tracker struct {
	mu    sync.Mutex
	parts map[TopicPartition]*partitionTrack
}

type partitionTrack struct {
	// offsets[head:] are the records not yet released, in fetch order, and
	// done[i] tells whether offsets[i] has its outcome acknowledged. The
	// slices are compacted when the head passes half of them so memory stays
	// proportional to the records in flight. fetched[i] is when offsets[i]
	// was added (unix nanoseconds): no outcome of it is written before.
	offsets []int64
	done    []bool
	fetched []int64
	head    int
	// next is the offset to commit: every record below it is done. -1 means
	// nothing was released yet in this generation.
	next      int64
	committed int64
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{parts: make(map[TopicPartition]*partitionTrack)}
}

// Add records that offset of tp was fetched at fetchedAt and is now in
// flight. fetchedAt must not be later than the moment its outcome can be
// written: OldestFetch bounds the outcomes of a commit with it.
func (t *Tracker) Add(tp TopicPartition, offset int64, fetchedAt time.Time) {
	t.mu.Lock()
	p := t.part(tp)
	p.offsets = append(p.offsets, offset)
	p.done = append(p.done, false)
	p.fetched = append(p.fetched, fetchedAt.UnixNano())
	t.mu.Unlock()
}

// OldestFetch returns when the oldest record of tp still in flight was
// fetched, if one is. Records are fetched in offset order, so no outcome of
// a record at or after any offset committable from now on can have been
// written before it; with nothing in flight, none can be written before
// the call. Ask before Committable: a bound taken earlier holds for the
// offsets committable later, not the other way round.
func (t *Tracker) OldestFetch(tp TopicPartition) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[tp]
	if p == nil || p.head == len(p.offsets) {
		return time.Time{}, false
	}
	return time.Unix(0, p.fetched[p.head]), true
}

func (t *Tracker) part(tp TopicPartition) *partitionTrack {
	p := t.parts[tp]
	if p == nil {
		p = &partitionTrack{next: -1, committed: -1}
		t.parts[tp] = p
	}
	return p
}

// Done marks offset of tp as acknowledged. It reports false when the offset
// was never added (a bug in the caller, or a record of an ended generation).
func (t *Tracker) Done(tp TopicPartition, offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[tp]
	if p == nil {
		return false
	}
	live := p.offsets[p.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i] >= offset })
	if i == len(live) || live[i] != offset {
		return false
	}
	p.done[p.head+i] = true
	for p.head < len(p.offsets) && p.done[p.head] {
		p.next = p.offsets[p.head] + 1
		p.head++
	}
	if p.head > 0 && p.head*2 >= len(p.offsets) {
		n := copy(p.offsets, p.offsets[p.head:])
		copy(p.done, p.done[p.head:])
		copy(p.fetched, p.fetched[p.head:])
		p.offsets, p.done, p.fetched = p.offsets[:n], p.done[:n], p.fetched[:n]
		p.head = 0
	}
	return true
}

// Committable returns, per partition, the offset to commit where it moved past
// the last value passed to Committed.
func (t *Tracker) Committable() map[TopicPartition]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[TopicPartition]int64
	for tp, p := range t.parts {
		if p.next > p.committed {
			if out == nil {
				out = make(map[TopicPartition]int64)
			}
			out[tp] = p.next
		}
	}
	return out
}

// Committed records that offsets were committed, so Committable stops
// offering them.
func (t *Tracker) Committed(offsets map[TopicPartition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tp, off := range offsets {
		p := t.part(tp)
		if off > p.committed {
			p.committed = off
		}
	}
}

// CommittedOffsets returns the last committed offset of every partition that
// has one in this tracker, or, for a partition with records, the offset it
// started from is unknown and it is left out.
func (t *Tracker) CommittedOffsets() map[TopicPartition]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[TopicPartition]int64, len(t.parts))
	for tp, p := range t.parts {
		if p.committed >= 0 {
			out[tp] = p.committed
		}
	}
	return out
}
