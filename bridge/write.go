package bridge

import (
	"context"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/textcut"
)

// writeConfig configures the write stage.
type writeConfig struct {
	// linger is how long the writer waits after an outcome for others to
	// write with it: a write costs a produce request per partition it
	// touches, however few outcomes it carries, and completed calls hand
	// over their events in bursts.
	linger   time.Duration
	maxBatch int // outcomes per write at most
}

// writeStage publishes the outcomes of sent and settled in batches; once one
// is acknowledged its record is done (the tracker may commit past it) and its
// room is freed. When the generation abandons its work, the outcomes not yet
// written are dropped: their records stay uncommitted.
type writeStage struct {
	cfg      writeConfig
	pub      Publisher
	tracker  *Tracker          // every record written is marked done
	rooms    [priorities]*room // freed as outcomes are written
	progress *progressClock    // marked at every write
	// abandon ends a write in flight when a drain runs out of time.
	abandon context.Context
	obs     writeObserver
}

// run writes until both inputs are closed and drained; the returned channel
// is closed then.
func (s *writeStage) run(sent, settled <-chan outItem) <-chan struct{} {
	written := make(chan struct{})
	go func() {
		defer close(written)
		w := writer{s: s, sent: sent, settled: settled}
		w.run()
	}()
	return written
}

// writer reads two channels, each closed by its own stage.
type writer struct {
	s             *writeStage
	sent, settled <-chan outItem // nil once closed
}

func (w *writer) run() {
	cfg := w.s.cfg
	batch := make([]outItem, 0, cfg.maxBatch)
	msgs := make([]Message, 0, cfg.maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		it, ok := w.receive(nil)
		if !ok {
			return
		}
		batch = append(batch[:0], it)
		linger.Reset(cfg.linger)
		for len(batch) < cfg.maxBatch {
			it, ok := w.receive(linger.C)
			if !ok {
				break
			}
			batch = append(batch, it)
		}
		linger.Stop()
		msgs = msgs[:0]
		for _, it := range batch {
			msgs = append(msgs, Message{Key: it.key, Value: it.value, Source: it.tp, SourceOffset: it.offset, Status: it.status,
				Trace: spanContext(it.span)})
		}
		err := w.s.pub.Publish(w.s.abandon, msgs, func(i, n int) []byte {
			return shrink(batch[i].outcome(), n)
		})
		if err != nil {
			// Abandoned: these outcomes and their offsets stay
			// unacknowledged; drain what is left so the stages before
			// finish.
			for i := range batch {
				abandonSpan(batch[i].span)
			}
			for {
				it, ok := w.receive(nil)
				if !ok {
					return
				}
				abandonSpan(it.span)
			}
		}
		w.s.done(batch)
	}
}

// receive returns the next outcome of either input, or false once both are
// closed or timeout fires.
func (w *writer) receive(timeout <-chan time.Time) (outItem, bool) {
	for w.sent != nil || w.settled != nil {
		select {
		case it, ok := <-w.sent:
			if ok {
				return it, true
			}
			w.sent = nil
		case it, ok := <-w.settled:
			if ok {
				return it, true
			}
			w.settled = nil
		case <-timeout:
			return outItem{}, false
		}
	}
	return outItem{}, false
}

// done releases the records of a written batch.
func (s *writeStage) done(batch []outItem) {
	s.obs.written()
	s.progress.mark(time.Now())
	var delivered, freed [priorities]int // counted once per batch: the usual status
	var freedBytes [priorities]int64
	for i := range batch {
		it := &batch[i]
		s.tracker.Done(it.tp, it.offset)
		if it.span != nil {
			it.span.End()
		}
		freed[it.prio]++
		freedBytes[it.prio] += s.rooms[it.prio].cost(int(it.size))
		if it.status == event.Delivered {
			delivered[it.prio]++
		} else {
			s.obs.outcomes(it.prio, it.status, 1)
		}
		*it = outItem{}
	}
	for prio, r := range s.rooms {
		if n := delivered[prio]; n > 0 {
			s.obs.outcomes(priority(prio), event.Delivered, n)
		}
		if n := freed[prio]; n > 0 {
			r.free(n, freedBytes[prio])
			s.obs.freed(priority(prio), n)
		}
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
