package inflight

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// mimcFake answers calls after latency(calls in flight at the server).
type mimcFake struct {
	inflight atomic.Int64
	latency  func(inflight int64) time.Duration
	answer   func() Answer
}

// drive runs callers that send calls back to back through l for d.
func drive(t *testing.T, l *Limiter, m *mimcFake, callers int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				p, err := l.Acquire(ctx)
				if err != nil {
					return
				}
				n := m.inflight.Add(1)
				time.Sleep(m.latency(n))
				m.inflight.Add(-1)
				a := Served
				if m.answer != nil {
					a = m.answer()
				}
				p.Done(a)
			}
		})
	}
	wg.Wait()
	synctest.Wait() // penalties still running
}

func TestTheLimitGrowsWhileLatencyHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var last atomic.Int64
		l, err := New(Config{Max: 256, Initial: 64, OnLimit: func(n int) { last.Store(int64(n)) }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.Limit() != 64 || last.Load() != 64 {
			t.Fatalf("initial limit %d (observed %d), want 64", l.Limit(), last.Load())
		}
		m := &mimcFake{latency: func(int64) time.Duration { return 20 * time.Millisecond }}
		drive(t, l, m, 300, 10*time.Second)
		if l.Limit() < 200 {
			t.Fatalf("limit %d after 10s of steady 20ms answers, want it near the max of 256", l.Limit())
		}
		if int(last.Load()) != l.Limit() {
			t.Errorf("observed limit %d, limit %d", last.Load(), l.Limit())
		}
	})
}

func TestASlowMIMCGetsTheFullBoundFromTheStart(t *testing.T) {
	// The limiter grows by a call or two every two round trips: at 100ms
	// a bound starting low stays low for the whole of a backlog.
	synctest.Test(t, func(t *testing.T) {
		l, err := New(Config{Max: 256}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var peak atomic.Int64
		m := &mimcFake{latency: func(n int64) time.Duration {
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			return 100 * time.Millisecond
		}}
		drive(t, l, m, 300, 3*time.Second)
		if peak.Load() < 250 || l.Limit() < 250 {
			t.Fatalf("%d calls in flight at most and a limit of %d after 3s of steady 100ms answers, want the max of 256",
				peak.Load(), l.Limit())
		}
	})
}

func TestTheLimitShrinksWhenLatencyClimbs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(Config{Max: 256, Initial: 200}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// A server that serves 40 calls at once; past that, calls queue.
		m := &mimcFake{latency: func(n int64) time.Duration {
			return 20 * time.Millisecond * time.Duration(max(1, n/40))
		}}
		drive(t, l, m, 300, 60*time.Second)
		if l.Limit() > 120 {
			t.Fatalf("limit %d after a minute against a server that queues past 40 calls", l.Limit())
		}
	})
}

func TestOverloadedAnswersShrinkTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(Config{Max: 256}, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := &mimcFake{latency: func(int64) time.Duration { return 20 * time.Millisecond }}
		drive(t, l, m, 300, 5*time.Second)
		before := l.Limit()
		// A 5xx storm: every answer as fast as before, but an overload.
		m.answer = func() Answer { return Overloaded }
		drive(t, l, m, 300, 20*time.Second)
		if l.Limit() >= before {
			t.Fatalf("limit %d after a storm of 5xx, want below its %d before", l.Limit(), before)
		}
	})
}

func TestAnOverloadedAnswerKeepsItsPermitForThePenalty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := New(Config{Max: 1, Penalty: time.Second}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		p.Done(Overloaded)
		start := time.Now()
		p, err = l.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 900*time.Millisecond {
			t.Fatalf("the next permit came after %s, want the 900ms left of the penalty", d)
		}
		p.Done(Abandoned)
		if l.Inflight() != 0 {
			t.Fatalf("%d in flight after every permit is done", l.Inflight())
		}
	})
}

func TestASmallMaxStartsAtTheMax(t *testing.T) {
	// A bound of 4 starting at 1 would let one hung call stop every other.
	l, err := New(Config{Max: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Limit() != 4 {
		t.Fatalf("limit %d, want 4", l.Limit())
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tt := range []struct {
		scenario string
		cfg      Config
	}{
		{"a negative max is refused", Config{Max: -1}},
		{"an initial limit above the max is refused", Config{Max: 10, Initial: 11}},
		{"a min above the max is refused", Config{Max: 10, Min: 11}},
		{"a negative penalty is refused", Config{Penalty: -time.Second}},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			if _, err := New(tt.cfg, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
