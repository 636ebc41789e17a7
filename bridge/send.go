package bridge

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// sendConfig configures the send stage.
type sendConfig struct {
	senders int // calls in flight at most
}

// send starts the senders: each pushes calls to MIMC and turns the events a
// call completes into outcomes. The returned channel is closed once every
// sender has returned, after calls is closed.
func (g *generation) send(calls <-chan *batching.Call) <-chan outItem {
	sent := make(chan outItem, 4096)
	var senders sync.WaitGroup
	for range g.cfg.send.senders {
		senders.Go(func() {
			var scratch []event.Recipient // the recipients of one outcome at a time
			for c := range calls {
				scratch = g.sendOne(c, sent, scratch)
			}
		})
	}
	go func() {
		senders.Wait()
		close(sent)
	}()
	return sent
}

// sendOne pushes one call and hands on the outcomes of the events it
// completes. scratch holds the recipients of one outcome at a time; the
// grown buffer is returned for the next call.
func (g *generation) sendOne(c *batching.Call, sent chan<- outItem, scratch []event.Recipient) []event.Recipient {
	g.met.RecipientsPerCall.Observe(float64(len(c.Recipients)))
	g.met.MIMCCallsInFlight.Inc()
	res, err := g.pusher.Push(g.abandonCtx, toMIMC(c))
	g.met.MIMCCallsInFlight.Dec()
	if g.abandonCtx.Err() != nil {
		// Abandoned: no outcome, so no commit; the next owner of these
		// partitions sends them again.
		return scratch
	}
	done := c.Resolve(results(res, err)...)
	now := time.Now()
	for _, e := range done {
		rec := e.Data.(*record)
		g.budget.free(rec.ev.Kind, len(rec.Event.Recipients))
		out := outcomeOf(rec, now, scratch)
		scratch = out.Recipients[:0]
		sent <- completed(rec, now, &out)
	}
	// done shares the call's memory, which the batcher may keep while its
	// content stays open: drop the events so their records can go.
	clear(done)
	return scratch
}

// toMIMC maps a batched call onto the MIMC client's call.
func toMIMC(c *batching.Call) mimc.Call {
	call := mimc.Call{
		Kind:         mimc.Kind(c.Content.Kind),
		FromAccount:  c.Content.FromAccount,
		FromResource: c.Content.FromResource,
		Msg:          c.Content.Msg,
		MsgType:      c.Content.MsgType,
		BizType:      c.Content.BizType,
	}
	switch c.Content.IsStore {
	case batching.StoreTrue:
		call.IsStore = &yes
	case batching.StoreFalse:
		call.IsStore = &no
	}
	if call.Kind == mimc.P2T {
		call.TopicIDs = make([]int64, len(c.Recipients))
		for i, r := range c.Recipients {
			// The recipients were formatted from int64 by toBatching.
			call.TopicIDs[i], _ = strconv.ParseInt(r, 10, 64)
		}
	} else {
		call.ToAccounts = c.Recipients
	}
	return call
}

var yes, no = true, false

// results maps MIMC's answer onto the call's recipients: one packet id each,
// or one error for all.
func results(res mimc.Result, err error) []batching.Result {
	if err != nil {
		attempts := 1
		var me *mimc.Error
		if errors.As(err, &me) {
			attempts = me.Attempts
		}
		return []batching.Result{{Err: err, Attempts: attempts}}
	}
	out := make([]batching.Result, len(res.PacketIDs))
	for i, id := range res.PacketIDs {
		out[i] = batching.Result{PacketID: id, Attempts: res.Attempts}
	}
	return out
}
