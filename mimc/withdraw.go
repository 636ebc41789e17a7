package mimc

import (
	"context"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// BeforeAttempt is the caller's say before every attempt of a call, retries
// included, as go-retryablehttp's PrepareRetry: it returns the positions, in
// the call given to Push, of the recipients withdrawn from the call by now
// (ascending, and never fewer than the last time; nil: none), and when to
// ask again (zero: no other will be withdrawn). While an attempt waits for
// the Gate the client asks again at that time, so that a withdrawn
// recipient waits for no quota. ctx is the one given to Push: it carries
// what the caller knows of the call. It is called from the goroutine of
// Push, for many calls at once.
type BeforeAttempt func(ctx context.Context, n int, now time.Time) (withdrawn []int, recheck time.Time)

// withdrawals keeps a call to the recipients its BeforeAttempt has not
// withdrawn: the client asks it before every attempt and while the attempt
// waits for the Gate.
type withdrawals struct {
	hook    BeforeAttempt
	ctx     context.Context
	n       int   // recipients of the original call
	alive   []int // positions, in the original call, of the recipients still in it
	recheck time.Time
	settled bool // the hook said no other recipient will be withdrawn
}

// newWithdrawals returns nil without a hook.
func newWithdrawals(ctx context.Context, hook BeforeAttempt, n int) *withdrawals {
	if hook == nil {
		return nil
	}
	w := &withdrawals{hook: hook, ctx: ctx, n: n, alive: make([]int, n)}
	for i := range w.alive {
		w.alive[i] = i
	}
	return w
}

// prune asks the hook at now and reports whether it withdrew any recipient
// since the last time.
func (w *withdrawals) prune(now time.Time) bool {
	if w.settled {
		return false
	}
	gone, recheck := w.hook(w.ctx, w.n, now)
	w.recheck, w.settled = recheck, recheck.IsZero()
	if len(gone) == w.n-len(w.alive) {
		return false
	}
	kept := w.alive[:0]
	next := 0
	for i := range w.n {
		if next < len(gone) && gone[next] == i {
			next++
			continue
		}
		kept = append(kept, i)
	}
	w.alive = kept
	return true
}

// withdrawn returns the positions of the recipients no longer in the call.
func (w *withdrawals) withdrawn() []int {
	var out []int
	next := 0
	for i := range w.n {
		if next < len(w.alive) && w.alive[next] == i {
			next++
			continue
		}
		out = append(out, i)
	}
	return out
}

// narrow returns orig with only the recipients still in the call.
func (w *withdrawals) narrow(orig *Call) Call {
	c := *orig
	if orig.Kind == message.P2T {
		c.TopicIDs = make([]int64, len(w.alive))
		for j, i := range w.alive {
			c.TopicIDs[j] = orig.TopicIDs[i]
		}
	} else {
		c.ToAccounts = make([]string, len(w.alive))
		for j, i := range w.alive {
			c.ToAccounts[j] = orig.ToAccounts[i]
		}
	}
	return c
}

// spread places the packet ids of the recipients still in the call at
// their positions in the original call.
func (w *withdrawals) spread(ids []string) []string {
	if len(w.alive) == w.n {
		return ids
	}
	out := make([]string, w.n)
	for j, i := range w.alive {
		out[i] = ids[j]
	}
	return out
}

// untilRecheck waits until the hook is to be asked again, or ctx ends.
func (w *withdrawals) untilRecheck(ctx context.Context) error {
	return sleep(ctx, time.Until(w.recheck))
}
