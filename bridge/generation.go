package bridge

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/metrics"
)

// generation is the state one generation's stages share.
type generation struct {
	*pipeline
	log         *zap.Logger
	assignments []consumer.Assignment
	committer   Committer
	tracker     *consumer.Tracker
	lanes       [priorities]*lane
	budget      *sendBudget // nil: no quota
	// behind is, per assigned partition, what its fetcher last saw of its
	// lag (backlog.go).
	behind map[consumer.TopicPartition]*partitionLag
	adm    *waits // order per key and copies in flight (order.go)
	// done holds the records whose outcome the results topic already
	// had at the start; floors the bounds their commits must keep.
	done   consumer.Done
	floors map[consumer.TopicPartition]floor
	// lastBound is the bound of each partition's last commit (the
	// progress stage's alone once the stages run).
	lastBound map[consumer.TopicPartition]time.Time

	// abandonCtx ends MIMC calls and outcome writes when a drain runs out
	// of time; what was abandoned stays uncommitted for the next owner.
	abandonCtx context.Context
	abandon    context.CancelFunc

	lastProgress atomic.Int64 // unix nanos of the last outcome write, or of the last moment with nothing pending
}

// run is one generation's pipeline: it runs until ctx ends (the generation
// is revoked or the bridge stops), then drains and commits before it
// returns.
func (p *pipeline) run(ctx context.Context, id int32, assignments []consumer.Assignment, committer Committer) {
	g, err := p.begin(ctx, id, assignments, committer)
	if err != nil {
		p.log.Error("starting the generation", zap.Int32("generation", id), zap.Error(err))
		return
	}
	defer g.abandon()

	events := g.fetch(ctx)            // per lane; closed once every partition's fetcher has stopped, when ctx ends
	calls, settled := g.batch(events) // per lane, and settled; closed once events are, after the batchers are flushed
	sent := g.send(calls)             // closed once every sender of both lanes has returned
	written := g.write(sent, settled) // closed once both inputs are closed and drained
	stopProgress := g.progress()      // commits and watches progress every tick

	<-ctx.Done()
	drainStart := time.Now()
	g.drain(written)
	stopProgress()
	g.commit(context.WithoutCancel(ctx)) // the last commit of this generation, before the handler returns
	g.end(drainStart)
}

// begin sets up the state of a generation.
func (p *pipeline) begin(ctx context.Context, id int32, assignments []consumer.Assignment, committer Committer) (*generation, error) {
	abandonCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	g := &generation{
		pipeline: p, log: p.log.With(zap.Int32("generation", id)),
		assignments: assignments, committer: committer,
		tracker:    consumer.NewTracker(),
		abandonCtx: abandonCtx, abandon: abandon,
		floors:    make(map[consumer.TopicPartition]floor),
		lastBound: make(map[consumer.TopicPartition]time.Time),
	}
	p.setShare(ctx, g.log, len(assignments))
	g.budget = newSendBudget(p.quota, p.cfg.drain)
	g.adm = newWaits(p.window, p.met)
	for prio, lc := range p.cfg.lanes {
		bc := p.cfg.batch
		bc.MaxPendingEvents = lc.maxPending
		bc.KindMaxRecipients = p.kindMaxRecipients()
		if priority(prio) == normal {
			bc.Hold = g.hold // urgent calls are never held past their linger
		}
		batcher, err := batching.New(bc)
		if err != nil {
			abandon()
			return nil, err
		}
		g.lanes[prio] = &lane{prio: priority(prio), room: newRoom(lc.maxPending, lc.maxBytes), batcher: batcher}
	}
	g.lastProgress.Store(time.Now().UnixNano())
	g.behind = make(map[consumer.TopicPartition]*partitionLag, len(assignments))
	for _, a := range assignments {
		g.behind[a.TopicPartition] = new(partitionLag)
	}
	parts := make([]string, 0, len(assignments))
	for _, a := range assignments {
		parts = append(parts, a.TopicPartition.String())
		if a.Offset >= 0 {
			// Known committed offsets let lag be reported from the start.
			g.tracker.Committed(map[consumer.TopicPartition]int64{a.TopicPartition: a.Offset})
		}
	}
	g.log.Info("partitions assigned", zap.Strings("partitions", parts))
	g.findDone(ctx)
	g.loadWindow(ctx)
	g.seedBounds(ctx)
	p.met.Generations.Inc()
	p.met.AssignedPartitions.Set(float64(len(assignments)))
	p.health.setJoined(true)
	return g, nil
}

// drain waits for the stages to finish what they hold. Past the drain
// deadline it abandons in-flight work (no outcome, so no commit: the next
// owner does it again) and waits for the stages to let go.
func (g *generation) drain(written <-chan struct{}) {
	g.log.Info("generation ending: draining", zap.Int("pending_events", g.held()))
	t := time.NewTimer(g.cfg.drain)
	defer t.Stop()
	select {
	case <-written:
		return
	case <-t.C:
	}
	g.log.Warn("drain deadline passed: abandoning in-flight work, it stays uncommitted for the next owner",
		zap.Duration("deadline", g.cfg.drain), zap.Int("pending_events", g.held()))
	g.abandon()
	<-written
}

// end clears what this generation reported.
func (g *generation) end(drainStart time.Time) {
	for _, l := range g.lanes {
		g.met.PendingEvents.WithLabelValues(l.prio.String()).Sub(float64(l.room.held()))
	}
	g.adm.end()
	g.met.AssignedPartitions.Set(0)
	for _, a := range g.assignments {
		// The next generation may give these partitions to another
		// member: their gauges must not linger here.
		p := metrics.PartitionLabel(a.Partition)
		g.met.PartitionLag.DeleteLabelValues(a.Topic, p)
		g.met.CommittedOffset.DeleteLabelValues(a.Topic, p)
	}
	g.health.setJoined(false)
	g.log.Info("generation drained", zap.Duration("took", time.Since(drainStart)))
}
