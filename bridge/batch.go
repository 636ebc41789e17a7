package bridge

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
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
				return
			}
			if rec.settled != nil {
				settled <- *rec.settled
				continue
			}
			var err error
			ready, err = l.batcher.Add(&rec.Event, ready[:0])
			if err != nil {
				// The room bounds events in flight to the lane's
				// MaxPendingEvents, the batcher's own limit, so this is a
				// bug: fail the event rather than lose it silently.
				g.log.Error("batcher refused an event", zap.Error(err))
				out := outcomeOf(rec, time.Now(), nil)
				out.Status, out.Error = event.Failed, "internal error: "+err.Error()
				settled <- *settle(rec, &out)
			}
			dispatch(ready)
		case <-tc:
			ready = l.batcher.Expired(ready[:0])
			dispatch(ready)
		}
	}
}
