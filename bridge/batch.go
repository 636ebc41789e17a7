package bridge

import (
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
)

// batch owns the batcher: it adds events, hands out calls when they fill or
// their linger passes, and flushes every open call once events closes. It
// returns the calls, for the senders, and the settled outcomes (records
// that need no call), for the writer; it closes both when it is done.
//
// Calls whose linger has passed go out even while every sender is busy (they
// wait in the channel). Holding them open until a sender is free makes calls
// fuller under a slow MIMC (calls = the ideal minimum in the load tool), but it
// keeps every pending event in memory for longer: peak RSS on a 1M backlog
// went from 78 to 330 MiB, past the 128 MiB target, so it was not kept.
func (g *generation) batch(events <-chan *record) (<-chan *batching.Call, <-chan outItem) {
	calls := make(chan *batching.Call, g.cfg.send.senders)
	settled := make(chan outItem, 256)
	go func() {
		defer close(calls)
		defer close(settled)
		g.batchLoop(events, calls, settled)
	}()
	return calls, settled
}

func (g *generation) batchLoop(events <-chan *record, calls chan<- *batching.Call, settled chan<- outItem) {
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
		if d, ok := g.batcher.UntilNext(); ok {
			timer.Reset(d)
			tc = timer.C
		} else {
			timer.Stop()
		}
		select {
		case rec, ok := <-events:
			if !ok {
				ready = g.batcher.Flush(ready[:0])
				dispatch(ready)
				return
			}
			if rec.settled != nil {
				settled <- *rec.settled
				continue
			}
			var err error
			ready, err = g.batcher.Add(&rec.Event, ready[:0])
			if err != nil {
				// The room bounds events in flight to MaxPendingEvents,
				// the batcher's own limit, so this is a bug: fail the
				// event rather than lose it silently.
				g.log.Error("batcher refused an event", zap.Error(err))
				out := outcomeOf(rec, time.Now(), nil)
				out.Status, out.Error = event.Failed, "internal error: "+err.Error()
				settled <- *settle(rec.tp, rec.offset, &out)
			}
			dispatch(ready)
		case <-tc:
			ready = g.batcher.Expired(ready[:0])
			dispatch(ready)
		}
	}
}
