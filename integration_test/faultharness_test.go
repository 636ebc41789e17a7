package integration_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// This file is the harness of the broker fault tests: a producer that keeps
// writing events while a fault comes and goes, and a watcher that reads the
// results topic as it grows and checks, again and again, the commit rule of
// the design: a committed input offset has the outcomes of every record
// below it in the results topic.

// access is how a test client reaches a cluster: plain, or with the TLS and
// SASL set-up of a secured broker.
type access struct {
	brokers   []string
	transport *kafkago.Transport // nil: kafka-go's default
	dialer    *kafkago.Dialer    // nil: kafka-go's default
}

func plainAccess(c *cluster) access { return access{brokers: c.brokers} }

func (a access) client(timeout time.Duration) *kafkago.Client {
	cl := &kafkago.Client{Addr: kafkago.TCP(a.brokers...), Timeout: timeout}
	if a.transport != nil {
		cl.Transport = a.transport
	}
	return cl
}

// tryCommitted is cluster.committed without t.Fatal, for use while the
// broker may be failing.
func (a access) tryCommitted(group, topic string, partitions int) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return kafka.CommittedOffsets(ctx, a.client(2*time.Second), group, topic, kafka.Range(partitions))
}

// tryEndOffsets is cluster.endOffsets without t.Fatal.
func (a access) tryEndOffsets(topic string, partitions int) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return kafka.EndOffsets(ctx, a.client(2*time.Second), topic, kafka.Range(partitions))
}

// streamProducer writes events to a topic in small batches until stopped,
// retrying a batch until the broker takes it, and remembers which events
// were acknowledged.
type streamProducer struct {
	mu     sync.Mutex
	acked  []string
	values map[string][]byte
	stop   chan struct{}
	done   chan struct{}
	errs   atomic.Int64
}

// startProducer writes batches of batch events every interval; the events
// are uniqueEvents-shaped (one recipient each, ten per message) so repeated
// pushes are countable at the fake.
func startProducer(t *testing.T, a access, topic, prefix string, batch int, interval time.Duration) *streamProducer {
	t.Helper()
	w := &kafkago.Writer{
		Addr: kafkago.TCP(a.brokers...), Topic: topic, Balancer: &kafkago.RoundRobin{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, BatchSize: batch,
		MaxAttempts: 1, WriteTimeout: 2 * time.Second,
	}
	if a.transport != nil {
		w.Transport = a.transport
	}
	p := &streamProducer{stop: make(chan struct{}), done: make(chan struct{}), values: map[string][]byte{}}
	go func() {
		defer close(p.done)
		defer w.Close()
		n := 0
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(interval):
			}
			msgs := make([]kafkago.Message, batch)
			ids := make([]string, batch)
			for i := range msgs {
				var v []byte
				ids[i], v = uniqueEvent(t, prefix, n)
				msgs[i] = kafkago.Message{Value: v}
				n++
			}
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				err := w.WriteMessages(ctx, msgs...)
				cancel()
				if err == nil {
					break
				}
				p.errs.Add(1)
				select {
				case <-p.stop:
					// Not acknowledged: not counted as produced.
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			p.mu.Lock()
			p.acked = append(p.acked, ids...)
			for i, id := range ids {
				p.values[id] = msgs[i].Value
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.halt)
	return p
}

func (p *streamProducer) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// ackedIDs returns the events acknowledged so far.
func (p *streamProducer) ackedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acked...)
}

// outcomeWatch reads the results topic from the start as it grows, and
// checks the commit rule every checkEvery.
type outcomeWatch struct {
	a                  access
	group, in, results string
	inParts            int

	mu       sync.Mutex
	count    map[string]int             // outcomes per event id
	firstAt  map[string]time.Time       // when the first outcome of an id was read
	byStatus map[string]int             // outcomes per status
	sources  map[int]map[int64]struct{} // input partition → offsets with an outcome
	prefix   map[int]int64              // input partition → every offset below has an outcome
	raw      [][]byte                   // every outcome value
	next     []atomic.Int64             // results partition → next offset to read
	bad      []string                   // commit rule violations
	checks   int                        // commit rule checks made
	commits  []commitSample             // committed offsets over time

	stop chan struct{}
	wg   sync.WaitGroup
}

type commitSample struct {
	at      time.Time
	offsets map[int]int64
}

func startWatch(t *testing.T, a access, cfg config.Config, inParts, resultParts int) *outcomeWatch {
	t.Helper()
	w := &outcomeWatch{
		a: a, group: cfg.KafkaGroupID, in: cfg.KafkaTopics[0], results: cfg.ResultsTopic, inParts: inParts,
		count: map[string]int{}, firstAt: map[string]time.Time{}, byStatus: map[string]int{},
		sources: map[int]map[int64]struct{}{}, prefix: map[int]int64{},
		next: make([]atomic.Int64, resultParts), stop: make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	for rp := 0; rp < resultParts; rp++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			rc := kafkago.ReaderConfig{Brokers: a.brokers, Topic: w.results, Partition: rp, MaxWait: 50 * time.Millisecond,
				MaxBytes: 8 << 20, ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 500 * time.Millisecond}
			if a.dialer != nil {
				rc.Dialer = a.dialer
			}
			r := kafkago.NewReader(rc)
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
					continue
				}
				w.add(m.Value)
				w.next[rp].Store(m.Offset + 1)
			}
		}()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			w.check()
		}
	}()
	t.Cleanup(func() {
		w.halt()
		cancel()
		w.wg.Wait()
	})
	return w
}

func (w *outcomeWatch) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}

func (w *outcomeWatch) add(v []byte) {
	o, err := event.ParseOutcome(v)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.raw = append(w.raw, v)
	if err != nil {
		w.bad = append(w.bad, fmt.Sprintf("outcome is not valid: %v: %.200s", err, v))
		return
	}
	if w.count[o.ID] == 0 {
		w.firstAt[o.ID] = time.Now()
	}
	w.count[o.ID]++
	w.byStatus[o.Status]++
	if o.Source.Topic == w.in {
		s := w.sources[o.Source.Partition]
		if s == nil {
			s = map[int64]struct{}{}
			w.sources[o.Source.Partition] = s
		}
		s[o.Source.Offset] = struct{}{}
	}
}

// check reads the committed offsets, then the results topic's end, waits
// until the reader is there, and checks that every input offset below a
// committed one has an outcome. A broker that fails any step skips the check.
func (w *outcomeWatch) check() {
	committed, err := w.a.tryCommitted(w.group, w.in, w.inParts)
	if err != nil {
		return
	}
	end, err := w.a.tryEndOffsets(w.results, len(w.next))
	if err != nil {
		return
	}
	deadline := time.Now().Add(3 * time.Second)
	for rp, e := range end {
		for w.next[rp].Load() < e {
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checks++
	w.commits = append(w.commits, commitSample{at: time.Now(), offsets: committed})
	for p, c := range committed {
		if c < 0 {
			continue
		}
		s := w.sources[p]
		pre := w.prefix[p]
		for {
			if _, ok := s[pre]; !ok {
				break
			}
			pre++
		}
		w.prefix[p] = pre
		if pre < c {
			w.bad = append(w.bad, fmt.Sprintf("partition %d committed at %d, but offset %d has no outcome in the results topic", p, c, pre))
		}
	}
}

// seenAll reports whether every id has an outcome.
func (w *outcomeWatch) seenAll(ids []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if w.count[id] == 0 {
			return false
		}
	}
	return true
}

func (w *outcomeWatch) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.raw)
}

// committedAdvancedBetween reports whether the committed offset of any
// partition grew between two times, from the samples of check.
func (w *outcomeWatch) committedAdvancedBetween(from, to time.Time) (bool, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first map[int]int64
	n := 0
	for _, s := range w.commits {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		n++
		if first == nil {
			first = s.offsets
			continue
		}
		for p, off := range s.offsets {
			if off > first[p] {
				return true, n
			}
		}
	}
	return false, n
}

// figures is what a fault test reports for the fault table.
type figures struct {
	events, lost, dupOutcomes, dupPushes int
	recovery                             time.Duration
	checks, violations                   int
}

func (f figures) String() string {
	return fmt.Sprintf("events %d, lost %d, duplicate outcomes %d, duplicate pushes %d, recovery %s, commit checks %d, commit violations %d",
		f.events, f.lost, f.dupOutcomes, f.dupPushes, f.recovery.Round(10*time.Millisecond), f.checks, f.violations)
}

// faultRun is one broker fault against a bridge under a steady stream of
// events.
type faultRun struct {
	c       *cluster
	a       access
	fake    *mimctest.Server
	cfg     config.Config
	watch   *outcomeWatch
	prod    *streamProducer
	bridge  *bridgeProc
	inParts int
}

// startFaultRun starts a kfake broker, the fake, a bridge, a watcher and a
// producer, and waits for the first outcomes.
func startFaultRun(t *testing.T, tune func(*config.Config)) *faultRun {
	t.Helper()
	return startFaultRunOn(t, newKfake(t), tune)
}

// startFaultRunOn is startFaultRun on a given cluster.
func startFaultRunOn(t *testing.T, c *cluster, tune func(*config.Config)) *faultRun {
	t.Helper()
	const inParts, resultParts = 4, 2
	in := c.topic(t, "push", inParts)
	results := c.topic(t, "results", resultParts)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	fake.SetFaults(mimctest.Faults{Latency: 2 * time.Millisecond})
	cfg := settings(t, c, url, in, results, group)
	cfg.BatchLinger = 10 * time.Millisecond
	cfg.ShutdownTimeout = 5 * time.Second
	if tune != nil {
		tune(&cfg)
	}
	a := plainAccess(c)
	r := &faultRun{c: c, a: a, fake: fake, cfg: cfg, inParts: inParts}
	r.watch = startWatch(t, a, cfg, inParts, resultParts)
	r.bridge = startBridge(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the bridge's last log lines:\n%s", tail(r.bridge.logs.String(), 40))
		}
	})
	r.prod = startProducer(t, a, in, fmt.Sprintf("flt%d", rand.Intn(1e6)), 10, 20*time.Millisecond)
	waitFor(t, 30*time.Second, "the first outcomes", func() bool { return r.watch.total() >= 50 })
	return r
}

// finish stops the producer, waits until everything is committed and every
// event has its outcome, stops the bridge and returns the figures.
func (r *faultRun) finish(t *testing.T, recoveredAt time.Duration) figures {
	t.Helper()
	r.prod.halt()
	ids := r.prod.ackedIDs()
	in := r.cfg.KafkaTopics[0]
	var end map[int]int64
	waitFor(t, 30*time.Second, "the input end offsets", func() bool {
		var err error
		end, err = r.a.tryEndOffsets(in, r.inParts)
		return err == nil
	})
	waitFor(t, 40*time.Second, "every record committed", func() bool {
		got, err := r.a.tryCommitted(r.cfg.KafkaGroupID, in, r.inParts)
		if err != nil {
			return false
		}
		for p, e := range end {
			if got[p] != e {
				return false
			}
		}
		return true
	})
	waitFor(t, 10*time.Second, "every outcome read", func() bool { return r.watch.seenAll(ids) })
	if err := r.bridge.stop(t); err != nil {
		t.Errorf("the bridge stopped with %v", err)
	}
	r.watch.check()
	r.watch.halt()

	f := figures{events: len(ids), recovery: recoveredAt}
	r.watch.mu.Lock()
	for _, id := range ids {
		switch n := r.watch.count[id]; {
		case n == 0:
			f.lost++
		case n > 1:
			f.dupOutcomes += n - 1
		}
	}
	for _, v := range r.watch.raw {
		if strings.Contains(string(v), appSecret) {
			t.Errorf("an outcome carries the app secret")
		}
	}
	f.checks, f.violations = r.watch.checks, len(r.watch.bad)
	for _, b := range r.watch.bad {
		t.Errorf("%s", b)
	}
	statuses := fmt.Sprint(r.watch.byStatus)
	r.watch.mu.Unlock()
	for _, n := range pushCounts(r.fake) {
		if n > 1 {
			f.dupPushes += n - 1
		}
	}
	if f.lost > 0 {
		t.Errorf("%d of %d events have no outcome", f.lost, f.events)
	}
	if f.checks < 3 {
		t.Errorf("the commit rule was checked only %d times", f.checks)
	}
	t.Logf("outcomes by status: %s", statuses)
	return f
}

// recover waits until every event acknowledged before the fault ended has
// an outcome, and returns how long that took after the end.
func (r *faultRun) recover(t *testing.T, ended time.Time) time.Duration {
	t.Helper()
	ids := r.prod.ackedIDs()
	waitFor(t, 40*time.Second, "outcomes of the events produced before the fault ended", func() bool { return r.watch.seenAll(ids) })
	return time.Since(ended)
}

// outage makes the broker close the connection of every request while
// down is set: clients see what a broker crash looks like.
func outage(c *kfake.Cluster) *atomic.Bool {
	down := new(atomic.Bool)
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		if !down.Load() {
			return nil, nil, false
		}
		c.KeepControl()
		return nil, errors.New("injected outage"), true
	})
	return down
}

// countLog counts log lines containing s.
func countLog(logs string, s string) int { return strings.Count(logs, s) }
