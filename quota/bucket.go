package quota

import (
	"container/list"
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// bucket schedules the calls of one kind.
//
// The token bucket itself is golang.org/x/time/rate, used only through
// AllowN and TokensAt at explicit times. Its WaitN and ReserveN are not
// used: they hand out future tokens in arrival order, so sixteen normal calls
// of 100 recipients would reserve four seconds of a 400/s quota ahead of any
// urgent call. The small scheduler here keeps one queue per priority, grants
// the head of the urgent queue first, and lets the head of the normal queue
// take only tokens that are in the bucket now and that no urgent call waits
// for. One timer wakes the scheduler when the next head can be served.
type bucket struct {
	cfg   *Config
	kind  message.Kind
	quota float64 // the group's quota

	mu          sync.Mutex
	lim         *rate.Limiter
	share       float64
	burst       int
	factor      float64   // of the share, lowered by 429s: its value at since
	since       time.Time // when factor was last lowered (zero: never)
	pausedUntil time.Time
	// gaveOne is set once the bucket has given its one recipient to a
	// member whose limit fell below one recipient a second.
	gaveOne bool
	queues  [Priorities]list.List // of *waiter
	timer   *time.Timer
}

type waiter struct {
	left     int           // recipients still to take
	ready    chan struct{} // closed when granted
	at       time.Time     // when granted
	deadline time.Time     // of its context; zero: none
}

func newBucket(cfg *Config, k message.Kind, quota float64, now time.Time) *bucket {
	b := &bucket{cfg: cfg, kind: k, quota: quota, factor: 1}
	// The bucket starts empty. MIMC's bucket holds a second of the quota;
	// the members' buckets fill at rates that add up to the quota and hold
	// at most a second of it together, so while none starts with tokens
	// that MIMC's bucket lacks, their bursts always fit in it. A member that
	// joined with a full bucket while the others were spending MIMC's would
	// be refused: 429 at every scale-out. (One exception: a member whose
	// limit is below one recipient a second gets one, see setShareLocked.)
	b.lim = rate.NewLimiter(rate.Limit(quota), b.burstFor(1))
	b.lim.AllowN(now, b.burstFor(1))
	b.mu.Lock()
	b.setShareLocked(1, now)
	b.mu.Unlock()
	return b
}

// burstFor is one full call, but at most one second of the member's limit,
// so that the members' bursts together stay within a second of quota. A
// member with less than one recipient per second still needs a burst of 1.
func (b *bucket) burstFor(share float64) int {
	perSecond := math.Floor(b.quota * share)
	return max(1, min(b.cfg.MaxRecipients, int(min(perSecond, math.MaxInt32))))
}

func (b *bucket) setShare(share float64, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setShareLocked(share, now)
	b.dispatch(now)
}

func (b *bucket) setShareLocked(share float64, now time.Time) {
	b.share = share
	b.burst = b.burstFor(share)
	b.lim.SetBurstAt(now, b.burst)
	b.lim.SetLimitAt(now, rate.Limit(b.rateAt(now)))
	if share > 0 && b.quota*share < 1 && !b.gaveOne {
		// Below one recipient a second an empty bucket would hold the
		// first call back for up to 1/rate (100 s at 0.01/s, forever at
		// 1e-9). Such a member gets one call's worth of burst, a single
		// recipient (its burst), once in its life: its first call goes at
		// once, the next ones at its pace. Each member adds at most that
		// one recipient to the group's burst.
		b.gaveOne = true
		b.lim = rate.NewLimiter(rate.Limit(b.rateAt(now)), b.burst) // starts full: one token
	}
	if o := b.cfg.Observer; o != nil {
		o.Share(b.kind, share)
		o.Rate(b.kind, b.rateAt(now))
	}
}

// factorAt is the fraction of the share allowed at now: after a 429 it
// climbs linearly back to 1 over cfg.Recover.
func (b *bucket) factorAt(now time.Time) float64 {
	if b.factor >= 1 {
		return 1
	}
	if b.cfg.Recover <= 0 {
		return 1
	}
	f := b.factor + float64(now.Sub(b.since))/float64(b.cfg.Recover)
	return min(1, f)
}

func (b *bucket) rateAt(now time.Time) float64 {
	return b.quota * b.share * b.factorAt(now)
}

// MaxRecipients is the member's burst: the largest call it may send.
func (b *bucket) MaxRecipients() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.burst
}

// Rate is the current rate in recipients per second. Reading it brings the
// observer up to date with the recovery, which otherwise moves only when
// calls are granted.
func (b *bucket) Rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	b.refresh(now)
	return b.rateAt(now)
}

// refresh brings the token bucket's rate up to date with the recovery.
func (b *bucket) refresh(now time.Time) {
	if b.factor >= 1 {
		return
	}
	r := b.rateAt(now)
	if b.factorAt(now) >= 1 {
		b.factor = 1
	}
	if rate.Limit(r) != b.lim.Limit() {
		b.lim.SetLimitAt(now, rate.Limit(r))
		if o := b.cfg.Observer; o != nil {
			o.Rate(b.kind, r)
		}
	}
}

func (b *bucket) wait(ctx context.Context, p Priority, n int) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	w := &waiter{left: n, ready: make(chan struct{})}
	w.deadline, _ = ctx.Deadline()
	b.mu.Lock()
	if b.share <= 0 {
		b.mu.Unlock()
		return time.Time{}, ErrNoShare
	}
	e := b.enqueue(&b.queues[p], w)
	b.dispatch(b.cfg.Now())
	b.mu.Unlock()

	select {
	case <-w.ready:
		return w.at, nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready:
		// Granted while the context ended: the tokens are spent, so the
		// call may as well go.
		return w.at, nil
	default:
	}
	b.queues[p].Remove(e)
	b.dispatch(b.cfg.Now())
	return time.Time{}, ctx.Err()
}

// enqueue places w in q by its deadline: a call whose context ends sooner
// (the MIMC client bounds the wait by the next expiry among the call's
// recipients) is served sooner, so that when the quota is the bottleneck
// the events that expire first go first. Calls without a deadline keep
// their arrival order, after those with one.
func (b *bucket) enqueue(q *list.List, w *waiter) *list.Element {
	if !w.deadline.IsZero() {
		for e := q.Front(); e != nil; e = e.Next() {
			if d := e.Value.(*waiter).deadline; d.IsZero() || w.deadline.Before(d) {
				return q.InsertBefore(w, e)
			}
		}
	}
	return q.PushBack(w)
}

// dispatch grants what can be granted now, urgent first, and arms the timer
// for the next head. It is called with mu held.
func (b *bucket) dispatch(now time.Time) {
	b.refresh(now)
	if b.timer != nil {
		b.timer.Stop()
	}
	if now.Before(b.pausedUntil) {
		if b.queues[Urgent].Len()+b.queues[Normal].Len() > 0 {
			b.arm(b.pausedUntil.Sub(now))
		}
		return
	}
	for p := Priorities - 1; p >= 0; p-- {
		q := &b.queues[p]
		for q.Len() > 0 {
			w := q.Front().Value.(*waiter)
			for w.left > 0 {
				k := min(w.left, b.burst)
				if !b.lim.AllowN(now, k) {
					break
				}
				w.left -= k
			}
			if w.left > 0 {
				// The head waits for tokens; nothing below it may take
				// them meanwhile.
				k := min(w.left, b.burst)
				missing := float64(k) - b.lim.TokensAt(now)
				r := float64(b.lim.Limit())
				if r <= 0 {
					return // no share: setShare dispatches again
				}
				d := time.Duration(math.Ceil(missing / r * float64(time.Second)))
				if b.factor < 1 {
					// The rate climbs meanwhile: look again soon rather
					// than wait out a time reckoned at today's rate.
					d = min(d, recoveryTick)
				}
				b.arm(d)
				return
			}
			q.Remove(q.Front())
			w.at = now
			close(w.ready)
		}
	}
}

// recoveryTick is how often waiters are looked at again while the rate
// recovers from a 429.
const recoveryTick = 100 * time.Millisecond

func (b *bucket) arm(d time.Duration) {
	d = max(d, time.Millisecond)
	if b.timer == nil {
		b.timer = time.AfterFunc(d, b.wake)
		return
	}
	b.timer.Reset(d)
}

func (b *bucket) wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dispatch(b.cfg.Now())
}

func (b *bucket) tooMany(grantedAt time.Time, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	if o := b.cfg.Observer; o != nil {
		o.TooMany(b.kind)
	}
	// Calls granted before the last decrease were sent at the old rate:
	// their 429s are already answered.
	if grantedAt.After(b.since) {
		f := b.factorAt(now) * b.cfg.Decrease
		b.factor = max(f, b.cfg.MinFactor)
		b.since = now
		r := b.rateAt(now)
		b.lim.SetLimitAt(now, rate.Limit(r))
		if o := b.cfg.Observer; o != nil {
			o.Rate(b.kind, r)
		}
	}
	if retryAfter > 0 {
		if until := now.Add(retryAfter); until.After(b.pausedUntil) {
			b.pausedUntil = until
			if o := b.cfg.Observer; o != nil {
				o.Paused(b.kind, retryAfter)
			}
		}
	}
	b.dispatch(now)
}
