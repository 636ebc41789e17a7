package bridge

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/textcut"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// record is one fetched input record on its way through the pipeline. The
// batching event is embedded so that one allocation carries both.
type record struct {
	batching.Event
	tp         consumer.TopicPartition
	offset     int64
	receivedAt time.Time
	ev         event.Event
}

// outItem is one outcome ready to be written.
type outItem struct {
	tp     consumer.TopicPartition
	offset int64
	key    []byte
	value  []byte
	status string
	// The outcome, for a smaller form when the broker refuses value as too
	// large: out when it was built apart (rejected records), else rebuilt
	// from rec as completed at at.
	out *event.Outcome
	rec *record
	at  time.Time
}

// outcome returns the outcome the item was encoded from.
func (it *outItem) outcome(g *generation) *event.Outcome {
	if it.out != nil {
		return it.out
	}
	out := g.outcome(it.rec, it.at, nil)
	return &out
}

// generation is the pipeline of one consumer group generation.
type generation struct {
	b       *Bridge
	gen     *consumer.Generation
	log     *zap.Logger
	tracker *consumer.Tracker
	slots   chan struct{} // one token per event in flight: fetching pauses when full
	batcher *batching.Batcher

	events chan *record
	calls  chan *batching.Call
	outs   chan outItem

	// abandon cancels MIMC calls and outcome writes when a drain runs out
	// of time; what was abandoned stays uncommitted for the next owner.
	abandonCtx context.Context
	abandon    context.CancelFunc

	lastProgress atomic.Int64 // unix nanos of the last outcome batch written
	lagClient    *kafka.Client
}

func (b *Bridge) runGeneration(gctx context.Context, gen *consumer.Generation) {
	started := time.Now()
	log := b.log.With(zap.Int32("generation", gen.ID))
	parts := make([]string, 0, len(gen.Assignments))
	for _, a := range gen.Assignments {
		parts = append(parts, a.TopicPartition.String())
	}
	log.Info("partitions assigned", zap.Strings("partitions", parts))
	b.met.Generations.Inc()
	b.met.AssignedParts.Set(float64(len(gen.Assignments)))
	b.health.setJoined(true)

	batcher, err := batching.New(batching.Config{
		MaxRecipients:    b.cfg.BatchMaxRecipients,
		Linger:           linger(b.cfg.BatchLinger),
		Size:             b.client.BodySize(),
		MaxPendingEvents: b.cfg.MaxPendingEvents,
	})
	if err != nil {
		// Settings were validated; this is a programming error.
		log.Error("creating the batcher", zap.Error(err))
		return
	}
	abandonCtx, abandon := context.WithCancel(context.WithoutCancel(gctx))
	defer abandon()
	g := &generation{
		b: b, gen: gen, log: log,
		tracker:    consumer.NewTracker(),
		slots:      make(chan struct{}, b.cfg.MaxPendingEvents),
		batcher:    batcher,
		events:     make(chan *record, 256),
		calls:      make(chan *batching.Call, b.cfg.MaxConcurrentCalls),
		outs:       make(chan outItem, 4096),
		abandonCtx: abandonCtx,
		abandon:    abandon,
		lagClient:  &kafka.Client{Addr: kafka.TCP(b.conn.Brokers...), Transport: b.conn.Transport(), Timeout: 5 * time.Second},
	}
	g.lastProgress.Store(started.UnixNano())
	for _, a := range gen.Assignments {
		if a.Offset >= 0 {
			// Known committed offsets let lag be reported from the start.
			g.tracker.Committed(map[consumer.TopicPartition]int64{a.TopicPartition: a.Offset})
		}
	}

	var fetchers, senders sync.WaitGroup
	for _, a := range gen.Assignments {
		fetchers.Add(1)
		go func() {
			defer fetchers.Done()
			g.fetch(gctx, a)
		}()
	}
	go func() {
		fetchers.Wait()
		close(g.events)
	}()
	go g.batchLoop()
	for i := 0; i < b.cfg.MaxConcurrentCalls; i++ {
		senders.Add(1)
		go func() {
			defer senders.Done()
			g.send()
		}()
	}
	go func() {
		fetchers.Wait()
		senders.Wait()
		close(g.outs)
	}()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		g.write()
	}()
	committerDone := make(chan struct{})
	stopCommitter := make(chan struct{})
	go func() {
		defer close(committerDone)
		g.commitLoop(stopCommitter)
	}()

	<-gctx.Done()
	log.Info("generation ending: draining", zap.Int("pending_events", len(g.slots)))
	timer := time.NewTimer(b.drainTimeout)
	select {
	case <-writerDone:
		timer.Stop()
	case <-timer.C:
		log.Warn("drain deadline passed: abandoning in-flight work, it stays uncommitted for the next owner",
			zap.Duration("deadline", b.drainTimeout), zap.Int("pending_events", len(g.slots)))
		abandon()
		<-writerDone
	}
	close(stopCommitter)
	<-committerDone
	g.commit() // the last commit of this generation, before the handler returns
	b.met.PendingEvents.Sub(float64(len(g.slots)))
	b.met.AssignedParts.Set(0)
	for _, a := range gen.Assignments {
		// The next generation may give these partitions to another
		// member: their gauges must not linger here.
		p := metrics.PartitionLabel(a.Partition)
		b.met.Lag.DeleteLabelValues(a.Topic, p)
		b.met.Committed.DeleteLabelValues(a.Topic, p)
	}
	if tr, ok := g.lagClient.Transport.(*kafka.Transport); ok {
		tr.CloseIdleConnections()
	}
	b.health.setJoined(false)
	log.Info("generation drained", zap.Duration("took", time.Since(started)))
}

// fetch reads one partition until the generation ends.
func (g *generation) fetch(ctx context.Context, a consumer.Assignment) {
	b := g.b
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        b.conn.Brokers,
		Dialer:         b.conn.Dialer(),
		Topic:          a.Topic,
		Partition:      a.Partition,
		MinBytes:       1,
		MaxBytes:       4 << 20,
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  256,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    kafka.LoggerFunc(func(f string, args ...any) { g.log.Sugar().Warnf(f, args...) }),
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		g.log.Error("setting the start offset", zap.String("topic", a.Topic), zap.Int("partition", a.Partition), zap.Int64("offset", a.Offset), zap.Error(err))
		return
	}
	consumed := b.met.EventsConsumed.WithLabelValues(a.Topic)
	rejected := b.met.EventsRejected.WithLabelValues(a.Topic)
	for {
		select {
		case g.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			<-g.slots
			if ctx.Err() != nil {
				return
			}
			g.log.Warn("fetching failed", zap.String("topic", a.Topic), zap.Int("partition", a.Partition), zap.Error(err))
			// The reader backs off between failed fetches itself and
			// queues their errors with the messages: a long wait per error
			// here would delay the messages behind them by a second per
			// error queued (26s after a 3s fault). Wait only its minimum.
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		b.met.PendingEvents.Inc()
		consumed.Inc()
		g.tracker.Add(a.TopicPartition, m.Offset)
		now := time.Now()
		src := event.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
		ev, err := event.Decode(m.Value, src, b.limits)
		if err != nil {
			rejected.Inc()
			var rej *event.RejectError
			if !errors.As(err, &rej) {
				rej = &event.RejectError{ID: src.DefaultID(), Reason: err.Error()}
			}
			out := event.NewRejected(src, m.Value, rej, now, time.Now())
			g.emit(a.TopicPartition, m.Offset, &out)
			continue
		}
		rec := &record{tp: a.TopicPartition, offset: m.Offset, receivedAt: now, ev: ev}
		rec.Event.Content, rec.Event.Recipients, rec.Event.Data = &rec.ev.Content, rec.ev.Recipients, rec
		// The batcher loop drains events until the channel closes, so this
		// send cannot block forever.
		g.events <- rec
	}
}

// linger maps BATCH_LINGER=0 (send at once) onto the batcher, which reads a
// zero linger as "use the default".
func linger(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}

// emit encodes an outcome and hands it to the writer.
func (g *generation) emit(tp consumer.TopicPartition, offset int64, out *event.Outcome) {
	it := encode(out)
	it.tp, it.offset, it.out = tp, offset, out
	g.outs <- it
}

// emitDone encodes the outcome of rec, completed at now, and hands it to the
// writer. out is not kept: its recipients may be reused at once.
func (g *generation) emitDone(rec *record, now time.Time, out *event.Outcome) {
	it := encode(out)
	it.tp, it.offset, it.rec, it.at = rec.tp, rec.offset, rec, now
	g.outs <- it
}

func encode(out *event.Outcome) outItem {
	// Key and value share one allocation, sized for the usual outcome.
	buf := make([]byte, 0, outcomeSize(out))
	buf = append(buf, out.ID...)
	k := len(buf)
	return outItem{key: buf[:k:k], value: out.AppendJSON(buf[k:k]), status: out.Status}
}

// outcomeSize estimates the size of an outcome's key and value, so that
// encoding it rarely grows its buffer.
func outcomeSize(out *event.Outcome) int {
	n := 2*len(out.ID) + len(out.Source.Topic) + len(out.Error) + len(out.Input) + 200
	for i := range out.Recipients {
		r := &out.Recipients[i]
		n += len(r.ToAccount) + len(r.TopicID) + len(r.PacketID) + len(r.Message) + len(r.Error) + 40
	}
	if out.Event != nil {
		n += 2 * (len(out.Event.Msg) + len(out.Event.ToAccounts)*16 + len(out.Event.TopicIDs)*20 + 160)
	}
	return n
}

// batchLoop owns the batcher: it adds events, hands out calls when they
// fill or their linger passes, and flushes everything when the events end.
//
// Calls whose linger has passed go out even while every sender is busy (they
// wait in the channel). Holding them open until a sender is free makes calls
// fuller under a slow MIMC (calls = the ideal minimum in the load tool), but it
// keeps every pending event in memory for longer: peak RSS on a 1M backlog
// went from 78 to 330 MiB, past the 128 MiB target, so it was not kept.
func (g *generation) batchLoop() {
	defer close(g.calls)
	// Go 1.23+ timers: Reset and Stop leave no stale tick behind.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*batching.Call
	for {
		var tc <-chan time.Time
		if d, ok := g.batcher.UntilNext(); ok {
			timer.Reset(d)
			tc = timer.C
		} else {
			timer.Stop()
		}
		select {
		case rec, ok := <-g.events:
			if !ok {
				ready = g.batcher.Flush(ready[:0])
				g.dispatch(ready)
				return
			}
			var err error
			ready, err = g.batcher.Add(&rec.Event, ready[:0])
			if err != nil {
				// The slots bound events in flight to MaxPendingEvents,
				// the batcher's own limit, so this is a bug: fail the
				// event rather than lose it silently.
				g.log.Error("batcher refused an event", zap.Error(err))
				out := g.outcome(rec, time.Now(), nil)
				out.Status, out.Error = event.Failed, "internal error: "+err.Error()
				g.emit(rec.tp, rec.offset, &out)
			}
			g.dispatch(ready)
		case <-tc:
			ready = g.batcher.Expired(ready[:0])
			g.dispatch(ready)
		}
	}
}

func (g *generation) dispatch(calls []*batching.Call) {
	for i, c := range calls {
		g.calls <- c
		calls[i] = nil
	}
}

// send pushes calls to MIMC and turns completed events into outcomes.
func (g *generation) send() {
	var scratch []event.Recipient // the recipients of one outcome at a time
	for c := range g.calls {
		scratch = g.sendOne(c, scratch)
	}
}

// sendOne pushes one call and emits the outcomes of the events it
// completes. scratch holds the recipients of one outcome at a time; the
// grown buffer is returned for the next call.
func (g *generation) sendOne(c *batching.Call, scratch []event.Recipient) []event.Recipient {
	met := g.b.met
	call := mimc.Call{Content: *c.Content, Recipients: c.Recipients}
	met.RecipientsCall.Observe(float64(c.Recipients.Len()))
	met.BatchesInFlight.Inc()
	res, err := g.b.client.Push(g.abandonCtx, call)
	met.BatchesInFlight.Dec()
	if g.abandonCtx.Err() != nil {
		// Abandoned: no outcome, so no commit; the next owner of
		// these partitions sends them again.
		return scratch
	}
	var done []*batching.Event
	if err != nil {
		attempts := 1
		var me *mimc.Error
		if errors.As(err, &me) {
			attempts = me.Attempts
		}
		done = c.Resolve(batching.Result{Err: err, Attempts: attempts})
	} else {
		results := make([]batching.Result, len(res.PacketIDs))
		for i, id := range res.PacketIDs {
			results[i] = batching.Result{PacketID: id, Attempts: res.Attempts}
		}
		done = c.Resolve(results...)
	}
	now := time.Now()
	for _, e := range done {
		rec := e.Data.(*record)
		out := g.outcome(rec, now, scratch)
		scratch = out.Recipients[:0]
		g.emitDone(rec, now, &out)
	}
	// done shares the call's memory, which the batcher may keep while its
	// content stays open: drop the events so their records can go.
	clear(done)
	return scratch
}

// outcome builds the outcome of a completed event. Its recipients go into
// buf when it is large enough.
func (g *generation) outcome(rec *record, now time.Time, buf []event.Recipient) event.Outcome {
	ev := &rec.ev
	out := event.Outcome{
		ID:          ev.ID,
		Kind:        ev.Kind,
		Attempts:    rec.Event.Attempts(),
		Source:      event.Source{Topic: rec.tp.Topic, Partition: rec.tp.Partition, Offset: rec.offset},
		ReceivedAt:  rec.receivedAt,
		CompletedAt: now,
	}
	unique := rec.Event.Unique()
	results := rec.Event.Results()
	n := unique.Len()
	if cap(buf) >= n {
		out.Recipients = buf[:n]
		clear(out.Recipients)
	} else {
		out.Recipients = make([]event.Recipient, n)
	}
	delivered, failed := 0, 0
	var firstErr error
	var undelivered []int
	for i := range n {
		rc := &out.Recipients[i]
		if ev.Kind == event.P2T {
			// Outcomes carry topic ids as decimal strings (64-bit safe).
			rc.TopicID = strconv.FormatInt(unique.TopicIDs[i], 10)
		} else {
			rc.ToAccount = unique.ToAccounts[i]
		}
		if i >= len(results) {
			continue
		}
		res := results[i]
		if res.Err == nil {
			rc.PacketID = res.PacketID
			delivered++
			continue
		}
		failed++
		undelivered = append(undelivered, i)
		if firstErr == nil {
			firstErr = res.Err
		}
		var me *mimc.Error
		if errors.As(res.Err, &me) {
			rc.Code = me.Code
			if rc.Code == 0 {
				rc.Code = me.HTTPStatus
			}
			rc.Message = me.Message
		}
		rc.Error = res.Err.Error()
	}
	out.Status = event.Status(delivered, failed, 0)
	if out.Status != event.Delivered {
		out.Event = ev.Subset(undelivered)
	}
	if firstErr != nil {
		out.Error = firstErr.Error()
	}
	return out
}

// writeLinger is how long the writer waits after an outcome for others to
// write with it.
const writeLinger = 5 * time.Millisecond

// write publishes outcomes in batches and releases their events.
func (g *generation) write() {
	met := g.b.met
	const maxBatch = 2000
	batch := make([]outItem, 0, maxBatch)
	msgs := make([]consumer.Message, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		item, ok := <-g.outs
		if !ok {
			return
		}
		batch = append(batch[:0], item)
		// Wait a little for more: a write costs a produce request per
		// partition it touches, however few outcomes it carries, and
		// completed calls hand over their events in bursts.
		linger.Reset(writeLinger)
	fill:
		for len(batch) < maxBatch {
			select {
			case item, ok := <-g.outs:
				if !ok {
					break fill
				}
				batch = append(batch, item)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		msgs = msgs[:0]
		for _, it := range batch {
			msgs = append(msgs, consumer.Message{Key: it.key, Value: it.value})
		}
		err := g.b.pub.Publish(g.abandonCtx, msgs, func(i, n int) []byte {
			return shrink(batch[i].outcome(g), n)
		})
		if err != nil {
			// Abandoned: these outcomes and their offsets stay
			// unacknowledged; drain what is left so the senders finish.
			for range g.outs {
			}
			return
		}
		g.b.health.writerOK()
		g.lastProgress.Store(time.Now().UnixNano())
		delivered := 0 // counted once per batch: the usual status
		for i := range batch {
			it := &batch[i]
			g.tracker.Done(it.tp, it.offset)
			if it.status == event.Delivered {
				delivered++
			} else {
				met.Outcomes.WithLabelValues(it.status).Inc()
			}
			<-g.slots
			*it = outItem{}
		}
		if delivered > 0 {
			met.Outcomes.WithLabelValues(event.Delivered).Add(float64(delivered))
		}
		met.PendingEvents.Sub(float64(len(batch)))
	}
}

// shrink returns a smaller outcome for one the results topic refused as too
// large: first without the echoed input and event, then without recipients.
func shrink(out *event.Outcome, n int) []byte {
	small := *out
	small.Input = ""
	small.Event = nil
	note := "outcome too large for the results topic: input and event left out"
	if n >= 2 {
		small.Recipients = nil
		note = "outcome too large for the results topic: recipients, input and event left out"
	}
	if small.Error == "" {
		small.Error = note
	} else {
		small.Error = note + "; " + small.Error
	}
	small.Error = textcut.Prefix(small.Error, 1024)
	small.ID = textcut.Prefix(small.ID, 256)
	return small.AppendJSON(nil)
}

// commitLoop commits what the tracker allows, every commitEvery, until stop.
func (g *generation) commitLoop(stop <-chan struct{}) {
	t := time.NewTicker(g.b.commitEvery)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-t.C:
			g.commit()
			g.observe(ctx, n%5 == 0)
		}
	}
}

func (g *generation) commit() {
	offsets := g.tracker.Committable()
	if len(offsets) == 0 {
		return
	}
	if err := g.gen.Commit(offsets); err != nil {
		g.b.met.CommitErrors.Inc()
		g.log.Warn("committing offsets failed", zap.Error(err))
		return
	}
	g.tracker.Committed(offsets)
	g.b.met.Commits.Inc()
	for tp, off := range offsets {
		g.b.met.Committed.WithLabelValues(tp.Topic, metrics.PartitionLabel(tp.Partition)).Set(float64(off))
	}
}

// observe updates the gauges that describe this generation's progress: the
// lag of each partition (end offset minus committed) and whether work has
// stalled (events pending and no outcome written for stallAfter).
func (g *generation) observe(ctx context.Context, lag bool) {
	met := g.b.met
	pending := len(g.slots)
	idle := time.Since(time.Unix(0, g.lastProgress.Load()))
	stalled := pending > 0 && idle > g.b.stallAfter
	if stalled != g.b.health.stalled.Load() {
		g.b.health.stalled.Store(stalled)
		if stalled {
			g.log.Warn("work has stalled", zap.Int("pending_events", pending), zap.Duration("idle", idle))
		}
	}
	if stalled {
		met.Stalled.Set(1)
	} else {
		met.Stalled.Set(0)
	}
	oldest := 0.0
	if pending > 0 {
		oldest = idle.Seconds()
	}
	met.OldestPending.Set(oldest)
	if !lag || len(g.gen.Assignments) == 0 {
		return
	}
	req := &kafka.ListOffsetsRequest{Topics: make(map[string][]kafka.OffsetRequest)}
	for _, a := range g.gen.Assignments {
		req.Topics[a.Topic] = append(req.Topics[a.Topic], kafka.LastOffsetOf(a.Partition))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := g.lagClient.ListOffsets(ctx, req)
	if err != nil {
		return
	}
	committed := g.tracker.CommittedOffsets()
	for topic, parts := range resp.Topics {
		for _, p := range parts {
			if p.Error != nil {
				continue
			}
			tp := consumer.TopicPartition{Topic: topic, Partition: p.Partition}
			c, ok := committed[tp]
			if !ok {
				continue
			}
			met.Lag.WithLabelValues(topic, metrics.PartitionLabel(p.Partition)).Set(float64(p.LastOffset - c))
		}
	}
}
