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
//     (more of its message may be there), up to holdFor(BATCH_LINGER,
//     drain) after its first event and never later than linger before its
//     earliest event expires. With no lag (a live stream) the call goes at
//     its linger, as before. Urgent calls are never held, nor a call one of
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

// backlog is, per assigned partition, the records past the last one
// fetched: the fetch stage writes it, the hold reads it.
type backlog map[TopicPartition]*atomic.Int64

func newBacklog(assignments []Assignment) backlog {
	b := make(backlog, len(assignments))
	for _, a := range assignments {
		b[a.TopicPartition] = new(atomic.Int64)
	}
	return b
}

// lagging reports whether records of tp are still to be read.
func (b backlog) lagging(tp TopicPartition) bool {
	l := b[tp]
	return l != nil && l.Load() > 0
}

// holdPolicy decides how long the normal lane's batcher holds a call past
// its linger (batching.Config.Hold).
type holdPolicy struct {
	linger, drain time.Duration // BATCH_LINGER and the drain budget
	lag           backlog
	waits         *waits // nil: nothing waits
}

// hold is the normal lane's batching.Config.Hold.
func (h *holdPolicy) hold(c *call, now time.Time) time.Time {
	until := c.FirstAt.Add(holdFor(h.linger, h.drain))
	lagging := false
	for i := range c.Recipients.Len() {
		rec := c.EventOf(i).Data
		if h.waits != nil && h.waits.blocks(rec) {
			// Later events of its key (or copies of its id) wait for
			// this call: holding it would hold them too.
			return time.Time{}
		}
		if !rec.expiresAt.IsZero() {
			if last := rec.expiresAt.Add(-h.linger); last.Before(until) {
				until = last
			}
		}
		if !lagging {
			lagging = h.lag.lagging(rec.tp)
		}
	}
	if !lagging || !until.After(now) {
		return time.Time{}
	}
	return until
}
