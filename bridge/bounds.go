package bridge

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"
)

// A crash, a drain that runs out of time or a member that loses its
// partitions without leaving leaves outcomes on the results topic whose
// records are not committed. MIMC has no idempotency key, so doing them again
// pushes to users' phones twice. Each commit therefore carries a bound (no
// outcome of a record at or after the committed offset was written before
// it), and a generation starts by reading the results topic from the bound
// on: the records whose outcome it finds are skipped (no push, no second
// outcome) and count as done.

// floor keeps the bound of a partition's previous commit for as long as
// records skipped as done lie at or after the offset to commit: their
// outcomes were written before this generation fetched anything.
type floor struct {
	since time.Time
	until int64 // the last offset skipped
}

// commitBounds holds the bounds of one generation's commits: the bound each
// partition's last commit carried, and the floors of the partitions with
// records skipped as done. The progress stage owns it once the stages run.
type commitBounds struct {
	assignments []Assignment
	// skew is taken off every bound: the outcomes' timestamps may come
	// from another clock (a broker's, another member's) than ours.
	skew time.Duration
	// refreshAge is the age past which the bound of a partition with
	// nothing new to commit is committed again, fresh.
	refreshAge time.Duration
	floors     map[TopicPartition]floor
	last       map[TopicPartition]time.Time // the bound of each partition's last commit
}

func newCommitBounds(assignments []Assignment, cfg progressConfig) *commitBounds {
	b := &commitBounds{
		assignments: assignments, skew: cfg.clockSkew, refreshAge: cfg.boundRefresh,
		floors: make(map[TopicPartition]floor),
		last:   make(map[TopicPartition]time.Time, len(assignments)),
	}
	for _, a := range assignments {
		b.last[a.TopicPartition] = a.OutcomesSince
		if !a.BoundKnown {
			// A bound that could not be read may exist: leave it in
			// place until this generation commits progress.
			b.last[a.TopicPartition] = time.Now()
		}
	}
	return b
}

// findDone looks for the outcomes already written for the assigned
// partitions (scanner nil: not looked for), sets the floors their skipped
// records keep, and logs one line that says what will be skipped. It returns
// the records to skip.
func findDone(ctx context.Context, scanner Scanner, b *commitBounds, log *zap.Logger, met *metricsObserver) Done {
	unbounded := 0
	for _, a := range b.assignments {
		if a.OutcomesSince.IsZero() {
			unbounded++
		}
	}
	if scanner == nil || unbounded == len(b.assignments) {
		if len(b.assignments) > 0 {
			log.Info("outcomes already written: not looked for, the commits of these partitions carry no bound (none yet, or made by another tool)",
				zap.Int("partitions_without_bound", unbounded))
		}
		return Done{}
	}
	done, stats, err := scanner.Scan(ctx, b.assignments)
	met.scanned(stats)
	if err != nil {
		log.Warn("outcomes already written: looking for them failed, nothing is skipped (work done before may be done again)",
			zap.Int("records_read", stats.Read), zap.Duration("took", stats.Took), zap.Error(err))
		// The outcomes not found are still on the results topic: this
		// generation's commits keep the bounds they came with, so that
		// the next owner looks for them again.
		for _, a := range b.assignments {
			if !a.OutcomesSince.IsZero() {
				b.floors[a.TopicPartition] = floor{since: a.OutcomesSince, until: math.MaxInt64}
			}
		}
		return Done{}
	}
	var skipped []string
	for _, a := range b.assignments {
		offs := done.Partition(a.TopicPartition)
		if len(offs) == 0 {
			continue
		}
		last := offs[len(offs)-1]
		skipped = append(skipped, fmt.Sprintf("%s: %d of offsets %d to %d", a.TopicPartition, len(offs), offs[0], last))
		b.floors[a.TopicPartition] = floor{since: a.OutcomesSince, until: last}
	}
	log.Info("outcomes already written: their records are skipped",
		zap.Int("skipping", done.Len()), zap.Strings("skipped", skipped),
		zap.Time("outcomes_since", stats.Since), zap.Int("partitions_without_bound", unbounded),
		zap.Int("results_partitions_read", stats.Partitions), zap.Int("records_read", stats.Read),
		zap.Duration("took", stats.Took))
	return done
}

// seed commits, before anything is fetched, the start offset of every
// partition whose commit carries no bound (or that has no commit: a new
// group starts at the first offset, which first looks up; nil: not looked
// up), with a bound: until this generation's first commit of it, a crash
// would otherwise leave the next owner nothing to look from, and every
// outcome written would be written again. Where reading the commit failed,
// its bound, if any, is kept.
func (s *progressStage) seed(ctx context.Context, first Scanner) {
	offsets := make(map[TopicPartition]int64)
	var unknown []TopicPartition
	for _, a := range s.assignments {
		switch {
		case !a.OutcomesSince.IsZero() || !a.BoundKnown:
		case a.Offset >= 0:
			offsets[a.TopicPartition] = a.Offset
		default:
			unknown = append(unknown, a.TopicPartition)
		}
	}
	now := time.Now().Add(-s.cfg.clockSkew)
	if len(unknown) > 0 && first != nil {
		starts, err := first.FirstOffsets(ctx, unknown)
		if err != nil {
			s.log.Warn("looking up where partitions without a commit start failed: they get a bound at their first commit", zap.Error(err))
		}
		for tp, off := range starts {
			offsets[tp] = off
		}
	}
	if len(offsets) == 0 {
		return
	}
	since := make(map[TopicPartition]time.Time, len(offsets))
	for tp := range offsets {
		since[tp] = now
	}
	s.commitWith(ctx, offsets, since, "committing the start offsets with a bound failed")
}

// committed records the bounds of a successful commit.
func (b *commitBounds) committed(offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) {
	for tp := range offsets {
		b.last[tp] = since[tp]
	}
}

// refresh adds to offsets every partition with nothing new to commit
// whose last committed bound is older than the refresh age: its committed
// offset again, with the fresh bound. An idle partition's bound would
// otherwise age, and the next owner would read everything written to the
// results topic since. Call it after lowerToFloors; offsets may be nil.
func (b *commitBounds) refresh(offsets map[TopicPartition]int64, since map[TopicPartition]time.Time, committed map[TopicPartition]int64) map[TopicPartition]int64 {
	for _, a := range b.assignments {
		tp := a.TopicPartition
		if _, ok := offsets[tp]; ok {
			continue
		}
		c, ok := committed[tp]
		if !ok {
			continue
		}
		if t := b.floored(tp, c, since[tp]); t.Sub(b.last[tp]) > b.refreshAge {
			if offsets == nil {
				offsets = make(map[TopicPartition]int64)
			}
			offsets[tp], since[tp] = c, t
		}
	}
	return offsets
}

// at returns, per assigned partition, the bound a commit of it taken
// after now carries: the fetch time of its oldest record in flight, or now
// when none is, less the clock skew allowed between members and brokers.
// Call it before the tracker's Committable (see Tracker.OldestFetch).
func (b *commitBounds) at(tracker *Tracker, now time.Time) map[TopicPartition]time.Time {
	since := make(map[TopicPartition]time.Time, len(b.assignments))
	for _, a := range b.assignments {
		t, ok := tracker.OldestFetch(a.TopicPartition)
		if !ok || t.After(now) {
			t = now
		}
		since[a.TopicPartition] = t.Add(-b.skew)
	}
	return since
}

// lowerToFloors lowers the bound of each partition of offsets to its floor
// while skipped records lie at or after its offset.
func (b *commitBounds) lowerToFloors(offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) {
	for tp, off := range offsets {
		since[tp] = b.floored(tp, off, since[tp])
	}
}

// floored returns the bound of a commit of tp at off: t, or tp's floor
// while skipped records lie at or after off.
func (b *commitBounds) floored(tp TopicPartition, off int64, t time.Time) time.Time {
	if f, ok := b.floors[tp]; ok && off <= f.until && f.since.Before(t) {
		return f.since
	}
	return t
}
