package bridge

import (
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// outItem is one outcome ready to be written.
type outItem struct {
	tp     TopicPartition
	offset int64
	key    []byte
	value  []byte
	status string
	prio   priority
	size   int32 // the record value's bytes: with prio, the room it frees
	// The outcome, for a smaller form when the broker refuses value as too
	// large: out when it was built apart (settled records), else rebuilt
	// from rec as completed at at.
	out *event.Outcome
	rec *record
	at  time.Time
	// span is the record's (nil when traces are off), ended once the
	// outcome is acknowledged.
	span trace.Span
}

// outcome returns the outcome the item was encoded from.
func (it *outItem) outcome() *event.Outcome {
	if it.out != nil {
		return it.out
	}
	out := outcomeOf(it.rec, it.at, nil)
	return &out
}

// settle encodes the outcome of a record settled without a call; out is
// kept for a smaller form.
func settle(rec *record, out *event.Outcome) *outItem {
	it := encode(out)
	it.tp, it.offset, it.prio, it.size, it.out = rec.tp, rec.offset, rec.prio, rec.size, out
	if rec.span != nil {
		rec.traceOutcome(out)
		it.span = rec.span
	}
	return &it
}

// completed encodes the outcome of rec, completed at now. out is not kept:
// its recipients may be reused at once.
func completed(rec *record, now time.Time, out *event.Outcome) outItem {
	it := encode(out)
	it.tp, it.offset, it.prio, it.size, it.rec, it.at = rec.tp, rec.offset, rec.prio, rec.size, rec, now
	if rec.span != nil {
		rec.traceOutcome(out)
		it.span = rec.span
	}
	return it
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

// outcomeOf builds the outcome of a completed event. Its recipients go into
// buf when it is large enough.
func outcomeOf(rec *record, now time.Time, buf []event.Recipient) event.Outcome {
	ev := &rec.ev
	out := event.Outcome{
		ID:          ev.ID,
		Kind:        ev.Kind,
		Attempts:    rec.batch.Attempts(),
		Source:      event.Source{Topic: rec.tp.Topic, Partition: rec.tp.Partition, Offset: rec.offset},
		ReceivedAt:  rec.receivedAt,
		CompletedAt: now,
	}
	unique := rec.batch.Unique()
	results := rec.batch.Results()
	n := unique.Len()
	if cap(buf) >= n {
		out.Recipients = buf[:n]
		clear(out.Recipients)
	} else {
		out.Recipients = make([]event.Recipient, n)
	}
	delivered, failed, expired := 0, 0, 0
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
		undelivered = append(undelivered, i)
		if firstErr == nil {
			firstErr = res.Err
		}
		var ee *expiredError
		if errors.As(res.Err, &ee) {
			expired++
			rc.Error = res.Err.Error()
			continue
		}
		failed++
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
	out.Status = event.Status(delivered, failed, expired)
	if out.Status != event.Delivered {
		out.Event = ev.Subset(undelivered)
	}
	if firstErr != nil {
		out.Error = firstErr.Error()
	}
	return out
}
