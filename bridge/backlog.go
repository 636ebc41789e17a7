package bridge

import (
	"sync/atomic"
	"time"
)

// Full calls under a backlog, linger for a live stream.
//
// On a backlog where the events of many messages are interleaved in every
// partition, a call sent when BATCH_LINGER passes carries what the pending
// room let in of its message, often a fraction of BATCH_MAX_RECIPIENTS.
// Two rules make those calls full:
//
//   - hold: in the normal lane, a partly filled call whose linger has passed
//     stays open while a partition of its events still has records to read
//     (more of its message may be there) and has had since the call's first
//     event (its fetcher has not reached the partition's end meanwhile), up
//     to holdFor(BATCH_LINGER, drain) after its first event and never later
//     than linger before its earliest event expires. On a live stream the
//     fetchers reach the end of their partitions at every fetch, so a call
//     goes at its linger, as before, even when a fetch brings a few records
//     at once. Urgent calls are never held, nor a call one of
//     whose events has a later event of its key (ORDERED_TOPICS) or a copy
//     of its id waiting for its outcome: what is still to read of its
//     partitions could not come before it is done.
//   - relieve: when a fetcher finds the lane's room spent (the pending
//     events, not the clock, hold the next events back), and the open calls
//     hold more of the room than the calls in flight, the fullest open calls
//     go first, whatever their linger.
//
// Shutdown and rebalances flush every open call at once, held or not.

// holdFor is the longest a call is held past its first event: twenty
// lingers (a second at the default 50ms), at most a tenth of the drain
// budget. BATCH_LINGER=0 holds nothing.
func holdFor(linger, drain time.Duration) time.Duration {
	return min(20*linger, drain/10)
}

// backlog is, per assigned partition, what its fetcher last saw of its lag:
// the fetch stage writes it, the hold reads it.
type backlog map[TopicPartition]*partitionLag

func newBacklog(assignments []Assignment) backlog {
	b := make(backlog, len(assignments))
	for _, a := range assignments {
		b[a.TopicPartition] = new(partitionLag)
	}
	return b
}

// lagging reports whether records of tp are still to be read and have been
// since since.
func (b backlog) lagging(tp TopicPartition, since time.Time) bool {
	l := b[tp]
	return l != nil && l.lagging(since)
}

// partitionLag is what the fetcher of one partition last saw of its lag.
type partitionLag struct {
	// behind is the records past the last one fetched.
	behind atomic.Int64
	// caughtUp is when the fetcher last fetched a partition's last record
	// (unix nanoseconds; 0: not yet in this generation).
	caughtUp atomic.Int64
}

// fetched notes the lag that the fetch which brought m saw.
func (l *partitionLag) fetched(m *Record) {
	n := max(0, m.HighWaterMark-m.Offset-1)
	l.behind.Store(n)
	if n == 0 {
		l.caughtUp.Store(time.Now().UnixNano())
	}
}

// lagging reports whether the partition has records to read and has had
// since since: a record of a fetch that brought several is followed by
// others, but on a live stream the fetcher reaches the end of the
// partition again within the linger, and more of a message is not there.
func (l *partitionLag) lagging(since time.Time) bool {
	return l.behind.Load() > 0 && l.caughtUp.Load() < since.UnixNano()
}

// holdPolicy decides how long the normal lane's batcher holds a call past
// its linger (batching.Config.Hold).
type holdPolicy struct {
	linger, drain time.Duration // BATCH_LINGER and the drain budget
	lag           backlog
	waits         *waits // nil: nothing waits
}

// hold is the normal lane's batching.Config.Hold. It runs for every open
// call at each linger while a backlog lasts, so it looks at each event
// once (an event's recipients sit side by side in a call), and asks the
// waits, which take a lock, only about a call it would hold.
func (h *holdPolicy) hold(c *call, now time.Time) time.Time {
	until := c.FirstAt.Add(holdFor(h.linger, h.drain))
	lagging := false
	for rec := range recordsOf(c) {
		if !rec.expiresAt.IsZero() {
			if last := rec.expiresAt.Add(-h.linger); last.Before(until) {
				until = last
			}
		}
		if !lagging {
			lagging = h.lag.lagging(rec.tp, c.FirstAt)
		}
	}
	if !lagging || !until.After(now) {
		return time.Time{}
	}
	if h.waits != nil && h.waits.blocksCall(c) {
		// Later events of its key (or copies of its id) wait for
		// this call: holding it would hold them too.
		return time.Time{}
	}
	return until
}
