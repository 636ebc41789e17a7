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
	"github.com/mimc-bridge/mimc-bridge/event"
)

// fetchConfig configures the fetch stage.
type fetchConfig struct {
	limits     event.Limits    // what the decoder accepts
	urgent     map[string]bool // URGENT_TOPICS
	ordered    map[string]bool // ORDERED_TOPICS
	defaultTTL time.Duration   // EVENT_TTL: the time to live of an event without a ttl; 0: none
}

// record is one fetched input record on its way through the pipeline. It
// carries one event, ev; batch is the batcher's part of it (the results of
// its recipients), in the same allocation, whose Data leads back to the
// record.
type record struct {
	ev         event.Event
	batch      batching.Event[*record]
	tp         TopicPartition
	offset     int64
	receivedAt time.Time
	expiresAt  time.Time // zero: never
	prio       priority
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

// fetchStage reads the assigned partitions, one fetcher each: it decodes
// every record into its lane, once the lane has room for it, past the
// generation's waits (order.go). It reads no other stage's state: the
// tracker, the rooms and the waits are handed to it.
type fetchStage struct {
	cfg     *fetchConfig
	source  Source
	tracker *Tracker // every record fetched is added
	// done holds the records whose outcome the results topic already had
	// at the start: they are skipped, done at once.
	done  Done
	rooms [priorities]*room
	lag   backlog // records behind each partition's last fetched, written here
	waits *waits
	// spans starts the event spans of a partition's records; nil: traces
	// off.
	spans func(Assignment) *partitionSpans
	log   *zap.Logger
	obs   fetchObserver
}

// run starts one fetcher per assignment and returns the records they fetch,
// per lane, in offset order per partition. The channels are closed once
// every fetcher has stopped, which they do when ctx ends.
func (s *fetchStage) run(ctx context.Context, assignments []Assignment) [priorities]<-chan *record {
	var out [priorities]<-chan *record
	var events [priorities]chan *record
	for prio := range events {
		events[prio] = make(chan *record, 256)
		out[prio] = events[prio]
	}
	var fetchers sync.WaitGroup
	for _, a := range assignments {
		prio := normal
		if s.cfg.urgent[a.Topic] {
			prio = urgent
		}
		fetchers.Go(func() { s.fetchPartition(ctx, a, prio, events[prio]) })
	}
	go func() {
		fetchers.Wait()
		for _, ch := range events {
			close(ch)
		}
	}()
	return out
}

// fetchPartition reads one partition of lane prio until ctx ends.
func (s *fetchStage) fetchPartition(ctx context.Context, a Assignment, prio priority, events chan<- *record) {
	fields := []zap.Field{zap.String("topic", a.Topic), zap.Int("partition", a.Partition)}
	r, err := s.source.Open(a)
	if err != nil {
		s.log.Error("opening the partition", append(fields, zap.Int64("offset", a.Offset), zap.Error(err))...)
		return
	}
	defer r.Close()
	counts := s.obs.partition(a.Topic, prio)
	var spans *partitionSpans // nil: traces off
	if s.spans != nil {
		spans = s.spans(a)
	}
	room := s.rooms[prio]
	lag := s.lag[a.TopicPartition]
	for {
		m, err := r.Next(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("fetching failed", append(fields, zap.Error(err))...)
			continue
		}
		if lag != nil {
			lag.fetched(&m)
		}
		if s.done.Has(a.TopicPartition, m.Offset) {
			// Its outcome is written already: it counts as done at once.
			s.tracker.Add(a.TopicPartition, m.Offset, time.Now())
			s.tracker.Done(a.TopicPartition, m.Offset)
			counts.consumed.Inc()
			counts.skipped.Inc()
			continue
		}
		// Room is taken for a record in hand, never while waiting for
		// one: pending counts records, so an idle bridge has none.
		if !room.take(ctx, len(m.Value)) {
			return
		}
		s.tracker.Add(a.TopicPartition, m.Offset, time.Now())
		counts.pending.Inc()
		counts.consumed.Inc()
		rec := newRecord(a.TopicPartition, &m, s.cfg, prio, spans)
		if rec.settled != nil && rec.settled.status == event.Rejected {
			counts.rejected.Inc()
		}
		if rec.clockAhead {
			counts.ahead.Inc()
		}
		if !s.waits.admit(rec) {
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
func newRecord(tp TopicPartition, m *Record, cfg *fetchConfig, prio priority, spans *partitionSpans) *record {
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
	rec.batch.Data = rec
	if cfg.ordered[m.Topic] && m.Key != nil {
		rec.adm.key = m.Key
	}
	return rec
}
