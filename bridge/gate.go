package bridge

import (
	"context"
	"net/http"
	"time"

	"github.com/mimc-bridge/mimc-bridge/inflight"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

// gate admits every MIMC attempt, retries included (each spends quota at
// MIMC): first the member's share of the quota, urgent calls ahead, then a
// permit of the adaptive bound of calls in flight. The priority is the
// call's policy, read from the context of Push (withPolicy). The order matters: a call
// waiting for quota holds no permit, so a permit's time is MIMC's alone and
// urgent calls never queue behind normal calls that hold permits while they
// wait for quota. Each answer teaches both: a 429 lowers the rate (and a
// Retry-After pauses the kind), and timeouts, 5xx and 429 shrink the bound.
type gate struct {
	quota    *quota.Limiter
	inflight *inflight.Limiter
}

var _ mimc.Gate = gate{}

func (g gate) Admit(ctx context.Context, kind message.Kind, n int) (mimc.Admission, error) {
	at, err := g.quota.Wait(ctx, kind, policyOf(ctx).prio, n)
	if err != nil {
		return nil, err
	}
	permit, err := g.inflight.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return admission{g: g, kind: kind, at: at, permit: permit}, nil
}

// admission is one attempt let through the gate.
type admission struct {
	g      gate
	kind   message.Kind
	at     time.Time // when the quota granted it
	permit *inflight.Permit
}

func (a admission) Done(e *mimc.Error) {
	if tooMany(e) {
		a.g.quota.TooMany(a.kind, a.at, e.RetryAfter)
	}
	a.permit.Done(loadOf(e))
}

func (a admission) Cancel() { a.permit.Done(inflight.Abandoned) }

func tooMany(e *mimc.Error) bool {
	return e != nil && (e.HTTPStatus == http.StatusTooManyRequests || e.Code == http.StatusTooManyRequests)
}

// loadOf reads what an attempt's answer says about MIMC's load.
func loadOf(e *mimc.Error) inflight.Answer {
	switch {
	case e == nil:
		return inflight.Served
	case tooMany(e), e.HTTPStatus >= 500, e.Code >= 500, e.HTTPStatus == 0:
		// No answer at all (a timeout, a refused connection) is MIMC
		// failing to keep up too.
		return inflight.Overloaded
	}
	return inflight.Served
}
