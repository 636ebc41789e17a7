package bridge

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/quota"
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

// progressClock is when the pipeline last made progress: an outcome
// written, or a moment with nothing pending. The write stage marks it, the
// progress stage reads it.
type progressClock struct{ at atomic.Int64 } // unix nanos

func newProgressClock(now time.Time) *progressClock {
	c := &progressClock{}
	c.mark(now)
	return c
}

func (c *progressClock) mark(now time.Time) { c.at.Store(now.UnixNano()) }

// since returns how long ago the last progress was.
func (c *progressClock) since(now time.Time) time.Duration { return now.Sub(time.Unix(0, c.at.Load())) }

// progressStage commits what the tracker allows, with the bounds their
// outcomes keep, and watches progress (stall, lag) every tick.
type progressStage struct {
	cfg         progressConfig
	committer   Committer
	offsets     EndOffsets // nil: no lag gauges
	assignments []Assignment
	tracker     *Tracker
	bounds      *commitBounds
	rooms       [priorities]*room // their events are the pending ones
	progress    *progressClock
	quota       *quota.Limiter // nil: none
	log         *zap.Logger
	obs         progressObserver
	stalled     bool // at the last tick
}

// run commits and watches every tick until stop is called; stop returns
// once the loop has ended.
func (s *progressStage) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.cfg.every)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.commit(ctx)
				s.observe()
				observeQuota(s.quota)
				if n%s.cfg.lagEvery == 0 {
					s.lag(ctx)
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
func (s *progressStage) commitWith(ctx context.Context, offsets map[TopicPartition]int64, since map[TopicPartition]time.Time, failed string) bool {
	if err := s.committer.Commit(ctx, offsets, since); err != nil {
		s.obs.commitFailed()
		s.log.Warn(failed, zap.Error(err))
		return false
	}
	s.bounds.committed(offsets, since)
	s.tracker.Committed(offsets)
	return true
}

// commit commits, per partition, the offset below which every record has
// its outcome written, with a bound on when those outcomes were written.
func (s *progressStage) commit(ctx context.Context) {
	since := s.bounds.at(s.tracker, time.Now()) // before Committable: a bound taken earlier holds for later offsets
	offsets := s.tracker.Committable()
	s.bounds.lowerToFloors(offsets, since)
	offsets = s.bounds.refresh(offsets, since, s.tracker.CommittedOffsets())
	if len(offsets) == 0 {
		return
	}
	if !s.commitWith(ctx, offsets, since, "committing offsets failed") {
		return
	}
	s.obs.committed(offsets)
}

// pending reports the events in flight in every lane.
func (s *progressStage) pending() int {
	n := 0
	for _, r := range s.rooms {
		n += r.held()
	}
	return n
}

// observe tells whether work has stalled: events pending and no outcome
// written for stallAfter. Time with nothing pending counts as progress, so
// the first event after a lull is not taken for a stall.
func (s *progressStage) observe() {
	now := time.Now()
	pending := s.pending()
	if pending == 0 {
		s.progress.mark(now)
	}
	idle := s.progress.since(now)
	stalled := pending > 0 && idle > s.cfg.stallAfter
	if stalled && !s.stalled {
		s.log.Warn("work has stalled", zap.Int("pending_events", pending), zap.Duration("idle", idle))
	}
	s.stalled = stalled
	oldest := time.Duration(0)
	if pending > 0 {
		oldest = idle
	}
	s.obs.progress(stalled, oldest)
}

// lag sets each partition's lag: its end offset minus the committed one.
func (s *progressStage) lag(ctx context.Context) {
	if s.offsets == nil || len(s.assignments) == 0 {
		return
	}
	tps := make([]TopicPartition, len(s.assignments))
	for i, a := range s.assignments {
		tps[i] = a.TopicPartition
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	end, err := s.offsets.EndOffsets(ctx, tps)
	if err != nil {
		return
	}
	for tp, c := range s.tracker.CommittedOffsets() {
		if e, ok := end[tp]; ok {
			s.obs.lag(tp, e-c)
		}
	}
}
