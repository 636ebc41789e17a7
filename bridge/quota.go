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

// observeQuota brings the rate gauges up to date: a rate recovering from
// 429s climbs with time, not only when calls are granted.
func (p *pipeline) observeQuota() {
	if p.quota == nil {
		return
	}
	for _, k := range []string{message.P2P, message.P2T} {
		if p.quota.Limited(k) {
			p.quota.Rate(k)
		}
	}
}

// kindMaxRecipients is the largest call of each kind this member may send
// under its share of the quota, for the batcher (nil: no quota).
func (p *pipeline) kindMaxRecipients() map[string]int {
	if p.quota == nil {
		return nil
	}
	return map[string]int{message.P2P: p.quota.MaxRecipients(message.P2P), message.P2T: p.quota.MaxRecipients(message.P2T)}
}

// sendBudget sizes what is pending to what can be sent: under a quota,
// fetching pauses once the recipients pending of a kind would take more
// than a third of the drain budget to send at the member's current rate, so
// that a rebalance drains what is pending instead of abandoning it; and no
// more than maxSendWindow, since a rebalance waits for the slowest member's
// drain while the others' shares of the quota idle. An event is always let
// through when nothing of its kind is pending, however large.
type sendBudget struct {
	quota  *quota.Limiter
	window float64 // seconds of sending the pending recipients may take

	mu      sync.Mutex
	held    map[string]int
	freed   chan struct{} // closed when recipients are freed, if waiting
	waiting bool
}

// budgeted reports whether rec counts in the send budget: a normal event
// that goes to MIMC. Urgent events have room of their own, which a normal
// backlog must not take.
func (rec *record) budgeted() bool { return rec.settled == nil && rec.prio == normal }

// maxSendWindow bounds the sending the pending recipients may take: a
// second keeps the quota busy through MIMC's latency, the linger and the
// grants (a tenth of it would), and keeps rebalances short.
const maxSendWindow = time.Second

// newSendBudget returns nil when no kind has a quota: nothing to size.
func newSendBudget(q *quota.Limiter, drain time.Duration) *sendBudget {
	if q == nil || !q.Limited(message.P2P) && !q.Limited(message.P2T) {
		return nil
	}
	window := min(drain/3, maxSendWindow)
	return &sendBudget{quota: q, window: window.Seconds(), held: map[string]int{}, freed: make(chan struct{})}
}

// take waits until n recipients of the kind fit in the budget and counts
// them; false when ctx ended first.
func (b *sendBudget) take(ctx context.Context, kind string, n int) bool {
	if b == nil || !b.quota.Limited(kind) {
		return true
	}
	for {
		b.mu.Lock()
		held := b.held[kind]
		if held == 0 || float64(held+n) <= b.quota.Rate(kind)*b.window {
			b.held[kind] = held + n
			b.mu.Unlock()
			return true
		}
		b.waiting = true
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// free gives back the recipients of a completed event.
func (b *sendBudget) free(kind string, n int) {
	if b == nil || !b.quota.Limited(kind) {
		return
	}
	b.mu.Lock()
	b.held[kind] -= n
	if b.waiting {
		close(b.freed)
		b.freed = make(chan struct{})
		b.waiting = false
	}
	b.mu.Unlock()
}
