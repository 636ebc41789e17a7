package bridge

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
)

// generation is the wiring of one generation: its stages, built with what
// each needs, and the few objects they share, each passed to the stages that
// touch it:
//
//   - the tracker: fetch adds records, write marks them done, progress
//     commits what it allows;
//   - the lanes' rooms: fetch takes room, write frees it, the batch loop and
//     progress read what is held;
//   - the waits (order.go): fetch admits records, batch takes those
//     released, send releases what waited for a completed event;
//   - the send budget (quota.go): batch takes it, send frees it;
//   - the backlog: fetch writes it, the normal lane's hold reads it;
//   - the progress clock: write marks it, progress reads it.
type generation struct {
	log         *zap.Logger
	drain       time.Duration // the drain budget
	assignments []Assignment
	lanes       [priorities]*lane
	waits       *waits
	obs         *metricsObserver
	// abandon ends MIMC calls and outcome writes when a drain runs out of
	// time; what was abandoned stays uncommitted for the next owner.
	abandon context.CancelFunc

	fetch    *fetchStage
	batch    *batchStage
	send     *sendStage
	write    *writeStage
	progress *progressStage
}

// run is one generation's pipeline: it runs until ctx ends (the generation
// is revoked or the bridge stops), then drains and commits before it
// returns.
func (p *pipeline) run(ctx context.Context, id int32, assignments []Assignment, committer Committer) {
	g, err := p.begin(ctx, id, assignments, committer)
	if err != nil {
		p.log.Error("starting the generation", zap.Int32("generation", id), zap.Error(err))
		return
	}
	defer g.abandon()

	events := g.fetch.run(ctx, assignments) // per lane; closed once every partition's fetcher has stopped, when ctx ends
	calls, settled := g.batch.run(events)   // per lane, and settled; closed once events are, after the batchers are flushed
	sent := g.send.run(calls)               // closed once every sender of both lanes has returned
	written := g.write.run(sent, settled)   // closed once both inputs are closed and drained
	stopProgress := g.progress.run()        // commits and watches progress every tick

	<-ctx.Done()
	drainStart := time.Now()
	g.drainStages(written)
	stopProgress()
	g.progress.commit(context.WithoutCancel(ctx)) // the last commit of this generation, before the handler returns
	g.end(drainStart)
}

// begin builds the stages of a generation and does what precedes fetching:
// the quota share, the outcomes already written, the dedup window and the
// start offsets' bounds.
func (p *pipeline) begin(ctx context.Context, id int32, assignments []Assignment, committer Committer) (*generation, error) {
	abandonCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	log := p.log.With(zap.Int32("generation", id))
	obs := newMetricsObserver(p.met, p.health)
	p.setShare(ctx, log, len(assignments))
	budget := newSendBudget(p.quota, p.cfg.drain)
	waits := newWaits(p.window, obs)
	lag := newBacklog(assignments)
	hold := &holdPolicy{linger: p.cfg.batch.Linger, drain: p.cfg.drain, lag: lag, waits: waits}
	g := &generation{log: log, drain: p.cfg.drain, assignments: assignments, waits: waits, obs: obs, abandon: abandon}
	var rooms [priorities]*room
	var senders [priorities]int
	for prio, lc := range p.cfg.lanes {
		bc := p.cfg.batch
		bc.MaxPendingEvents = lc.maxPending
		bc.KindMaxRecipients = p.kindMaxRecipients()
		if priority(prio) == normal {
			bc.Hold = hold.hold // urgent calls are never held past their linger
		}
		batcher, err := batching.New(bc)
		if err != nil {
			abandon()
			return nil, err
		}
		rooms[prio] = newRoom(lc.maxPending, lc.maxBytes)
		senders[prio] = lc.senders
		g.lanes[prio] = &lane{prio: priority(prio), room: rooms[prio], batcher: batcher}
	}
	tracker := NewTracker()
	parts := make([]string, 0, len(assignments))
	for _, a := range assignments {
		parts = append(parts, a.TopicPartition.String())
		if a.Offset >= 0 {
			// Known committed offsets let lag be reported from the start.
			tracker.Committed(map[TopicPartition]int64{a.TopicPartition: a.Offset})
		}
	}
	log.Info("partitions assigned", zap.Strings("partitions", parts))
	bounds := newCommitBounds(assignments, p.cfg.progress)
	done := findDone(ctx, p.scanner, bounds, log, obs)
	p.loadWindow(ctx, log, obs)
	progressed := newProgressClock(time.Now())

	var spans func(Assignment) *partitionSpans
	if p.tracer != nil {
		spans = func(a Assignment) *partitionSpans { return newPartitionSpans(p.tracer, p.group, a) }
	}
	g.fetch = &fetchStage{cfg: &p.cfg.fetch, source: p.source, tracker: tracker, done: done, rooms: rooms,
		lag: lag, waits: waits, spans: spans, log: log, obs: obs}
	g.batch = &batchStage{lanes: g.lanes, senders: senders, waits: waits, budget: budget, abandon: abandonCtx, log: log, obs: obs}
	g.send = &sendStage{senders: senders, pusher: p.pusher, budget: budget, waits: waits, tracer: p.tracer, abandon: abandonCtx, obs: obs}
	g.write = &writeStage{cfg: p.cfg.write, pub: p.pub, tracker: tracker, rooms: rooms, progress: progressed, abandon: abandonCtx, obs: obs}
	g.progress = &progressStage{cfg: p.cfg.progress, committer: committer, offsets: p.offsets, assignments: assignments,
		tracker: tracker, bounds: bounds, rooms: rooms, progress: progressed, quota: p.quota, log: log, obs: obs}
	g.progress.seed(ctx, p.scanner)
	obs.started(len(assignments))
	return g, nil
}

// drainStages waits for the stages to finish what they hold. Past the drain
// deadline it abandons in-flight work (no outcome, so no commit: the next
// owner does it again) and waits for the stages to let go.
func (g *generation) drainStages(written <-chan struct{}) {
	g.log.Info("generation ending: draining", zap.Int("pending_events", g.held()))
	t := time.NewTimer(g.drain)
	defer t.Stop()
	select {
	case <-written:
		return
	case <-t.C:
	}
	g.log.Warn("drain deadline passed: abandoning in-flight work, it stays uncommitted for the next owner",
		zap.Duration("deadline", g.drain), zap.Int("pending_events", g.held()))
	g.abandon()
	<-written
}

// end clears what this generation reported.
func (g *generation) end(drainStart time.Time) {
	var pending [priorities]int
	for prio, l := range g.lanes {
		pending[prio] = l.room.held()
	}
	g.waits.end()
	g.obs.ended(g.assignments, pending)
	g.log.Info("generation drained", zap.Duration("took", time.Since(drainStart)))
}

// held reports the events in flight in every lane.
func (g *generation) held() int {
	n := 0
	for _, l := range g.lanes {
		n += l.room.held()
	}
	return n
}
