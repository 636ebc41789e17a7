package mimc

import (
	"fmt"
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Defaults of RetryPolicy: the one place they are written (the bridge's
// settings take theirs from here).
const (
	DefaultRetryHTTPStatuses    = "429,500,502-599"
	DefaultRetryCodes           = "429,500-"
	DefaultRetryInitialInterval = 100 * time.Millisecond
	DefaultRetryMaxInterval     = 5 * time.Second
	DefaultRetryMaxElapsed      = 2 * time.Minute
)

// RetryPolicy is everything that decides whether a call is tried again and
// when: the HTTP statuses and envelope codes that are retried, the transport
// errors that are, and the exponential backoff (with jitter) between
// attempts. An answer's Retry-After (Error.RetryAfter) lengthens the next
// wait, within MaxElapsed. Zero fields take the defaults above.
type RetryPolicy struct {
	// HTTPStatuses are the HTTP statuses retried (never a 2xx); the zero set
	// takes the default, ParseCodeSet("") retries none.
	HTTPStatuses CodeSet
	// Codes are the envelope codes retried (never 200); zero: the default.
	Codes CodeSet
	// Transport reports whether an attempt that got no answer (a network
	// error, a timeout, a body cut short) is retried. Nil: every such error
	// but a TLS certificate error, which no retry can fix.
	Transport func(err error) bool

	InitialInterval time.Duration // the first wait
	MaxInterval     time.Duration // the longest wait
	MaxElapsed      time.Duration // then the call fails (its context bounds it too)
}

// DefaultRetryPolicy returns the policy with every default filled.
func DefaultRetryPolicy() RetryPolicy {
	var p RetryPolicy
	p.setDefaults()
	return p
}

func (p *RetryPolicy) setDefaults() {
	if p.HTTPStatuses.IsZero() {
		p.HTTPStatuses = MustParseCodeSet(DefaultRetryHTTPStatuses)
	}
	if p.Codes.IsZero() {
		p.Codes = MustParseCodeSet(DefaultRetryCodes)
	}
	if p.Transport == nil {
		p.Transport = retryTransport
	}
	if p.InitialInterval == 0 {
		p.InitialInterval = DefaultRetryInitialInterval
	}
	if p.MaxInterval == 0 {
		p.MaxInterval = DefaultRetryMaxInterval
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = DefaultRetryMaxElapsed
	}
}

func (p *RetryPolicy) validate() error {
	if err := CheckRetryHTTPStatuses(p.HTTPStatuses); err != nil {
		return fmt.Errorf("retry http statuses: %w", err)
	}
	if err := CheckRetryCodes(p.Codes); err != nil {
		return fmt.Errorf("retry codes: %w", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"retry initial interval", p.InitialInterval},
		{"retry max interval", p.MaxInterval},
		{"retry max elapsed", p.MaxElapsed},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s %s is negative", d.name, d.v)
		}
	}
	if p.MaxInterval < p.InitialInterval {
		return fmt.Errorf("retry max interval %s is below retry initial interval %s", p.MaxInterval, p.InitialInterval)
	}
	return nil
}

// CheckRetryHTTPStatuses reports why s cannot be RetryPolicy.HTTPStatuses:
// a status outside 100-599, or a success (2xx), which is never retried.
func CheckRetryHTTPStatuses(s CodeSet) error {
	for _, r := range s.ranges {
		switch {
		case r.lo < 100 || r.hi > 599 && r.hi != math.MaxInt:
			return fmt.Errorf("%q is outside the HTTP statuses 100-599", r)
		case r.lo <= 299 && r.hi >= 200:
			return fmt.Errorf("%q holds a success status (2xx), which is never retried", r)
		}
	}
	return nil
}

// CheckRetryCodes reports why s cannot be RetryPolicy.Codes: it holds 200,
// the envelope code of success, which is never retried.
func CheckRetryCodes(s CodeSet) error {
	for _, r := range s.ranges {
		if r.lo <= CodeOK && r.hi >= CodeOK {
			return fmt.Errorf("%q holds %d, the code of success, which is never retried", r, CodeOK)
		}
	}
	return nil
}

// retryTransport is the default RetryPolicy.Transport.
func retryTransport(err error) bool { return !isCertError(err) }

// retrier is the progress of one call through its policy.
type retrier struct {
	exp      backoff.ExponentialBackOff
	deadline time.Time // of the call's context; zero: none
}

func (p *RetryPolicy) start(deadline time.Time) *retrier {
	r := &retrier{
		exp: backoff.ExponentialBackOff{
			InitialInterval:     p.InitialInterval,
			RandomizationFactor: backoff.DefaultRandomizationFactor,
			Multiplier:          backoff.DefaultMultiplier,
			MaxInterval:         p.MaxInterval,
			MaxElapsedTime:      p.MaxElapsed,
			Stop:                backoff.Stop,
			Clock:               backoff.SystemClock,
		},
		deadline: deadline,
	}
	r.exp.Reset()
	return r
}

// next returns how long to wait after the failed attempt e before the next
// one, or false when e is final or the budget is spent: MaxElapsed, or the
// context's deadline coming before the attempt could start. A Retry-After
// longer than the backoff is waited, but never past MaxElapsed.
func (r *retrier) next(e *Error) (time.Duration, bool) {
	if !e.Retryable {
		return 0, false
	}
	d := r.exp.NextBackOff()
	if d == backoff.Stop {
		return 0, false
	}
	if ra := e.RetryAfter; ra > d {
		rem := r.exp.MaxElapsedTime - r.exp.GetElapsedTime()
		d = max(d, min(ra, rem))
	}
	if !r.deadline.IsZero() && time.Until(r.deadline) <= d {
		return 0, false
	}
	return d, true
}
