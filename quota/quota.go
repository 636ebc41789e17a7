// Package quota keeps one member of the consumer group within its part of
// the app's MIMC quota.
//
// MIMC counts a quota in recipients per second per kind (p2p, p2t) for the
// whole app, so it belongs to the group: a member's limit is the group's
// quota times its share (the input partitions it holds over all of them),
// set at every generation. Within that limit:
//
//   - the member's burst is at most one full call and at most one second of
//     its limit, so that the members' bursts together stay within one second
//     of quota; a member whose limit is below one full call sends smaller
//     calls (MaxRecipients), rather than bursting past it; and its bucket
//     starts empty, so that a member joining never bursts into quota the
//     others have spent, except that a member whose limit is below one
//     recipient a second gets one recipient, once, so that its first call
//     does not wait up to 1/rate;
//   - a 429 multiplies the member's rate down, and the rate climbs back
//     linearly to the share; a Retry-After pauses every send of the kind;
//   - urgent calls take the quota first, and normal calls take only what is
//     available now, so that they never hold tokens an urgent call needs and
//     never leave the quota idle when no urgent call waits.
package quota

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// Priority orders the calls waiting for the quota.
type Priority int

// The priorities, lowest first; Priorities is how many there are.
const (
	Normal Priority = iota
	Urgent
	Priorities
)

func (p Priority) String() string {
	if p == Urgent {
		return "urgent"
	}
	return "normal"
}

// Defaults of Config.
const (
	DefaultDecrease  = 0.5
	DefaultMinFactor = 0.05
	DefaultRecover   = 10 * time.Second
)

// Observer hears about the limiter's state, for metrics. Its methods are
// called with the limiter's lock held: they must be quick and must not call
// the limiter.
type Observer interface {
	// Share is the member's share of the group's quota (0 to 1).
	Share(kind message.Kind, share float64)
	// Rate is the member's current rate in recipients per second: the
	// quota times the share, less while recovering from 429s.
	Rate(kind message.Kind, perSecond float64)
	// TooMany is one 429 answer.
	TooMany(kind message.Kind)
	// Paused is a pause of every send of the kind, for a Retry-After.
	Paused(kind message.Kind, d time.Duration)
}

// Config configures a Limiter. Zero fields take the defaults.
type Config struct {
	// RateP2P and RateP2T are the group's quota in recipients per second;
	// 0 is no quota for the kind.
	RateP2P, RateP2T float64
	// MaxRecipients is one full call (BATCH_MAX_RECIPIENTS): the largest
	// burst, and the largest call when the member's limit allows it.
	MaxRecipients int
	// Decrease multiplies the rate at a 429 (0 < Decrease < 1).
	Decrease float64
	// MinFactor is the lowest fraction of its share a member's rate falls to.
	MinFactor float64
	// Recover is how long the rate takes to climb from nothing back to the
	// share after 429s stop (linearly).
	Recover time.Duration
	// Now is the clock (default time.Now). Waits use timers, which
	// testing/synctest fakes together with time.Now.
	Now func() time.Time
	// Observer, when set, hears about shares, rates, 429s and pauses.
	Observer Observer
}

// Validate fills the defaults and checks every field.
func (c *Config) Validate() error {
	if c.Decrease == 0 {
		c.Decrease = DefaultDecrease
	}
	if c.MinFactor == 0 {
		c.MinFactor = DefaultMinFactor
	}
	if c.Recover == 0 {
		c.Recover = DefaultRecover
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"rate p2p", c.RateP2P}, {"rate p2t", c.RateP2T}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			return fmt.Errorf("quota config: %s %v must be a finite number >= 0", r.name, r.v)
		}
	}
	switch {
	case c.MaxRecipients < 1:
		return fmt.Errorf("quota config: max recipients %d must be at least 1", c.MaxRecipients)
	case !(c.Decrease > 0 && c.Decrease < 1):
		return fmt.Errorf("quota config: decrease %v must be between 0 and 1", c.Decrease)
	case !(c.MinFactor > 0 && c.MinFactor <= 1):
		return fmt.Errorf("quota config: min factor %v must be in (0, 1]", c.MinFactor)
	case c.Recover < 0:
		return fmt.Errorf("quota config: recover %s is negative", c.Recover)
	}
	return nil
}

// Limiter holds one member to its share of the group's quota. It is safe for
// concurrent use.
type Limiter struct {
	cfg      Config
	log      *zap.Logger
	p2p, p2t *bucket // nil when the kind has no quota
}

// New returns a limiter for a member alone in its group (share 1). A nil log
// logs nothing.
func New(cfg Config, log *zap.Logger) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	l := &Limiter{cfg: cfg, log: log}
	now := cfg.Now()
	if cfg.RateP2P > 0 {
		l.p2p = newBucket(&l.cfg, message.P2P, cfg.RateP2P, now)
	}
	if cfg.RateP2T > 0 {
		l.p2t = newBucket(&l.cfg, message.P2T, cfg.RateP2T, now)
	}
	return l, nil
}

func (l *Limiter) bucket(k message.Kind) *bucket {
	if k == message.P2P {
		return l.p2p
	}
	return l.p2t
}

// SetShare sets the member's share of the group's quota (0 to 1: the input
// partitions it holds over all of them). Waiting calls are rescheduled at
// the new rate.
func (l *Limiter) SetShare(share float64) {
	if math.IsNaN(share) || share < 0 {
		share = 0
	}
	share = min(share, 1)
	now := l.cfg.Now()
	fields := []zap.Field{zap.Float64("share", share)}
	for _, b := range []*bucket{l.p2p, l.p2t} {
		if b == nil {
			continue
		}
		b.setShare(share, now)
		fields = append(fields, zap.Float64("rate_"+string(b.kind), b.quota*share),
			zap.Int("max_recipients_"+string(b.kind), b.MaxRecipients()))
	}
	l.log.Info("quota share set", fields...)
}

// MaxRecipients is the largest call of the kind the member may send: one
// full call, or less when the member's limit is below one call per second.
func (l *Limiter) MaxRecipients(k message.Kind) int {
	if b := l.bucket(k); b != nil {
		return b.MaxRecipients()
	}
	return l.cfg.MaxRecipients
}

// Rate is the member's current rate of the kind in recipients per second,
// or +Inf when the kind has no quota.
func (l *Limiter) Rate(k message.Kind) float64 {
	if b := l.bucket(k); b != nil {
		return b.Rate()
	}
	return math.Inf(1)
}

// Limited reports whether the kind has a quota.
func (l *Limiter) Limited(k message.Kind) bool { return l.bucket(k) != nil }

// ErrNoShare is returned by Wait while the member has no share of a quota.
var ErrNoShare = errors.New("quota: this member has no share of the quota")

// Wait waits until n recipients of the kind may be sent at priority p and
// takes them from the member's quota. It returns the time of the grant, to
// give to TooMany if the call is refused. A call larger than the burst takes
// its recipients in burst-sized parts, holding its place meanwhile.
func (l *Limiter) Wait(ctx context.Context, k message.Kind, p Priority, n int) (time.Time, error) {
	b := l.bucket(k)
	if b == nil || n <= 0 {
		return l.cfg.Now(), ctx.Err()
	}
	return b.wait(ctx, p, n)
}

// TooMany records a 429 for a call granted at grantedAt: the rate falls
// (once for all the calls sent at the same rate), and a positive retryAfter
// pauses every send of the kind for that long.
func (l *Limiter) TooMany(k message.Kind, grantedAt time.Time, retryAfter time.Duration) {
	if b := l.bucket(k); b != nil {
		b.tooMany(grantedAt, retryAfter)
	}
}
