package bridge

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// batch runs one batch loop per lane: each owns its lane's batcher, adds
// the lane's events, hands out calls when they fill or their linger passes,
// and flushes every open call once its events close. It returns the calls
// of each lane, for its senders, and the settled outcomes (records that
// need no call), for the writer; each loop closes its calls, and settled is
// closed once both loops are done.
//
// Calls whose linger has passed go out even while every sender is busy (they
// wait in the channel). Holding them open until a sender is free makes calls
// fuller under a slow MIMC (calls = the ideal minimum in the load tool), but it
// keeps every pending event in memory for longer: peak RSS on a 1M backlog
// went from 78 to 330 MiB, past the 128 MiB target, so it was not kept.
func (g *generation) batch(events [priorities]<-chan *record) ([priorities]<-chan *batching.Call, <-chan outItem) {
	settled := make(chan outItem, 256)
	var out [priorities]<-chan *batching.Call
	var loops sync.WaitGroup
	for prio, l := range g.lanes {
		calls := make(chan *batching.Call, g.cfg.lanes[prio].senders)
		out[prio] = calls
		loops.Go(func() {
			defer close(calls)
			g.batchLoop(l, events[prio], calls, settled)
		})
	}
	go func() {
		loops.Wait()
		close(settled)
	}()
	return out, settled
}

func (g *generation) batchLoop(l *lane, events <-chan *record, calls chan<- *batching.Call, settled chan<- outItem) {
	dispatch := func(ready []*batching.Call) {
		for i, c := range ready {
			calls <- c
			ready[i] = nil
		}
	}
	// Go 1.23+ timers: Reset and Stop leave no stale tick behind.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*batching.Call
	var released []*record
	add := func(rec *record) {
		ready = g.add(l, rec, ready[:0], settled)
		dispatch(ready)
	}
	// Under a quota, events over their kind's send budget wait here, and
	// the budget's freed channel says when to look at them again.
	var waiting *waitingEvents
	var freed <-chan struct{}
	if g.budget != nil && l.prio == normal {
		waiting = newWaitingEvents(g.budget, func(kind string) prometheus.Gauge {
			return g.met.QuotaWaitingEvents.WithLabelValues(kind)
		})
		freed = g.budget.freed
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
					if left, behind := g.abandonWaiting(waiting); len(left) > 0 {
						g.log.Info("generation ending: events waiting for their kind's quota are left uncommitted for the next owner",
							zap.Int("p2p", left[message.P2P]), zap.Int("p2t", left[message.P2T]), zap.Int("waiting_behind_them", behind))
					}
				}
				g.drainReleased(l, calls, settled)
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
		case <-g.adm.notify[l.prio]:
			for _, rec := range g.adm.takeReady(l.prio, released[:0]) {
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
			ready = g.relieve(l, ready[:0])
			dispatch(ready)
		}
	}
}

// add gives rec to the lane's batcher and returns the calls that became
// ready.
func (g *generation) add(l *lane, rec *record, ready []*batching.Call, settled chan<- outItem) []*batching.Call {
	ready, err := l.batcher.Add(&rec.Event, ready)
	if err != nil {
		// The room bounds events in flight to the lane's
		// MaxPendingEvents, the batcher's own limit, so this is a
		// bug: fail the event rather than lose it silently.
		g.log.Error("batcher refused an event", zap.Error(err))
		now := time.Now()
		out := outcomeOf(rec, now, nil)
		out.Status, out.Error = event.Failed, "internal error: "+err.Error()
		settled <- *settle(rec, &out)
		g.freeBudget(rec)
		for _, dup := range g.finished(rec, false, now) {
			settled <- dup
		}
	}
	return ready
}

// drainReleased sends, once the lane's events are closed, the events still
// waiting for their key or id as they are released, each at once, until none
// is left or the generation abandons its work.
func (g *generation) drainReleased(l *lane, calls chan<- *batching.Call, settled chan<- outItem) {
	var ready []*batching.Call
	var released []*record
	for g.adm.holding(l.prio) > 0 {
		select {
		case <-g.adm.notify[l.prio]:
		case <-g.abandonCtx.Done():
			return
		}
		released = g.adm.takeReady(l.prio, released[:0])
		for _, rec := range released {
			ready = g.add(l, rec, ready[:0], settled)
			for _, c := range ready {
				calls <- c
			}
		}
		if len(released) > 0 {
			ready = l.batcher.Flush(ready[:0])
			for _, c := range ready {
				calls <- c
			}
		}
		clear(released)
	}
}
