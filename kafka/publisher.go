package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Conn  Conn
	Topic string
	// BatchTimeout bounds how long the writer waits to fill a batch
	// (default publisherBatchTimeout); the kafka-go default of 1s stalls
	// synchronous writes.
	BatchTimeout time.Duration
	// RetryMaxInterval caps the wait between write attempts.
	RetryMaxInterval time.Duration
	// OnError is called for every failed attempt (metrics).
	OnError func(err error)
	// Group is the consumer group whose outcomes this publisher writes: a
	// header of every outcome, so that groups sharing the results topic
	// tell their outcomes apart.
	Group string
	// Signer signs every outcome with a source (see Signer); nil writes
	// none, and the Scanner then ignores the outcomes.
	Signer *Signer
}

// publisherBatchSize is the writer's BatchSize: enough for the share of one
// partition in a typical write (a few hundred outcomes over the partitions);
// kafka-go allocates it whole (19 KB) for every partition batch.
const publisherBatchSize = 128

// publisherBatchTimeout is the writer's BatchTimeout. A Publish hands
// kafka-go all its messages at once, and kafka-go adds a partition's share
// to its batch under one lock that the batch's timer waits for, so the
// batch holds all of it whatever the timeout: with one Publish at a time
// the timeout only delays the write (it was 2ms, on every write).
const publisherBatchTimeout = 100 * time.Microsecond

// Publisher writes outcome records to the results topic with acks=all and
// retries what failed until it is written or the context ends: an outcome
// is never dropped, because its offset must not be committed without it.
type Publisher struct {
	cfg   PublisherConfig
	w     *kafkago.Writer
	log   *zap.Logger
	group []byte // cfg.Group, shared by the headers of every outcome
}

// NewPublisher returns a Publisher; Close releases its connections.
func NewPublisher(cfg PublisherConfig, log *zap.Logger) (*Publisher, error) {
	if cfg.Topic == "" {
		return nil, errors.New("cannot create a publisher with an empty topic")
	}
	if len(cfg.Conn.Brokers) == 0 {
		return nil, errors.New("cannot create a publisher without brokers")
	}
	if cfg.BatchTimeout <= 0 {
		cfg.BatchTimeout = publisherBatchTimeout
	}
	if cfg.RetryMaxInterval <= 0 {
		cfg.RetryMaxInterval = 5 * time.Second
	}
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Conn.Brokers...),
		Topic:        cfg.Topic,
		Balancer:     kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: cfg.BatchTimeout,
		// kafka-go allocates a batch's whole capacity (BatchSize messages
		// of ~150 bytes) for every partition batch it starts: 10000 cost
		// 1.5 MB per partition per write, most of the bridge's allocation.
		// A sync write is spread over the partitions, so batches stay small;
		// a larger one is split into more requests.
		BatchSize:  publisherBatchSize,
		BatchBytes: 16 << 20,
		// The publisher retries itself, so that it can change what it
		// sends (a too-large record) and log each attempt.
		MaxAttempts:  1,
		WriteTimeout: 10 * time.Second,
		Transport:    cfg.Conn.Transport(),
	}
	return &Publisher{cfg: cfg, w: w, log: log, group: []byte(cfg.Group)}, nil
}

// Publish writes every message, retrying failures with backoff until all are
// acknowledged or ctx ends. A nil error means every message is written.
func (p *Publisher) Publish(ctx context.Context, msgs []bridge.Message, shrink bridge.ShrinkFunc) error {
	buf := publishBufs.Get().(*publishBuf)
	defer buf.release()
	w := publishWrite{p: p, shrink: shrink, shrinks: make(map[int]int)}
	w.pending, w.idx = p.prepare(buf, msgs)
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = p.cfg.RetryMaxInterval
	b.MaxElapsedTime = 0 // never give up: the commit waits for these records
	for attempt := 1; ; attempt++ {
		err := w.send(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publishing %d outcomes: %w", len(w.pending), ctx.Err())
		}
		if p.cfg.OnError != nil {
			p.cfg.OnError(err)
		}
		again, written := w.recover(err, attempt)
		if written {
			return nil
		}
		if again {
			continue
		}
		wait := b.NextBackOff()
		p.log.Warn("writing outcomes failed, retrying",
			zap.String("topic", p.cfg.Topic), zap.Int("batch_size", len(w.pending)),
			zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("publishing %d outcomes: %w", len(w.pending), ctx.Err())
		case <-t.C:
		}
	}
}

// prepare returns the kafka-go copies of msgs, with their headers, in buf:
// pending[i] is msgs[idx[i]].
func (p *Publisher) prepare(buf *publishBuf, msgs []bridge.Message) (pending []kafkago.Message, idx []int) {
	pending, idx = buf.get(len(msgs))
	buf.reserve(msgs)
	for i, m := range msgs {
		hs := len(buf.headers)
		buf.headers, buf.vals = appendSourceHeaders(buf.headers, buf.vals, p.cfg.Signer, p.group, &msgs[i])
		buf.headers, buf.vals = appendTraceHeaders(buf.headers, buf.vals, &msgs[i].Trace)
		pending[i] = kafkago.Message{Key: m.Key, Value: m.Value}
		if len(buf.headers) > hs {
			pending[i].Headers = buf.headers[hs:len(buf.headers):len(buf.headers)]
		}
		idx[i] = i
	}
	return pending, idx
}

// publishWrite is one Publish: the messages not written yet and how often
// each was shrunk.
type publishWrite struct {
	p       *Publisher
	pending []kafkago.Message
	idx     []int // pending[i] is the Publish's msgs[idx[i]]
	shrink  bridge.ShrinkFunc
	shrinks map[int]int // by index in msgs
	// single is set once the broker refused a batch as too large: the
	// limit (max.message.bytes) applies to a whole record batch, so
	// outcomes are then written one at a time and only one refused alone
	// is shrunk.
	single bool
}

// send makes one attempt at writing what is pending.
func (w *publishWrite) send(ctx context.Context) error {
	if w.single {
		return w.p.writeEach(ctx, w.pending)
	}
	return w.p.w.WriteMessages(ctx, w.pending...)
}

// recover reads the error of a failed attempt and changes what is pending:
// again tells to retry at once (nothing to wait for), written that nothing
// is left to write.
func (w *publishWrite) recover(err error, attempt int) (again, written bool) {
	var werrs kafkago.WriteErrors
	if !w.single && len(w.pending) > 1 && (isTooLarge(err) || errors.As(err, &werrs) && slices.ContainsFunc(werrs, isTooLarge)) {
		// The batch may be too large while each outcome fits: retry them
		// alone, at once, before shrinking any.
		w.single = true
		w.p.log.Warn("outcome batch too large for the results topic, writing outcomes one at a time",
			zap.String("topic", w.p.cfg.Topic), zap.Int("batch_size", len(w.pending)), zap.Error(err))
		return true, false
	}
	if errors.As(err, &werrs) && len(werrs) == len(w.pending) {
		transient := w.keepFailed(werrs)
		if len(w.pending) == 0 {
			return false, true
		}
		return !transient && attempt <= 3, false // only shrunk outcomes left: nothing to wait for
	}
	if isTooLarge(err) {
		for i := range w.pending {
			w.pending[i].Value = w.shrunk(i)
		}
		return attempt <= 3, false
	}
	return false, false
}

// keepFailed keeps pending only the messages whose write failed, those
// refused as too large shrunk, and tells whether any other failed.
func (w *publishWrite) keepFailed(werrs kafkago.WriteErrors) (transient bool) {
	n := 0
	for i, e := range werrs {
		if e == nil {
			continue
		}
		m := w.pending[i]
		if isTooLarge(e) {
			m.Value = w.shrunk(i)
		} else {
			transient = true
		}
		w.pending[n], w.idx[n] = m, w.idx[i]
		n++
	}
	w.pending, w.idx = w.pending[:n], w.idx[:n]
	return transient
}

// shrunk returns a smaller value for pending[i], refused once more.
func (w *publishWrite) shrunk(i int) []byte {
	j := w.idx[i]
	w.shrinks[j]++
	return w.p.shrink(w.shrink, j, w.shrinks[j])
}

// publishBuf holds the kafka-go copies of one Publish (~150 bytes per
// outcome) and their headers, reused from one Publish to the next.
type publishBuf struct {
	msgs    []kafkago.Message
	idx     []int
	headers []kafkago.Header
	vals    []byte // the headers' values
}

var publishBufs = sync.Pool{New: func() any { return new(publishBuf) }}

func (b *publishBuf) get(n int) ([]kafkago.Message, []int) {
	if cap(b.msgs) < n {
		b.msgs, b.idx = make([]kafkago.Message, n), make([]int, n)
	}
	b.msgs, b.idx = b.msgs[:n], b.idx[:n]
	return b.msgs, b.idx
}

// reserve makes room for the headers of msgs, so that appending them never
// moves the values already referenced.
func (b *publishBuf) reserve(msgs []bridge.Message) {
	n := 0
	for i := range msgs {
		n += sourceHeaderBytes(&msgs[i]) + traceHeaderBytes(&msgs[i].Trace)
	}
	if cap(b.vals) < n {
		b.vals = make([]byte, 0, n)
	}
	if perMsg := sourceHeaderCount + traceHeaderCount; cap(b.headers) < perMsg*len(msgs) {
		b.headers = make([]kafkago.Header, 0, perMsg*len(msgs))
	}
	b.vals, b.headers = b.vals[:0], b.headers[:0]
}

// release drops the references to keys and values and pools b. A sync
// WriteMessages keeps no reference to its arguments once it returns.
func (b *publishBuf) release() {
	clear(b.msgs)
	clear(b.headers)
	publishBufs.Put(b)
}

// writeEach writes msgs one per request, so that a size limit applies to
// each alone; it returns nil or kafkago.WriteErrors with one entry per message.
func (p *Publisher) writeEach(ctx context.Context, msgs []kafkago.Message) error {
	errs := make(kafkago.WriteErrors, len(msgs))
	failed := false
	for i := range msgs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.w.WriteMessages(ctx, msgs[i]); err != nil {
			var werrs kafkago.WriteErrors
			if errors.As(err, &werrs) && len(werrs) == 1 {
				err = werrs[0]
			}
			errs[i], failed = err, true
		}
	}
	if !failed {
		return nil
	}
	return errs
}

func (p *Publisher) shrink(f bridge.ShrinkFunc, i, n int) []byte {
	if f != nil {
		return f(i, n)
	}
	return []byte(`{"status":"failed","error":"outcome too large for the results topic"}`)
}

func isTooLarge(err error) bool {
	var tooLarge kafkago.MessageTooLargeError
	return errors.Is(err, kafkago.MessageSizeTooLarge) || errors.As(err, &tooLarge) || errors.Is(err, kafkago.RecordListTooLarge)
}

// Close flushes and closes the writer.
func (p *Publisher) Close() error { return p.w.Close() }
