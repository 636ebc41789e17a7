// Package inflight bounds the MIMC calls in flight and adapts the bound to
// MIMC's latency and answers: it grows while latency holds and shrinks when
// latency climbs or MIMC answers timeouts, 5xx or 429.
//
// The adaptation is failsafe-go's adaptivelimiter: a gradient limiter (in
// the manner of Netflix's concurrency-limits) that compares recent latency
// with a baseline, checks that throughput still follows the limit, and
// serves waiters in order as permits free up. It learns only from latency:
// Permit.Drop forgets a call and Permit.Record counts its time. An answer
// that says MIMC is overloaded comes back fast, so read as latency it would
// make the limit grow; such a call keeps its permit for at least
// Config.Penalty instead, which the limiter sees as latency climbing (the
// limit falls) and which also takes that slot out of use meanwhile.
package inflight

import (
	"context"
	"fmt"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultMax     = 256
	DefaultPenalty = time.Second
)

// Config configures a Limiter. Zero fields take the defaults.
type Config struct {
	// Max is the upper bound of calls in flight (MAX_CONCURRENT_CALLS).
	Max int
	// Min is the least the bound falls to (default 16, the fixed bound the
	// bridge had before, or Max when lower): a few calls that hang until
	// their timeout must not stop the others, and latency noise at a fast
	// MIMC must not throttle it below that.
	Min int
	// Initial is the bound at the start (default Max). The limiter grows
	// by one or two calls every two round trips: from a quarter of Max, at
	// 100ms of latency it took 7s to reach 100 calls and most of a minute
	// to reach 256, which held a backlog to a third of what MIMC could
	// take (22k against 75k events/s in the load tool). Starting at the
	// bound the operator allows is safe: the quota gate holds calls before
	// they take a permit, and latency climbing, timeouts, 5xx and 429 shrink
	// the bound from there.
	Initial int
	// Penalty is how long a call answered with a timeout, 5xx or 429 keeps
	// its permit, counted from its start.
	Penalty time.Duration
	// OnLimit, when set, hears the bound whenever it changes (for a gauge).
	OnLimit func(limit int)
}

// Validate fills the defaults and checks every field.
func (c *Config) Validate() error {
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Min == 0 {
		c.Min = min(c.Max, 16)
	}
	if c.Initial == 0 {
		c.Initial = c.Max
	}
	if c.Penalty == 0 {
		c.Penalty = DefaultPenalty
	}
	switch {
	case c.Max < 1:
		return fmt.Errorf("inflight config: max %d must be at least 1", c.Max)
	case c.Min < 1 || c.Min > c.Max:
		return fmt.Errorf("inflight config: min %d must be between 1 and max %d", c.Min, c.Max)
	case c.Initial < c.Min || c.Initial > c.Max:
		return fmt.Errorf("inflight config: initial %d must be between min %d and max %d", c.Initial, c.Min, c.Max)
	case c.Penalty < 0:
		return fmt.Errorf("inflight config: penalty %s is negative", c.Penalty)
	}
	return nil
}

// Limiter bounds the calls in flight. It is safe for concurrent use.
type Limiter struct {
	cfg Config
	al  adaptivelimiter.AdaptiveLimiter[any]
}

// New returns a limiter at cfg.Initial. A nil log logs nothing.
func New(cfg Config, log *zap.Logger) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	b := adaptivelimiter.NewBuilder[any]().
		WithLimits(uint(cfg.Min), uint(cfg.Max), uint(cfg.Initial)).
		// Adjust every two round trips once 20 calls have answered,
		// rather than at most once a second after 50: the limit then
		// reaches a few hundred within seconds at tens of milliseconds of
		// latency.
		WithRecentWindow(0, 5*time.Second, 20).
		OnLimitChanged(func(e adaptivelimiter.LimitChangedEvent) {
			log.Debug("calls in flight limit changed", zap.Uint("from", e.OldLimit), zap.Uint("to", e.NewLimit))
			if cfg.OnLimit != nil {
				cfg.OnLimit(int(e.NewLimit))
			}
		})
	l := &Limiter{cfg: cfg, al: b.Build()}
	if cfg.OnLimit != nil {
		cfg.OnLimit(cfg.Initial)
	}
	return l, nil
}

// Limit is the current bound of calls in flight.
func (l *Limiter) Limit() int { return l.al.Limit() }

// Inflight is the number of permits held.
func (l *Limiter) Inflight() int { return l.al.Inflight() }

// Acquire waits for a permit (in arrival order). The caller must call Done.
func (l *Limiter) Acquire(ctx context.Context) (*Permit, error) {
	// The limiter hands out a free permit without looking at ctx.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := l.al.AcquirePermit(ctx)
	if err != nil {
		return nil, err
	}
	return &Permit{l: l, p: p, start: time.Now()}, nil
}

// Answer is what a call's answer says about MIMC's load.
type Answer int

// The answers.
const (
	// Served is an answer that took the time MIMC needed (success, or a
	// final refusal): its latency is a sample.
	Served Answer = iota
	// Overloaded is a timeout, a 5xx or a 429.
	Overloaded
	// Abandoned is a call that ended for the bridge's own reasons (its
	// context ended): its time says nothing about MIMC.
	Abandoned
)

// Permit is one call in flight.
type Permit struct {
	l     *Limiter
	p     adaptivelimiter.Permit
	start time.Time
}

// Done releases the permit, telling the limiter what the answer said.
func (p *Permit) Done(a Answer) {
	switch a {
	case Abandoned:
		p.p.Drop()
	case Overloaded:
		if rest := p.l.cfg.Penalty - time.Since(p.start); rest > 0 {
			time.AfterFunc(rest, p.p.Record)
			return
		}
		p.p.Record()
	default:
		p.p.Record()
	}
}
