package bridge

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mimc-bridge/mimc-bridge/metrics"
)

// Health holds what /readyz reports.
type Health struct {
	joined         atomic.Bool
	writerFailedAt atomic.Int64 // unix nanos of the last failure, 0 when the last write worked
	mimcFailedAt   atomic.Int64 // unix nanos since MIMC has answered nothing, 0 when it answers
	stalled        atomic.Bool
}

// NewHealth returns the health of a member that has not joined yet.
func NewHealth() *Health { return &Health{} }

func (h *Health) setJoined(v bool) { h.joined.Store(v) }

func (h *Health) writerFailed() { h.writerFailedAt.CompareAndSwap(0, time.Now().UnixNano()) }
func (h *Health) writerOK()     { h.writerFailedAt.Store(0) }

// Ready reports whether the process is fit for traffic, and why not.
func (h *Health) Ready(now time.Time) error {
	const grace = 30 * time.Second
	var errs []error
	if !h.joined.Load() {
		errs = append(errs, errors.New("not a member of the consumer group yet"))
	}
	if t := h.writerFailedAt.Load(); t != 0 && now.Sub(time.Unix(0, t)) > grace {
		errs = append(errs, fmt.Errorf("writing outcomes has failed since %s", time.Unix(0, t).UTC().Format(time.RFC3339)))
	}
	if t := h.mimcFailedAt.Load(); t != 0 && now.Sub(time.Unix(0, t)) > grace {
		errs = append(errs, fmt.Errorf("MIMC has not answered since %s", time.Unix(0, t).UTC().Format(time.RFC3339)))
	}
	if h.stalled.Load() {
		errs = append(errs, errors.New("work has stalled: events are pending and no outcome was written for longer than STALL_TIMEOUT"))
	}
	return errors.Join(errs...)
}

type observer struct {
	met    *metrics.Metrics
	health *Health
}

func (o observer) Attempt(endpoint string, httpStatus, code, recipients int, err error, elapsed time.Duration) {
	o.met.Attempt(endpoint, httpStatus, code, recipients, err, elapsed)
	if httpStatus != 0 {
		o.health.mimcFailedAt.Store(0)
	} else if err != nil {
		o.health.mimcFailedAt.CompareAndSwap(0, time.Now().UnixNano())
	}
}

func (o observer) Retry(endpoint string) { o.met.Retry(endpoint) }
