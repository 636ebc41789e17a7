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

// findDone looks for the outcomes already written for the assigned
// partitions and logs one line that says what will be skipped.
func (g *generation) findDone(ctx context.Context) {
	unbounded := 0
	for _, a := range g.assignments {
		if a.OutcomesSince.IsZero() {
			unbounded++
		}
		g.lastBound[a.TopicPartition] = a.OutcomesSince
		if !a.BoundKnown {
			// A bound that could not be read may exist: leave it in
			// place until this generation commits progress.
			g.lastBound[a.TopicPartition] = time.Now()
		}
	}
	if g.scanner == nil || unbounded == len(g.assignments) {
		if len(g.assignments) > 0 {
			g.log.Info("outcomes already written: not looked for, the commits of these partitions carry no bound (none yet, or made by another tool)",
				zap.Int("partitions_without_bound", unbounded))
		}
		return
	}
	done, stats, err := g.scanner.Scan(ctx, g.assignments)
	g.met.ResultsScanSeconds.Set(stats.Took.Seconds())
	g.met.ResultsScanRecords.Set(float64(stats.Read))
	g.met.ResultsScanIgnored.Add(float64(stats.Ignored)) // the scanner logs them
	if err != nil {
		g.log.Warn("outcomes already written: looking for them failed, nothing is skipped (work done before may be done again)",
			zap.Int("records_read", stats.Read), zap.Duration("took", stats.Took), zap.Error(err))
		// The outcomes not found are still on the results topic: this
		// generation's commits keep the bounds they came with, so that
		// the next owner looks for them again.
		for _, a := range g.assignments {
			if !a.OutcomesSince.IsZero() {
				g.floors[a.TopicPartition] = floor{since: a.OutcomesSince, until: math.MaxInt64}
			}
		}
		return
	}
	var skipped []string
	for _, a := range g.assignments {
		offs := done.Partition(a.TopicPartition)
		if len(offs) == 0 {
			continue
		}
		last := offs[len(offs)-1]
		skipped = append(skipped, fmt.Sprintf("%s: %d of offsets %d to %d", a.TopicPartition, len(offs), offs[0], last))
		g.floors[a.TopicPartition] = floor{since: a.OutcomesSince, until: last}
	}
	g.done = done
	g.log.Info("outcomes already written: their records are skipped",
		zap.Int("skipping", done.Len()), zap.Strings("skipped", skipped),
		zap.Time("outcomes_since", stats.Since), zap.Int("partitions_without_bound", unbounded),
		zap.Int("results_partitions_read", stats.Partitions), zap.Int("records_read", stats.Read),
		zap.Duration("took", stats.Took))
}

// skip reports whether the outcome of offset of tp is already written; the
// record then counts as done at once.
func (g *generation) skip(tp TopicPartition, offset int64) bool {
	if !g.done.Has(tp, offset) {
		return false
	}
	g.tracker.Add(tp, offset, time.Now())
	g.tracker.Done(tp, offset)
	return true
}

// seedBounds commits, before anything is fetched, the start offset of every
// partition whose commit carries no bound (or that has no commit: a new
// group starts at the first offset), with a bound: until this generation's
// first commit of it, a crash would otherwise leave the next owner nothing to
// look from, and every outcome written would be written again. Where reading
// the commit failed, its bound, if any, is kept.
func (g *generation) seedBounds(ctx context.Context) {
	offsets := make(map[TopicPartition]int64)
	var unknown []TopicPartition
	for _, a := range g.assignments {
		switch {
		case !a.OutcomesSince.IsZero() || !a.BoundKnown:
		case a.Offset >= 0:
			offsets[a.TopicPartition] = a.Offset
		default:
			unknown = append(unknown, a.TopicPartition)
		}
	}
	now := time.Now().Add(-g.cfg.progress.clockSkew)
	if len(unknown) > 0 && g.scanner != nil {
		first, err := g.scanner.FirstOffsets(ctx, unknown)
		if err != nil {
			g.log.Warn("looking up where partitions without a commit start failed: they get a bound at their first commit", zap.Error(err))
		}
		for tp, off := range first {
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
	g.commitWith(ctx, offsets, since, "committing the start offsets with a bound failed")
}

// committedBounds records the bounds of a successful commit.
func (g *generation) committedBounds(offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) {
	for tp := range offsets {
		g.lastBound[tp] = since[tp]
	}
}

// refreshBounds adds to offsets every partition with nothing new to commit
// whose last committed bound is older than the refresh age: its committed
// offset again, with the fresh bound. An idle partition's bound would
// otherwise age, and the next owner would read everything written to the
// results topic since. Call it after lowerToFloors; offsets may be nil.
func (g *generation) refreshBounds(offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) map[TopicPartition]int64 {
	committed := g.tracker.CommittedOffsets()
	for _, a := range g.assignments {
		tp := a.TopicPartition
		if _, ok := offsets[tp]; ok {
			continue
		}
		c, ok := committed[tp]
		if !ok {
			continue
		}
		if b := g.floored(tp, c, since[tp]); b.Sub(g.lastBound[tp]) > g.cfg.progress.boundRefresh {
			if offsets == nil {
				offsets = make(map[TopicPartition]int64)
			}
			offsets[tp], since[tp] = c, b
		}
	}
	return offsets
}

// bounds returns, per assigned partition, the bound a commit of it taken
// after now carries: the fetch time of its oldest record in flight, or now
// when none is, less the clock skew allowed between members and brokers.
// Call it before the tracker's Committable (see Tracker.OldestFetch).
func (g *generation) bounds(now time.Time) map[TopicPartition]time.Time {
	since := make(map[TopicPartition]time.Time, len(g.assignments))
	for _, a := range g.assignments {
		t, ok := g.tracker.OldestFetch(a.TopicPartition)
		if !ok || t.After(now) {
			t = now
		}
		since[a.TopicPartition] = t.Add(-g.cfg.progress.clockSkew)
	}
	return since
}

// lowerToFloors lowers the bound of each partition of offsets to its floor
// while skipped records lie at or after its offset.
func (g *generation) lowerToFloors(offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) {
	for tp, off := range offsets {
		since[tp] = g.floored(tp, off, since[tp])
	}
}

// floored returns the bound of a commit of tp at off: t, or tp's floor
// while skipped records lie at or after off.
func (g *generation) floored(tp TopicPartition, off int64, t time.Time) time.Time {
	if f, ok := g.floors[tp]; ok && off <= f.until && f.since.Before(t) {
		return f.since
	}
	return t
}
