package bridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// sendStage runs the senders of each lane: each pushes its lane's calls to
// MIMC and turns the events a call completes into outcomes.
type sendStage struct {
	senders [priorities]int // per lane
	pusher  Pusher
	budget  *sendBudget // nil: no quota; a completed event frees its recipients
	waits   *waits      // a completed event releases what waits for it
	tracer  trace.Tracer
	// abandon ends the calls in flight when a drain runs out of time:
	// their events get no outcome.
	abandon context.Context
	obs     sendObserver
}

// run starts the senders. The returned channel is closed once every sender
// has returned, after the calls are closed.
func (s *sendStage) run(calls [priorities]<-chan *call) <-chan outItem {
	sent := make(chan outItem, 4096)
	var senders sync.WaitGroup
	for prio, n := range s.senders {
		for range n {
			senders.Go(func() {
				var scratch []event.Recipient // the recipients of one outcome at a time
				for c := range calls[prio] {
					scratch = s.sendOne(priority(prio), c, sent, scratch)
				}
			})
		}
	}
	go func() {
		senders.Wait()
		close(sent)
	}()
	return sent
}

// sendOne pushes one call of lane prio and hands on the outcomes of the
// events it completes. scratch holds the recipients of one outcome at a
// time; the grown buffer is returned for the next call.
func (s *sendStage) sendOne(prio priority, c *call, sent chan<- outItem, scratch []event.Recipient) []event.Recipient {
	s.obs.calling(c.Recipients.Len())
	mc := toMIMC(c)
	ctx := withPolicy(s.abandon, &callPolicy{prio: prio, expires: expiries(c)})
	var span trace.Span // nil: traces off
	if s.tracer != nil {
		ctx, span = startCallSpan(ctx, s.tracer, c, &mc)
	}
	res, err := s.pusher.Push(ctx, mc)
	s.obs.called()
	if s.abandon.Err() != nil {
		// Abandoned: no outcome, so no commit; the next owner of these
		// partitions sends them again.
		if span != nil {
			abandonSpan(span)
			eventsOf(c, func(rec *record) { abandonSpan(rec.span) })
		}
		return scratch
	}
	if span != nil {
		endCallSpan(span, c, &res, err)
	}
	if !res.SentAt.IsZero() {
		s.obs.sendWait(prio, res.SentAt.Sub(c.FirstAt))
	}
	done := c.Resolve(results(c, res, err)...)
	now := time.Now()
	for _, e := range done {
		rec := e.Data
		s.budget.freeOf(rec)
		out := outcomeOf(rec, now, scratch)
		scratch = out.Recipients[:0]
		delivered := out.Status == event.Delivered
		sent <- completed(rec, now, &out)
		for _, dup := range s.waits.finished(rec, delivered, now) {
			sent <- dup
		}
	}
	// done shares the call's memory, which the batcher may keep while its
	// content stays open: drop the events so their records can go.
	clear(done)
	return scratch
}

// expiries returns when each recipient of c expires (its event's expiry),
// or nil when none does.
func expiries(c *call) []time.Time {
	var out []time.Time
	for i := range c.Recipients.Len() {
		at := c.EventOf(i).Data.expiresAt
		if at.IsZero() {
			continue
		}
		if out == nil {
			out = make([]time.Time, c.Recipients.Len())
		}
		out[i] = at
	}
	return out
}

// toMIMC maps a batched call onto the MIMC client's call: the same content
// and recipients.
func toMIMC(c *call) mimc.Call {
	return mimc.Call{Content: *c.Content, Recipients: c.Recipients}
}

// results maps MIMC's answer onto the call's recipients: one packet id each,
// or one error for all, and an expiredError for each recipient that expired
// before it was sent (withdrawn by dropExpired).
func results(c *call, res mimc.Result, err error) []batching.Result {
	attempts := res.Attempts
	var me *mimc.Error
	if errors.As(err, &me) {
		attempts = me.Attempts
	}
	if err != nil && len(res.Withdrawn) == 0 {
		return []batching.Result{{Err: err, Attempts: max(attempts, 1)}}
	}
	out := make([]batching.Result, c.Recipients.Len())
	for i := range out {
		switch {
		case err != nil:
			out[i] = batching.Result{Err: err, Attempts: attempts}
		default:
			out[i] = batching.Result{PacketID: res.PacketIDs[i], Attempts: attempts}
		}
	}
	for _, i := range res.Withdrawn {
		out[i] = batching.Result{Err: &expiredError{at: c.EventOf(i).Data.expiresAt}, Attempts: attempts}
	}
	return out
}

// expiredError is the result of a recipient whose event expired before the
// recipient was sent.
type expiredError struct{ at time.Time }

func (e *expiredError) Error() string { return event.ExpiredError(e.at) }
