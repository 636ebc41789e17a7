package bridge

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

// setShare gives the quota limiter this member's share of the group's
// quota for the generation: the input partitions it holds over all the
// partitions of the input topics. The count is looked up at every
// generation, since partitions can be added; when the lookup fails the
// last count stands.
func (p *pipeline) setShare(ctx context.Context, log *zap.Logger, held int) {
	if p.quota == nil {
		return
	}
	if p.partitions != nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := p.partitions.PartitionCount(cctx, p.cfg.topics)
		cancel()
		if err != nil {
			log.Warn("counting the input partitions failed: the quota share keeps the last count",
				zap.Int("partitions", p.totalPartitions), zap.Error(err))
		} else {
			p.totalPartitions = n
		}
	}
	// Partitions added since the count are held already.
	total := max(p.totalPartitions, held)
	share := 0.0
	if total > 0 {
		share = float64(held) / float64(total)
	}
	log.Info("quota share", zap.Int("partitions_held", held), zap.Int("partitions", total))
	p.quota.SetShare(share)
}

// slowQuotaWarning is one start-up warning about a quota too low to drain.
type slowQuotaWarning struct {
	msg    string
	fields []zap.Field
}

// slowQuotaWarnings warns, per kind, when the group's whole quota (the best
// share a member can have) takes longer than the drain budget to send one
// full call: what is pending of the kind then cannot be sent within a
// rebalance or a shutdown, and is abandoned for the next owner to do again.
func slowQuotaWarnings(cfg config.Config) []slowQuotaWarning {
	drain := pipelineSettings(cfg).drain
	var out []slowQuotaWarning
	for _, r := range []struct {
		name string
		rate float64
	}{{"RATE_P2P", cfg.RateP2P}, {"RATE_P2T", cfg.RateP2T}} {
		if r.rate <= 0 {
			continue
		}
		secs := float64(cfg.BatchMaxRecipients) / r.rate
		if secs <= drain.Seconds() {
			continue
		}
		took := "more than 100 years"
		if secs < 100*365*24*3600 {
			took = time.Duration(secs * float64(time.Second)).Round(time.Second).String()
		}
		out = append(out, slowQuotaWarning{
			msg: config.EnvPrefix + r.name + " is so low that the pending events of its kind take longer to send than the drain budget: " +
				"a rebalance or a shutdown abandons them (the next owner sends them again)",
			fields: []zap.Field{
				zap.String("setting", config.EnvPrefix+r.name), zap.Float64("rate", r.rate),
				zap.Int("batch_max_recipients", cfg.BatchMaxRecipients), zap.String("one_full_call_takes", took),
				zap.Duration("drain_budget", drain),
			},
		})
	}
	return out
}

// observeQuota brings the rate gauges of q (nil: none) up to date: a rate
// recovering from 429s climbs with time, not only when calls are granted.
func observeQuota(q *quota.Limiter) {
	if q == nil {
		return
	}
	for _, k := range []message.Kind{message.P2P, message.P2T} {
		if q.Limited(k) {
			q.Rate(k)
		}
	}
}

// kindMaxRecipients is the largest call of each kind this member may send
// under its share of the quota, for the batcher (nil: no quota).
func (p *pipeline) kindMaxRecipients() map[message.Kind]int {
	if p.quota == nil {
		return nil
	}
	return map[message.Kind]int{message.P2P: p.quota.MaxRecipients(message.P2P), message.P2T: p.quota.MaxRecipients(message.P2T)}
}

// sendBudget sizes the work handed to the senders to what can be sent:
// under a quota, an event of a limited kind goes to the batcher only while
// the recipients of its kind handed on and not yet done would take at most a
// third of the drain budget to send at the member's current rate, and no more
// than maxSendWindow, since a rebalance waits for the slowest member's drain
// while the others' shares of the quota idle. A rebalance then drains what
// was handed on instead of abandoning it. An event is always let through when
// nothing of its kind is handed on, however large.
//
// The budget is per kind and never holds fetching back: an event over its
// kind's budget waits, fetched, in its kind's queue in the lane's batch loop
// (waitingEvents), holding its room like any pending event. So a kind over
// its quota never holds back the other kind, nor the records that need no
// call, and each kind reads ahead as far as MAX_PENDING_EVENTS allows.
type sendBudget struct {
	quota  *quota.Limiter
	window float64 // seconds of sending the recipients handed on may take
	// freed holds a value once recipients are freed: the batch loop then
	// hands on what waits.
	freed chan struct{}

	mu   sync.Mutex
	held map[message.Kind]int
}

// budgeted reports whether rec counts in the send budget: a normal event
// that goes to MIMC. Urgent events have room of their own, which a normal
// backlog must not take.
func (rec *record) budgeted() bool { return rec.settled == nil && rec.prio == normal }

// maxSendWindow bounds the sending the recipients handed on may take: a
// second keeps the quota busy through MIMC's latency, the linger and the
// grants (a tenth of it would), and keeps rebalances short.
const maxSendWindow = time.Second

// newSendBudget returns nil when no kind has a quota: nothing to size.
func newSendBudget(q *quota.Limiter, drain time.Duration) *sendBudget {
	if q == nil || !q.Limited(message.P2P) && !q.Limited(message.P2T) {
		return nil
	}
	window := min(drain/3, maxSendWindow)
	return &sendBudget{quota: q, window: window.Seconds(), held: map[message.Kind]int{}, freed: make(chan struct{}, 1)}
}

// take counts n recipients of the kind if they fit in the budget, and
// reports whether they did. It never waits.
func (b *sendBudget) take(kind message.Kind, n int) bool {
	if b == nil || !b.quota.Limited(kind) {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	held := b.held[kind]
	if held == 0 || float64(held+n) <= b.quota.Rate(kind)*b.window {
		b.held[kind] = held + n
		return true
	}
	return false
}

// free gives back the recipients of a completed event.
func (b *sendBudget) free(kind message.Kind, n int) {
	if b == nil || !b.quota.Limited(kind) {
		return
	}
	b.mu.Lock()
	b.held[kind] -= n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default: // the batch loop has a value to read already
	}
}

// waitingEvents holds, per kind, the events of a lane that wait for room in
// their kind's send budget, in fetch order. The lane's batch loop owns it.
type waitingEvents struct {
	budget *sendBudget
	gauge  func(kind message.Kind) level
	queues map[message.Kind][]*record
}

func newWaitingEvents(b *sendBudget, gauge func(kind message.Kind) level) *waitingEvents {
	return &waitingEvents{budget: b, gauge: gauge, queues: map[message.Kind][]*record{}}
}

// admit reports whether rec may go to the batcher now; when not, rec waits
// behind the events of its kind that wait already.
func (w *waitingEvents) admit(rec *record) bool {
	if !rec.budgeted() {
		return true
	}
	kind := rec.ev.Kind
	if len(w.queues[kind]) == 0 && w.budget.take(kind, rec.ev.Recipients.Len()) {
		rec.inBudget = true
		return true
	}
	w.queues[kind] = append(w.queues[kind], rec)
	w.gauge(kind).Inc()
	return false
}

// release hands the events that now fit in their kind's budget to add, in
// fetch order per kind.
func (w *waitingEvents) release(add func(*record)) {
	for kind, q := range w.queues {
		n := 0
		for n < len(q) && w.budget.take(kind, q[n].ev.Recipients.Len()) {
			q[n].inBudget = true
			add(q[n])
			q[n] = nil
			n++
		}
		if n == 0 {
			continue
		}
		w.gauge(kind).Sub(float64(n))
		if n == len(q) {
			w.queues[kind] = q[:0]
		} else {
			w.queues[kind] = q[n:]
		}
	}
}

// abandon drops what waits when the generation ends: no outcome, so no
// commit; the next owner of the partitions fetches them again. It returns
// how many events of each kind it dropped, and the events.
func (w *waitingEvents) abandon() (map[message.Kind]int, []*record) {
	left := map[message.Kind]int{}
	var recs []*record
	for kind, q := range w.queues {
		if len(q) == 0 {
			continue
		}
		left[kind] = len(q)
		w.gauge(kind).Sub(float64(len(q)))
		for _, rec := range q {
			abandonSpan(rec.span)
		}
		recs = append(recs, q...)
		delete(w.queues, kind)
	}
	return left, recs
}

// freeOf gives back the recipients rec took in its kind's send budget, if
// it took any.
func (b *sendBudget) freeOf(rec *record) {
	if rec.inBudget {
		rec.inBudget = false
		b.free(rec.ev.Kind, rec.ev.Recipients.Len())
	}
}
