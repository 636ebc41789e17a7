package bridge

import (
	"context"
	"iter"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// call is one MIMC call the batcher cut, carrying records.
type call = batching.Call[*record]

// recordsOf yields each record of call c once, in the call's order: an
// event's recipients sit side by side in a call.
func recordsOf(c *call) iter.Seq[*record] {
	return func(yield func(*record) bool) {
		var prev *batching.Event[*record]
		for i := range c.Recipients.Len() {
			ev := c.EventOf(i)
			if ev == prev {
				continue
			}
			prev = ev
			if !yield(ev.Data) {
				return
			}
		}
	}
}

// batchStage runs one batch loop per lane: each owns its lane's batcher,
// adds the lane's events, hands out calls when they fill or their linger
// passes, and flushes every open call once its events close. Records that
// need no call pass it by, to the writer.
//
// Calls whose linger has passed go out even while every sender is busy (they
// wait in the channel). Holding them open until a sender is free makes calls
// fuller under a slow MIMC (calls = the ideal minimum in the load tool), but it
// keeps every pending event in memory for longer: peak RSS on a 1M backlog
// went from 78 to 330 MiB, past the 128 MiB target, so it was not kept.
type batchStage struct {
	lanes   [priorities]*lane
	senders [priorities]int // per lane: the calls that may wait for a sender
	waits   *waits          // records released from waiting come from there
	budget  *sendBudget     // nil: no quota
	// abandon ends with the generation's in-flight work, when a drain runs
	// out of time.
	abandon context.Context
	log     *zap.Logger
	obs     batchObserver
}

// run returns the calls of each lane, for its senders, and the settled
// outcomes (records that need no call), for the writer; each loop closes its
// calls, and settled is closed once both loops are done.
func (s *batchStage) run(events [priorities]<-chan *record) ([priorities]<-chan *call, <-chan outItem) {
	settled := make(chan outItem, 256)
	var out [priorities]<-chan *call
	var loops sync.WaitGroup
	for prio, l := range s.lanes {
		calls := make(chan *call, s.senders[prio])
		out[prio] = calls
		loops.Go(func() {
			defer close(calls)
			s.loop(l, events[prio], calls, settled)
		})
	}
	go func() {
		loops.Wait()
		close(settled)
	}()
	return out, settled
}

func (s *batchStage) loop(l *lane, events <-chan *record, calls chan<- *call, settled chan<- outItem) {
	dispatch := func(ready []*call) {
		for i, c := range ready {
			s.obs.cut(c.Reason())
			calls <- c
			ready[i] = nil
		}
	}
	// Go 1.23+ timers: Reset and Stop leave no stale tick behind.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*call
	var released []*record
	add := func(rec *record) {
		ready = s.add(l, rec, ready[:0], settled)
		dispatch(ready)
	}
	// Under a quota, events over their kind's send budget wait here, and
	// the budget's freed channel says when to look at them again.
	var waiting *waitingEvents
	var freed <-chan struct{}
	if s.budget != nil && l.prio == normal {
		waiting = newWaitingEvents(s.budget, s.obs.quotaWaiting)
		freed = s.budget.freed
	}
	for {
		var tc <-chan time.Time
		if d, ok := l.batcher.UntilNext(); ok {
			timer.Reset(d)
			tc = timer.C
		} else {
			timer.Stop()
		}
		select {
		case rec, ok := <-events:
			if !ok {
				ready = l.batcher.Flush(ready[:0])
				dispatch(ready)
				if waiting != nil {
					// Before the events waiting for their key or id are
					// drained: what waits behind an abandoned event goes
					// with it.
					if left, behind := s.abandonWaiting(waiting); len(left) > 0 {
						s.log.Info("generation ending: events waiting for their kind's quota are left uncommitted for the next owner",
							zap.Int("p2p", left[message.P2P]), zap.Int("p2t", left[message.P2T]), zap.Int("waiting_behind_them", behind))
					}
				}
				s.drainReleased(l, dispatch, settled)
				return
			}
			if rec.settled != nil {
				settled <- *rec.settled
				continue
			}
			if waiting != nil && !waiting.admit(rec) {
				continue
			}
			add(rec)
		case <-s.waits.notify[l.prio]:
			for _, rec := range s.waits.takeReady(l.prio, released[:0]) {
				if waiting != nil && !waiting.admit(rec) {
					continue
				}
				add(rec)
			}
			clear(released)
		case <-freed:
			waiting.release(add)
		case <-tc:
			ready = l.batcher.Expired(ready[:0])
			dispatch(ready)
		case <-l.room.starved:
			ready = s.relieve(l, ready[:0])
			dispatch(ready)
		}
	}
}

// add gives rec to the lane's batcher and returns the calls that became
// ready.
func (s *batchStage) add(l *lane, rec *record, ready []*call, settled chan<- outItem) []*call {
	ready, err := l.batcher.Add(&rec.batch, &rec.ev.Content, rec.ev.Recipients, ready)
	if err != nil {
		// The room bounds events in flight to the lane's
		// MaxPendingEvents, the batcher's own limit, so this is a
		// bug: fail the event rather than lose it silently.
		s.log.Error("batcher refused an event", zap.Error(err))
		now := time.Now()
		out := outcomeOf(rec, now, nil)
		out.Status, out.Error = event.Failed, "internal error: "+err.Error()
		settled <- *settle(rec, &out)
		s.budget.freeOf(rec)
		for _, dup := range s.waits.finished(rec, false, now) {
			settled <- dup
		}
	}
	return ready
}

// drainReleased sends, once the lane's events are closed, the events still
// waiting for their key or id as they are released, each at once, until none
// is left or the generation abandons its work.
func (s *batchStage) drainReleased(l *lane, dispatch func([]*call), settled chan<- outItem) {
	var ready []*call
	var released []*record
	for s.waits.holding(l.prio) > 0 {
		select {
		case <-s.waits.notify[l.prio]:
		case <-s.abandon.Done():
			return
		}
		released = s.waits.takeReady(l.prio, released[:0])
		for _, rec := range released {
			ready = s.add(l, rec, ready[:0], settled)
			dispatch(ready)
		}
		if len(released) > 0 {
			ready = l.batcher.Flush(ready[:0])
			dispatch(ready)
		}
		clear(released)
	}
}

// abandonWaiting drops the events waiting for their kind's quota when the
// generation ends, and with them the events that wait behind them for
// their key or id (order.go): those cannot go first. It returns how many
// events of each kind waited for the quota, and how many waited behind them.
func (s *batchStage) abandonWaiting(w *waitingEvents) (map[message.Kind]int, int) {
	left, recs := w.abandon()
	if len(recs) == 0 {
		return left, 0
	}
	return left, s.waits.abandon(recs)
}

// relieve runs when a fetcher of lane l found no room: if the open calls
// hold more events than the calls in flight (and the outcomes being
// written), waiting frees too little, so the fullest open calls go now,
// carrying half the difference.
func (s *batchStage) relieve(l *lane, ready []*call) []*call {
	open := l.batcher.OpenEvents()
	elsewhere := l.room.held() - open - s.waits.holding(l.prio)
	if open <= elsewhere {
		return ready
	}
	return l.batcher.EmitFullest(ready, (open-elsewhere)/2)
}
