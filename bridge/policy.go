package bridge

import (
	"context"
	"time"
)

// callPolicy is the pipeline's policy for the attempts of one MIMC call:
// the priority its lane takes the quota with, and when each recipient
// expires. sendOne puts it in the context of Push; the MIMC client, which
// speaks only MIMC, hands that context to the two hooks that read it: the
// client's BeforeAttempt (dropExpired) and the gate.
type callPolicy struct {
	prio    priority
	expires []time.Time // per recipient of the call (zero: never); nil: none expires
}

type callPolicyKey struct{}

// withPolicy returns ctx carrying the policy of its call.
func withPolicy(ctx context.Context, p *callPolicy) context.Context {
	return context.WithValue(ctx, callPolicyKey{}, p)
}

// policyOf returns the policy of the call ctx belongs to: by default a
// normal call whose recipients never expire.
func policyOf(ctx context.Context) *callPolicy {
	if p, ok := ctx.Value(callPolicyKey{}).(*callPolicy); ok {
		return p
	}
	return &callPolicy{prio: normal}
}

// dropExpired is the MIMC client's BeforeAttempt: before every attempt, and
// while an attempt waits for the quota, it withdraws the recipients whose
// event has expired: they are never sent and take no quota. It asks to be
// asked again when the next one expires.
func dropExpired(ctx context.Context, n int, now time.Time) (expired []int, next time.Time) {
	at := policyOf(ctx).expires
	if len(at) != n {
		return nil, time.Time{}
	}
	for i, t := range at {
		switch {
		case t.IsZero():
		case !now.Before(t):
			expired = append(expired, i)
		case next.IsZero() || t.Before(next):
			next = t
		}
	}
	return expired, next
}
