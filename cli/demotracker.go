package cli

import (
	"sync"
	"time"

	"github.com/mimc-bridge/mimc-bridge/demo"
	"github.com/mimc-bridge/mimc-bridge/event"
)

// demoTracker matches outcomes to the sample events by source offset.
type demoTracker struct {
	mu       sync.Mutex
	samples  []demo.Sample
	bySource map[srcKey]int
	sentAt   []time.Time
	got      []*event.Outcome
	early    map[srcKey]*event.Outcome // arrived before their produce call returned
	allIn    bool
	n        int
	counts   statusCounts
	complete chan struct{}
}

type srcKey struct {
	topic     string
	partition int
	offset    int64
}

func newDemoTracker(samples []demo.Sample) *demoTracker {
	return &demoTracker{
		samples: samples, bySource: map[srcKey]int{}, sentAt: make([]time.Time, len(samples)),
		got: make([]*event.Outcome, len(samples)), early: map[srcKey]*event.Outcome{},
		counts: statusCounts{}, complete: make(chan struct{}),
	}
}

// produced records that samples idx were written to a partition of topic
// from offset base on.
func (t *demoTracker) produced(topic string, partition int, base int64, idx []int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for j, i := range idx {
		k := srcKey{topic, partition, base + int64(j)}
		t.bySource[k] = i
		t.sentAt[i] = at
		if o, ok := t.early[k]; ok {
			delete(t.early, k)
			t.record(i, o)
		}
	}
}

func (t *demoTracker) allProduced() {
	t.mu.Lock()
	t.allIn = true
	t.mu.Unlock()
}

// outcome records o and reports whether it belongs to a sample (or may).
func (t *demoTracker) outcome(o *event.Outcome) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := srcKey{o.Source.Topic, o.Source.Partition, o.Source.Offset}
	i, ok := t.bySource[k]
	if !ok {
		if t.allIn {
			return false
		}
		t.early[k] = o
		return true
	}
	t.record(i, o)
	return true
}

// flushEarly hands over the outcomes that turned out not to be samples'.
func (t *demoTracker) flushEarly(fn func(*event.Outcome)) {
	t.mu.Lock()
	early := t.early
	t.early = map[srcKey]*event.Outcome{}
	t.mu.Unlock()
	for _, o := range early {
		fn(o)
	}
}

func (t *demoTracker) record(i int, o *event.Outcome) {
	if t.got[i] != nil {
		return // a repeat (at-least-once)
	}
	t.got[i] = o
	t.n++
	t.counts.add(o.Status)
	if t.n == len(t.samples) {
		close(t.complete)
	}
}

// outcomeOf returns the outcome of sample i, nil before it arrived.
func (t *demoTracker) outcomeOf(i int) *event.Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.got[i]
}

func (t *demoTracker) received() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *demoTracker) progress() (n, total int, counts statusCounts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	counts = statusCounts{}
	for k, v := range t.counts {
		counts[k] = v
	}
	return t.n, len(t.samples), counts
}

// examples returns the first outcome of each status and kind, in sample
// order.
func (t *demoTracker) examples() []*event.Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[string]bool{}
	var out []*event.Outcome
	for _, o := range t.got {
		if o == nil || seen[o.Status+string(o.Kind)] {
			continue
		}
		seen[o.Status+string(o.Kind)] = true
		out = append(out, o)
	}
	return out
}

type demoSummary struct {
	total                int
	byStatus, want       statusCounts
	unexpected           int
	retried, maxAttempts int
	p50, p99, max        time.Duration
	// urgent is the number of urgent samples with an outcome, and
	// urgentP50/P99 their produce-to-outcome latency.
	urgent               int
	urgentP50, urgentP99 time.Duration
}

func (t *demoTracker) summary() demoSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := demoSummary{total: len(t.samples), byStatus: statusCounts{}, want: statusCounts{}}
	var lat, urgent []time.Duration
	for i, o := range t.got {
		s.want.add(t.samples[i].Want)
		if o == nil {
			continue
		}
		s.byStatus.add(o.Status)
		if o.Status != t.samples[i].Want {
			s.unexpected++
		}
		if o.Attempts > 1 {
			s.retried++
		}
		s.maxAttempts = max(s.maxAttempts, o.Attempts)
		lat = append(lat, max(0, o.CompletedAt.Sub(t.sentAt[i])))
		if t.samples[i].Urgent {
			urgent = append(urgent, lat[len(lat)-1])
		}
	}
	s.urgent = len(urgent)
	s.urgentP50, s.urgentP99 = demo.Percentile(urgent, 50), demo.Percentile(urgent, 99)
	s.p50, s.p99 = demo.Percentile(lat, 50), demo.Percentile(lat, 99)
	if len(lat) > 0 {
		s.max = lat[len(lat)-1] // Percentile sorted lat
	}
	return s
}
