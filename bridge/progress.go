package bridge

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/metrics"
)

// progressConfig configures the progress stage.
type progressConfig struct {
	every      time.Duration // between commits
	lagEvery   int           // commits between lag lookups
	stallAfter time.Duration // events pending and no outcome written this long is a stall
	// clockSkew is taken off the bound a commit carries: the outcomes'
	// timestamps may come from another clock (a broker's, another
	// member's) than the one that took it.
	clockSkew time.Duration
	// boundRefresh is the age past which the bound of a partition with
	// nothing new to commit is committed again, fresh: the next owner
	// reads the results topic from it.
	boundRefresh time.Duration
}

// progress commits what the tracker allows and updates the progress gauges
// (stall, lag) every tick, until stop is called; stop returns once the loop
// has ended.
func (g *generation) progress() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(g.cfg.progress.every)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				g.commit(ctx)
				g.observe()
				g.observeQuota()
				if n%g.cfg.progress.lagEvery == 0 {
					g.lag(ctx)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-stopped
	}
}

// commitWith commits offsets with their bounds and records both; failed
// says what to log when the commit fails.
func (g *generation) commitWith(ctx context.Context, offsets map[TopicPartition]int64, since map[TopicPartition]time.Time, failed string) bool {
	if err := g.committer.Commit(ctx, offsets, since); err != nil {
		g.met.CommitErrors.Inc()
		g.log.Warn(failed, zap.Error(err))
		return false
	}
	g.committedBounds(offsets, since)
	g.tracker.Committed(offsets)
	return true
}

// commit commits, per partition, the offset below which every record has
// its outcome written, with a bound on when those outcomes were written.
func (g *generation) commit(ctx context.Context) {
	since := g.bounds(time.Now()) // before Committable: a bound taken earlier holds for later offsets
	offsets := g.tracker.Committable()
	g.lowerToFloors(offsets, since)
	offsets = g.refreshBounds(offsets, since)
	if len(offsets) == 0 {
		return
	}
	if !g.commitWith(ctx, offsets, since, "committing offsets failed") {
		return
	}
	g.met.Commits.Inc()
	for tp, off := range offsets {
		g.met.CommittedOffset.WithLabelValues(tp.Topic, metrics.PartitionLabel(tp.Partition)).Set(float64(off))
	}
}

// observe tells whether work has stalled: events pending and no outcome
// written for stallAfter. Time with nothing pending counts as progress, so
// the first event after a lull is not taken for a stall.
func (g *generation) observe() {
	now := time.Now()
	pending := g.held()
	if pending == 0 {
		g.lastProgress.Store(now.UnixNano())
	}
	idle := now.Sub(time.Unix(0, g.lastProgress.Load()))
	stalled := pending > 0 && idle > g.cfg.progress.stallAfter
	if stalled != g.health.stalled.Load() {
		g.health.stalled.Store(stalled)
		if stalled {
			g.log.Warn("work has stalled", zap.Int("pending_events", pending), zap.Duration("idle", idle))
		}
	}
	if stalled {
		g.met.Stalled.Set(1)
	} else {
		g.met.Stalled.Set(0)
	}
	oldest := 0.0
	if pending > 0 {
		oldest = idle.Seconds()
	}
	g.met.OldestPendingSeconds.Set(oldest)
}

// lag sets each partition's lag: its end offset minus the committed one.
func (g *generation) lag(ctx context.Context) {
	if g.offsets == nil || len(g.assignments) == 0 {
		return
	}
	tps := make([]TopicPartition, len(g.assignments))
	for i, a := range g.assignments {
		tps[i] = a.TopicPartition
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	end, err := g.offsets.EndOffsets(ctx, tps)
	if err != nil {
		return
	}
	for tp, c := range g.tracker.CommittedOffsets() {
		if e, ok := end[tp]; ok {
			g.met.PartitionLag.WithLabelValues(tp.Topic, metrics.PartitionLabel(tp.Partition)).Set(float64(e - c))
		}
	}
}
