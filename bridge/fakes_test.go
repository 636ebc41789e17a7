package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// The fakes of the interfaces the pipeline owns, and a harness that runs one
// generation over them. Tests run it inside synctest.Test: time is virtual,
// and synctest.Wait returns once every stage is blocked.

const topic = "push"

func tp(p int) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }

// fakeSource serves records put on a channel per partition.
type fakeSource struct {
	// delay is how long reading one record takes (0: none), so that a
	// backlog takes time to read as a real one does.
	delay time.Duration
	mu    sync.Mutex
	parts map[TopicPartition]chan Record
	next  map[TopicPartition]int64
}

func newFakeSource() *fakeSource {
	return &fakeSource{parts: map[TopicPartition]chan Record{}, next: map[TopicPartition]int64{}}
}

func (s *fakeSource) ch(p TopicPartition) chan Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.parts[p]
	if c == nil {
		c = make(chan Record, 10000)
		s.parts[p] = c
	}
	return c
}

// produce appends values to partition p and returns their offsets.
func (s *fakeSource) produce(p int, values ...string) []int64 {
	offs := make([]int64, len(values))
	for i, v := range values {
		offs[i] = s.produceRecord(p, Record{Value: []byte(v)})
	}
	return offs
}

// produceRecord appends rec (its value and headers) to partition p and
// returns its offset.
func (s *fakeSource) produceRecord(p int, rec Record) int64 {
	s.mu.Lock()
	off := s.next[tp(p)]
	s.next[tp(p)]++
	s.mu.Unlock()
	rec.Topic, rec.Partition, rec.Offset, rec.Time = topic, p, off, time.Now()
	s.ch(tp(p)) <- rec
	return off
}

func (s *fakeSource) end(p int) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next[tp(p)]
}

func (s *fakeSource) Open(a Assignment) (PartitionReader, error) {
	return fakeReader{ch: s.ch(a.TopicPartition), delay: s.delay}, nil
}

type fakeReader struct {
	ch    chan Record
	delay time.Duration
}

func (r fakeReader) Next(ctx context.Context) (Record, error) {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	select {
	case m := <-r.ch:
		// What is still queued is the partition's lag, as a fetch would
		// report it.
		m.HighWaterMark = m.Offset + 1 + int64(len(r.ch))
		return m, nil
	case <-ctx.Done():
		return Record{}, ctx.Err()
	}
}

func (fakeReader) Close() error { return nil }

// pushFunc is a Pusher made of a function.
type pushFunc func(ctx context.Context, call mimc.Call) (mimc.Result, error)

func (f pushFunc) Push(ctx context.Context, call mimc.Call) (mimc.Result, error) { return f(ctx, call) }

// holding is MIMC holding the calls hold picks (nil: every call) until
// release is closed or the call's context ends, and answering them then; the
// others are answered at once.
func holding(release <-chan struct{}, hold func(mimc.Call) bool) pushFunc {
	return func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
		if hold == nil || hold(call) {
			select {
			case <-release:
			case <-ctx.Done():
				return mimc.Result{}, ctx.Err()
			}
		}
		return answer(call)
	}
}

// answer is MIMC accepting every recipient of call, or refusing a call from
// "blocked" with code 403.
func answer(call mimc.Call) (mimc.Result, error) {
	if call.FromAccount == "blocked" {
		return mimc.Result{}, &mimc.Error{Code: 403, Message: "forbidden", Attempts: 1}
	}
	n := call.Recipients.Len()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("pkt-%d", i)
	}
	return mimc.Result{PacketIDs: ids, Attempts: 1}, nil
}

// wait is MIMC taking d to answer, or giving up when ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// mimcOK answers every call at once.
var mimcOK = pushFunc(func(_ context.Context, call mimc.Call) (mimc.Result, error) { return answer(call) })

// fakePublisher keeps the outcomes it acknowledges. While failing, every
// attempt fails and Publish retries, as the real one does, until ctx ends.
type fakePublisher struct {
	mu       sync.Mutex
	outcomes []event.Outcome
	written  map[TopicPartition]map[int64]bool
	traces   map[int64]trace.SpanContext // by source offset (tests of one partition)
	failing  bool
	attempts int
}

func (p *fakePublisher) setFailing(v bool) {
	p.mu.Lock()
	p.failing = v
	p.mu.Unlock()
}

func (p *fakePublisher) Publish(ctx context.Context, msgs []Message, _ ShrinkFunc) error {
	for {
		p.mu.Lock()
		p.attempts++
		failing := p.failing
		p.mu.Unlock()
		if !failing {
			break
		}
		select {
		case <-time.After(100 * time.Millisecond): // the retry backoff
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.written == nil {
		p.written = map[TopicPartition]map[int64]bool{}
	}
	for _, m := range msgs {
		out, err := event.ParseOutcome(m.Value)
		if err != nil {
			panic(fmt.Sprintf("an outcome that does not parse: %v: %s", err, m.Value))
		}
		if m.Status != out.Status {
			// The status header is signed: it must be the outcome's.
			panic(fmt.Sprintf("an outcome written with status header %q: %s", m.Status, m.Value))
		}
		p.outcomes = append(p.outcomes, out)
		at := TopicPartition{Topic: out.Source.Topic, Partition: out.Source.Partition}
		if p.written[at] == nil {
			p.written[at] = map[int64]bool{}
		}
		p.written[at][out.Source.Offset] = true
		if m.Trace.IsValid() {
			if p.traces == nil {
				p.traces = map[int64]trace.SpanContext{}
			}
			p.traces[m.SourceOffset] = m.Trace
		}
	}
	return nil
}

// traceOf returns the trace context the outcome of offset off carried.
func (p *fakePublisher) traceOf(off int64) trace.SpanContext {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.traces[off]
}

func (p *fakePublisher) all() []event.Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]event.Outcome(nil), p.outcomes...)
}

// coversBelow reports whether every offset of at below off has its outcome,
// or the first that has none.
func (p *fakePublisher) coversBelow(at TopicPartition, off int64) (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for o := int64(0); o < off; o++ {
		if !p.written[at][o] {
			return o, false
		}
	}
	return 0, true
}

// fakeCommitter keeps the commits and checks at each that every record below
// the committed offset has its outcome acknowledged.
type fakeCommitter struct {
	t     *testing.T
	pub   *fakePublisher
	mu    sync.Mutex
	last  map[TopicPartition]int64
	since map[TopicPartition]time.Time // the bound of the last commit
	count int
	ended bool
}

func (c *fakeCommitter) Commit(_ context.Context, offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		c.t.Errorf("commit %v after the generation ended", offsets)
		return ErrGenerationEnded
	}
	for at, off := range offsets {
		if missing, ok := c.pub.coversBelow(at, off); !ok {
			c.t.Errorf("committed %s at %d while offset %d has no outcome", at, off, missing)
		}
		if off < c.last[at] {
			c.t.Errorf("committed %s at %d after %d: commits went back", at, off, c.last[at])
		}
		c.last[at] = off
		if c.since == nil {
			c.since = map[TopicPartition]time.Time{}
		}
		c.since[at] = since[at]
	}
	c.count++
	return nil
}

func (c *fakeCommitter) committed(p int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[tp(p)]
}

// bound returns the bound the last commit of partition p carried.
func (c *fakeCommitter) bound(p int) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.since[tp(p)]
}

func (c *fakeCommitter) commits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// harness runs one generation of the pipeline over the fakes.
type harness struct {
	t     *testing.T
	p     *pipeline
	src   *fakeSource
	pub   *fakePublisher
	com   *fakeCommitter
	logs  *zapobserver.ObservedLogs
	parts int
	// assign, when set, replaces the default assignments (every
	// partition from the start, nothing committed).
	assign []Assignment
	cancel context.CancelFunc
	done   chan struct{}
}

// newHarness builds a pipeline of parts partitions from the default settings
// changed by set.
func newHarness(t *testing.T, parts int, push Pusher, set func(*config.Config)) *harness {
	t.Helper()
	cfg := config.Default()
	cfg.BatchLinger = 10 * time.Millisecond
	cfg.MaxConcurrentCalls = 4
	if set != nil {
		set(&cfg)
	}
	core, logs := zapobserver.New(zap.DebugLevel)
	pub := &fakePublisher{}
	h := &harness{
		t:     t,
		src:   newFakeSource(),
		pub:   pub,
		com:   &fakeCommitter{t: t, pub: pub, last: map[TopicPartition]int64{}},
		logs:  logs,
		parts: parts,
	}
	h.p = &pipeline{
		cfg: pipelineSettings(cfg), source: h.src, pusher: push, pub: pub,
		log: zap.New(core), met: metrics.New(), health: NewHealth(),
	}
	return h
}

// start runs the generation until stop.
func (h *harness) start() {
	as := h.assign
	if as == nil {
		for p := range h.parts {
			as = append(as, Assignment{TopicPartition: tp(p), Offset: -2})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		h.p.run(ctx, 1, as, h.com)
		h.com.mu.Lock()
		h.com.ended = true
		h.com.mu.Unlock()
	}()
}

// stop ends the generation and waits for its handler to return.
func (h *harness) stop() {
	h.cancel()
	<-h.done
}

// byOffset returns the outcomes keyed by partition and offset, failing the
// test on a second outcome for a record.
func (h *harness) byOffset() map[TopicPartition]map[int64]event.Outcome {
	h.t.Helper()
	out := map[TopicPartition]map[int64]event.Outcome{}
	for _, o := range h.pub.all() {
		at := TopicPartition{Topic: o.Source.Topic, Partition: o.Source.Partition}
		if out[at] == nil {
			out[at] = map[int64]event.Outcome{}
		}
		if _, dup := out[at][o.Source.Offset]; dup {
			h.t.Errorf("a second outcome for %s offset %d", at, o.Source.Offset)
		}
		out[at][o.Source.Offset] = o
	}
	return out
}

// logged counts the log entries with message msg.
func (h *harness) logged(msg string) int { return h.logs.FilterMessage(msg).Len() }

// ev is an event from "shop" to the given account.
func ev(id, to string) string {
	return fmt.Sprintf(`{"id":%q,"fromAccount":"shop","toAccount":%q,"msg":"hello"}`, id, to)
}

// evFrom is an event of a given sender.
func evFrom(id, from, to string) string {
	return fmt.Sprintf(`{"id":%q,"fromAccount":%q,"toAccount":%q,"msg":"hello"}`, id, from, to)
}

// gauge reads a gauge's value.
func gauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	_ = g.Write(&m)
	return m.GetGauge().GetValue()
}

// pendingEvents is the events pending in every lane.
func pendingEvents(met *metrics.Metrics) float64 {
	n := 0.0
	for p := range priorities {
		n += gauge(met.PendingEvents.WithLabelValues(p.String()))
	}
	return n
}

// series counts the series a collector holds.
func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
