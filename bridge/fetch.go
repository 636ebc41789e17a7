package bridge

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/event"
)

// fetchConfig configures the fetch stage.
type fetchConfig struct {
	limits     event.Limits    // what the decoder accepts
	urgent     map[string]bool // URGENT_TOPICS
	ordered    map[string]bool // ORDERED_TOPICS
	defaultTTL time.Duration   // EVENT_TTL: the time to live of an event without a ttl; 0: none
}

// record is one fetched input record on its way through the pipeline. The
// batching event is embedded so that one allocation carries both.
type record struct {
	batching.Event
	tp         consumer.TopicPartition
	offset     int64
	receivedAt time.Time
	expiresAt  time.Time // zero: never
	prio       priority
	ev         event.Event
	// settled is the outcome of a record that needs no MIMC call (a
	// rejected one, or one expired when fetched): it passes the batcher by.
	settled *outItem
	// span lasts from fetch to the outcome's acknowledgement; nil when
	// traces are off.
	span trace.Span
	adm  admitState // what it waits for or holds (order.go)
	// inBudget is set while its recipients count in its kind's send
	// budget (quota.go).
	inBudget bool
	size     int32 // the record value's bytes, which its room counts (room.go)
	// clockAhead: its timestamp is more than a minute past its fetch.
	clockAhead bool
}

// fetch starts one fetcher per assigned partition and returns the records
// they fetch, per lane, in offset order per partition. The channels are
// closed once every fetcher has stopped, which they do when ctx ends.
func (g *generation) fetch(ctx context.Context) [priorities]<-chan *record {
	var out [priorities]<-chan *record
	var events [priorities]chan *record
	for prio := range events {
		events[prio] = make(chan *record, 256)
		out[prio] = events[prio]
	}
	var fetchers sync.WaitGroup
	for _, a := range g.assignments {
		l := g.lanes[normal]
		if g.cfg.fetch.urgent[a.Topic] {
			l = g.lanes[urgent]
		}
		fetchers.Go(func() { g.fetchPartition(ctx, a, l, events[l.prio]) })
	}
	go func() {
		fetchers.Wait()
		for _, ch := range events {
			close(ch)
		}
	}()
	return out
}

// fetchPartition reads one partition of lane l until ctx ends.
func (g *generation) fetchPartition(ctx context.Context, a consumer.Assignment, l *lane, events chan<- *record) {
	fields := []zap.Field{zap.String("topic", a.Topic), zap.Int("partition", a.Partition)}
	r, err := g.source.Open(a)
	if err != nil {
		g.log.Error("opening the partition", append(fields, zap.Int64("offset", a.Offset), zap.Error(err))...)
		return
	}
	defer r.Close()
	consumed := g.met.EventsConsumed.WithLabelValues(a.Topic)
	rejected := g.met.EventsRejected.WithLabelValues(a.Topic)
	ahead := g.met.RecordTimestampsAhead.WithLabelValues(a.Topic)
	pending := g.met.PendingEvents.WithLabelValues(l.prio.String())
	skipped := g.met.EventsSkipped.WithLabelValues(a.Topic)
	spans := g.partitionSpans(a) // nil: traces off
	lag := g.behind[a.TopicPartition]
	for {
		m, err := r.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			g.log.Warn("fetching failed", append(fields, zap.Error(err))...)
			continue
		}
		lag.fetched(&m)
		if g.skip(a.TopicPartition, m.Offset) {
			consumed.Inc()
			skipped.Inc()
			continue
		}
		// Room is taken for a record in hand, never while waiting for
		// one: pending counts records, so an idle bridge has none.
		if !l.room.take(ctx, len(m.Value)) {
			return
		}
		g.tracker.Add(a.TopicPartition, m.Offset, time.Now())
		pending.Inc()
		consumed.Inc()
		rec := newRecord(a.TopicPartition, &m, &g.cfg.fetch, l.prio, spans)
		if rec.settled != nil && rec.settled.status == event.Rejected {
			rejected.Inc()
		}
		if rec.clockAhead {
			ahead.Inc()
		}
		if !g.admit(rec) {
			continue // it waits for its key or its id: released to the lane's batch loop
		}
		// The batch stage reads events until the channel closes, so this
		// send cannot block forever. It never waits for the quota: an
		// event over its kind's budget waits in the batch loop (quota.go).
		events <- rec
	}
}

// newRecord decodes m. A record the decoder rejects, or whose event has
// expired, carries its settled outcome instead of an event. spans (nil:
// traces off) starts the record's span.
func newRecord(tp consumer.TopicPartition, m *consumer.Record, cfg *fetchConfig, prio priority, spans *partitionSpans) *record {
	now := time.Now()
	rec := &record{tp: tp, offset: m.Offset, receivedAt: now, prio: prio, size: int32(min(len(m.Value), math.MaxInt32))}
	if spans != nil {
		rec.span = spans.start(m)
	}
	src := event.Source{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	ev, err := event.Decode(m.Value, src, cfg.limits)
	if err != nil {
		var rej *event.RejectError
		if !errors.As(err, &rej) {
			rej = &event.RejectError{ID: src.DefaultID(), Reason: err.Error()}
		}
		out := event.NewRejected(src, m.Value, rej, now, time.Now())
		rec.settled = settle(rec, &out)
		return rec
	}
	rec.ev = ev
	// A record without a timestamp (an old message format), or stamped by
	// a clock ahead of ours, lives from when it is fetched.
	start, ahead := event.LifeStart(m.Time, now)
	rec.clockAhead = ahead
	rec.expiresAt = rec.ev.ExpiresAt(start, cfg.defaultTTL)
	if event.IsExpired(rec.expiresAt, now) {
		out := event.NewExpired(&rec.ev, src, rec.expiresAt, now, now)
		rec.settled = settle(rec, &out)
		return rec
	}
	toBatching(&rec.Event, &rec.ev)
	rec.Event.Data = rec
	if cfg.ordered[m.Topic] && m.Key != nil {
		rec.adm.key = m.Key
	}
	return rec
}

// toBatching gives the batcher its view of an event: the event's own
// content and recipients, shared, not copied.
func toBatching(dst *batching.Event, ev *event.Event) {
	dst.Content, dst.Recipients = &ev.Content, ev.Recipients
}
