package batching

import (
	"slices"
	"time"
)

// A backlog and a live stream want different calls. On a live stream,
// Linger bounds how long an event waits for others of its message. On a
// backlog, where the events of many messages are interleaved, more of a
// call's message is still to be read, and a call sent at its linger leaves
// part full: Config.Hold keeps such a call open past its linger, and when
// the events pending, not the clock, are what stops more from coming in,
// the owner sends the calls that have filled the most first (EmitFullest).

// OpenEvents reports the events the open calls carry (an event in two open
// calls counts twice).
func (b *Batcher[T]) OpenEvents() int { return b.openEvents }

// EmitFullest emits open calls, those with the most recipients first, until
// the calls emitted carry at least events events (at least one call while
// any is open), appending them to dst.
func (b *Batcher[T]) EmitFullest(dst []*Call[T], events int) []*Call[T] {
	if b.head == nil {
		return dst
	}
	all := b.byFill[:0]
	for c := b.head; c != nil; c = c.next {
		all = append(all, c)
	}
	slices.SortStableFunc(all, func(x, y *Call[T]) int { return y.Recipients.Len() - x.Recipients.Len() })
	emitted := 0
	for _, c := range all {
		if emitted >= events && emitted > 0 {
			break
		}
		emitted += c.events
		g := c.g
		dst = b.emit(c, dst, ReasonFullest)
		if len(g.calls) == 0 {
			b.drop(g)
		}
	}
	clear(all)
	b.byFill = all[:0]
	return dst
}

// postpone moves open call c to be looked at again at due, keeping the
// linger list in order of due. Held calls are few and due late, so the
// place is looked for from the tail.
func (b *Batcher[T]) postpone(c *Call[T], due time.Time) {
	b.unlink(c)
	c.due = due
	c.held = true
	// Insert after the last call due no later than c.
	at := b.tail
	for at != nil && at.due.After(due) {
		at = at.prev
	}
	c.prev = at
	if at == nil {
		c.next = b.head
		b.head = c
	} else {
		c.next = at.next
		at.next = c
	}
	if c.next != nil {
		c.next.prev = c
	} else {
		b.tail = c
	}
}
