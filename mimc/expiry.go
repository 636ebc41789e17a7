package mimc

import (
	"context"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// expiry keeps a call to the recipients whose time has not run out: the
// client asks it before every attempt and while the attempt waits for the
// quota, so that an expired recipient is never sent and waits for no quota.
type expiry struct {
	at    []time.Time // per recipient of the original call; zero: never
	alive []int       // positions, in the original call, of the recipients still in it
}

// newExpiry returns nil when no recipient of n expires.
func newExpiry(at []time.Time, n int) *expiry {
	if len(at) != n {
		return nil
	}
	e := &expiry{at: at, alive: make([]int, n)}
	some := false
	for i := range e.alive {
		e.alive[i] = i
		some = some || !at[i].IsZero()
	}
	if !some {
		return nil
	}
	return e
}

// next returns when the next recipient still in the call expires (zero:
// none does).
func (e *expiry) next() time.Time {
	var first time.Time
	for _, i := range e.alive {
		if t := e.at[i]; !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first
}

// prune drops the recipients expired at now and reports whether it dropped
// any.
func (e *expiry) prune(now time.Time) bool {
	kept := e.alive[:0]
	for _, i := range e.alive {
		if t := e.at[i]; t.IsZero() || now.Before(t) {
			kept = append(kept, i)
		}
	}
	dropped := len(kept) < len(e.alive)
	e.alive = kept
	return dropped
}

// dropped returns the positions of the recipients no longer in the call.
func (e *expiry) dropped() []int {
	var out []int
	next := 0
	for i := range e.at {
		if next < len(e.alive) && e.alive[next] == i {
			next++
			continue
		}
		out = append(out, i)
	}
	return out
}

// narrow returns orig with only the recipients still in the call.
func (e *expiry) narrow(orig *Call) Call {
	c := *orig
	if orig.Kind == message.P2T {
		c.TopicIDs = make([]int64, len(e.alive))
		for j, i := range e.alive {
			c.TopicIDs[j] = orig.TopicIDs[i]
		}
	} else {
		c.ToAccounts = make([]string, len(e.alive))
		for j, i := range e.alive {
			c.ToAccounts[j] = orig.ToAccounts[i]
		}
	}
	return c
}

// spread places the packet ids of the recipients still in the call at
// their positions in the original call of n recipients.
func (e *expiry) spread(ids []string, n int) []string {
	out := make([]string, n)
	for j, i := range e.alive {
		out[i] = ids[j]
	}
	return out
}

// untilNext waits until the next recipient expires, or ctx ends.
func (e *expiry) untilNext(ctx context.Context) error { return sleep(ctx, time.Until(e.next())) }
