package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// Every test here runs a generation of the pipeline over in-memory fakes in
// a synctest bubble: time is virtual, time.Sleep in the bubble returns once
// every goroutine is blocked and the clock has moved, and no test waits on
// the wall clock.

func TestCommitOrderHoldsWithDeliveredFailedAndRejectedMixedAcrossPartitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// MIMC answers each call after a random latency, so calls
		// complete out of order within and across partitions.
		rng := rand.New(rand.NewPCG(1, 2))
		var mu sync.Mutex
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			mu.Lock()
			d := time.Duration(rng.IntN(500)) * time.Millisecond
			mu.Unlock()
			if err := wait(ctx, d); err != nil {
				return mimc.Result{}, err
			}
			return answer(call)
		})
		h := newHarness(t, 3, push, nil)
		h.start()
		want := map[TopicPartition]map[int64]string{}
		for p := range 3 {
			want[tp(p)] = map[int64]string{}
			for i := range 40 {
				id := fmt.Sprintf("p%d-e%d", p, i)
				var v, status string
				switch i % 4 {
				case 0, 1:
					v, status = ev(id, fmt.Sprintf("user-%d", i%7)), event.Delivered
				case 2:
					v, status = evFrom(id, "blocked", "bob"), event.Failed
				case 3:
					v, status = `{"id":`+fmt.Sprint(i)+`, not json`, event.Rejected
				}
				off := h.src.produce(p, v)[0]
				want[tp(p)][off] = status
			}
		}
		for h.com.committed(0) < h.src.end(0) || h.com.committed(1) < h.src.end(1) || h.com.committed(2) < h.src.end(2) {
			time.Sleep(250 * time.Millisecond)
		}
		h.stop()

		got := h.byOffset()
		for at, offs := range want {
			for off, status := range offs {
				o, ok := got[at][off]
				if !ok {
					t.Errorf("%s offset %d has no outcome", at, off)
					continue
				}
				if o.Status != status {
					t.Errorf("%s offset %d: %s (%s), want %s", at, off, o.Status, o.Error, status)
				}
			}
		}
		// The fake committer checked at every commit that no record below
		// the committed offset lacked its outcome.
		if h.com.commits() == 0 {
			t.Fatal("nothing was committed")
		}
	})
}

func TestADrainPastItsDeadlineAbandonsInFlightWorkAndCommitsNothingPastIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var abandoned atomic.Bool
		// MIMC never answers calls from "stuck".
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			if call.FromAccount == "stuck" {
				<-ctx.Done()
				abandoned.Store(true)
				return mimc.Result{}, ctx.Err()
			}
			return answer(call)
		})
		h := newHarness(t, 2, push, nil)
		h.start()
		h.src.produce(0, ev("a0", "alice"), evFrom("a1", "stuck", "bob"), ev("a2", "carol"))
		h.src.produce(1, ev("b0", "dave"))
		for h.com.committed(0) < 1 || h.com.committed(1) < 1 || len(h.pub.all()) < 3 {
			time.Sleep(250 * time.Millisecond)
		}
		start := time.Now()
		h.stop()
		took := time.Since(start)

		if !abandoned.Load() {
			t.Error("the call in flight was not cancelled")
		}
		if n := h.logged("drain deadline passed: abandoning in-flight work, it stays uncommitted for the next owner"); n != 1 {
			t.Errorf("the abandon was logged %d times, want once", n)
		}
		if drain := h.p.cfg.drain; took < drain || took > drain+time.Second {
			t.Errorf("the generation ended %s after it was revoked, want the drain deadline %s", took, drain)
		}
		if got := h.com.committed(0); got != 1 {
			t.Errorf("partition 0 committed at %d, want 1: the record at offset 1 has no outcome", got)
		}
		if got := h.com.committed(1); got != 1 {
			t.Errorf("partition 1 committed at %d, want 1", got)
		}
		got := h.byOffset()
		if _, ok := got[tp(0)][1]; ok {
			t.Error("the abandoned record has an outcome")
		}
		if o, ok := got[tp(0)][2]; !ok || o.Status != event.Delivered {
			t.Errorf("the record after the stuck one: %+v, want delivered", o)
		}
	})
}

func TestAnAbandonedCallWritesNoOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// MIMC accepts the call only as the drain gives up on it: too late,
		// the pipeline has abandoned it and must not report it.
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			<-ctx.Done()
			return answer(call)
		})
		h := newHarness(t, 1, push, nil)
		h.start()
		h.src.produce(0, ev("late", "alice"))
		synctest.Wait()
		h.stop()
		if outs := h.pub.all(); len(outs) != 0 {
			t.Errorf("outcomes %+v written for an abandoned call", outs)
		}
		if n := h.com.commits(); n != 0 {
			t.Errorf("%d commits, want none", n)
		}
	})
}

func TestAPublisherThatKeepsFailingHoldsEveryCommitBackAndLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2, mimcOK, nil)
		h.pub.setFailing(true)
		h.start()
		for p := range 2 {
			for i := range 30 {
				h.src.produce(p, ev(fmt.Sprintf("p%d-e%d", p, i), fmt.Sprintf("user-%d", i)))
			}
		}
		time.Sleep(5 * time.Minute)
		if n := h.com.commits(); n != 0 {
			t.Fatalf("%d commits while no outcome could be written", n)
		}
		if n := pendingEvents(h.p.met); n != 60 {
			t.Errorf("%v events pending, want all 60 held", n)
		}
		h.pub.mu.Lock()
		attempts := h.pub.attempts
		h.pub.mu.Unlock()
		if attempts < 100 {
			t.Errorf("%d write attempts in 5 minutes, want the writer to keep trying", attempts)
		}

		h.pub.setFailing(false)
		for h.com.committed(0) < 30 || h.com.committed(1) < 30 {
			time.Sleep(250 * time.Millisecond)
		}
		h.stop()
		got := h.byOffset()
		for p := range 2 {
			if n := len(got[tp(p)]); n != 30 {
				t.Errorf("partition %d: %d outcomes, want 30", p, n)
			}
		}
	})
}

func TestAGenerationEndingWithEventsInTheBatcherSendsThemFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pushed atomic.Int64
		push := pushFunc(func(_ context.Context, call mimc.Call) (mimc.Result, error) {
			pushed.Add(int64(call.Recipients.Len()))
			return answer(call)
		})
		// A linger longer than the test: nothing leaves the batcher
		// until the generation ends.
		h := newHarness(t, 2, push, func(c *config.Config) { c.BatchLinger = time.Hour })
		h.start()
		for p := range 2 {
			for i := range 5 {
				h.src.produce(p, ev(fmt.Sprintf("p%d-e%d", p, i), fmt.Sprintf("user-%d-%d", p, i)))
			}
		}
		time.Sleep(time.Minute)
		if n := pushed.Load(); n != 0 {
			t.Fatalf("%d recipients pushed before the linger or the end", n)
		}
		h.stop()
		if n := pushed.Load(); n != 10 {
			t.Errorf("%d recipients pushed at the end, want 10", n)
		}
		for p := range 2 {
			if got := h.com.committed(p); got != 5 {
				t.Errorf("partition %d committed at %d, want 5", p, got)
			}
		}
		if n := h.logged("drain deadline passed: abandoning in-flight work, it stays uncommitted for the next owner"); n != 0 {
			t.Error("the drain ran out of time")
		}
		if n := counter(h.p.met.Batches.WithLabelValues("flush")); n != 1 {
			t.Errorf("%v calls counted as flushed, want the one call of the one message", n)
		}
		if n := counter(h.p.met.Batches.WithLabelValues("linger")); n != 0 {
			t.Errorf("%v calls counted as gone at their linger, want none", n)
		}
	})
}

func TestAnIdleBridgeStaysReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 3, mimcOK, func(c *config.Config) { c.StallTimeout = 2 * time.Second })
		h.start()
		h.src.produce(0, ev("a", "alice"))
		for h.com.committed(0) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(10 * time.Second) // idle, five times the stall timeout
		if err := h.p.health.Ready(time.Now()); err != nil {
			t.Errorf("an idle bridge is not ready: %v", err)
		}
		if n := h.logged("work has stalled"); n != 0 {
			t.Errorf("an idle bridge logged a stall %d times", n)
		}
		h.stop()
		for _, e := range h.logs.FilterMessage("generation ending: draining").All() {
			if n := e.ContextMap()["pending_events"]; n != int64(0) {
				t.Errorf("an idle generation ends with pending_events %v, want 0", n)
			}
		}
	})
}

func TestEventsStuckPastTheStallTimeoutMarkTheBridgeStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hang atomic.Bool
		hang.Store(true)
		release := make(chan struct{})
		push := holding(release, func(mimc.Call) bool { return hang.Load() })
		h := newHarness(t, 1, push, func(c *config.Config) { c.StallTimeout = 2 * time.Second })
		h.start()
		h.src.produce(0, ev("a", "alice"))
		time.Sleep(time.Second)
		if err := h.p.health.Ready(time.Now()); err != nil {
			t.Errorf("not ready after a second of work: %v", err)
		}
		time.Sleep(2 * time.Second)
		err := h.p.health.Ready(time.Now())
		if err == nil || !strings.Contains(err.Error(), "stalled") {
			t.Errorf("Ready() = %v after 3s of a hanging call, want stalled", err)
		}
		hang.Store(false)
		close(release)
		for h.com.committed(0) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(time.Second)
		if err := h.p.health.Ready(time.Now()); err != nil {
			t.Errorf("still not ready once the call answered: %v", err)
		}
		h.stop()
	})
}

func TestTheFirstEventAfterALullIsNotAStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Each call takes a second, half the stall timeout.
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			if err := wait(ctx, time.Second); err != nil {
				return mimc.Result{}, err
			}
			return answer(call)
		})
		h := newHarness(t, 1, push, func(c *config.Config) { c.StallTimeout = 2 * time.Second })
		h.start()
		h.src.produce(0, ev("a", "alice"))
		time.Sleep(10 * time.Minute)
		h.src.produce(0, ev("b", "bob"))
		for h.com.committed(0) < 2 {
			time.Sleep(250 * time.Millisecond)
		}
		h.stop()
		if n := h.logged("work has stalled"); n != 0 {
			t.Errorf("a stall was logged %d times for work that took half the stall timeout", n)
		}
	})
}

func TestTheDrainedLogSaysHowLongTheDrainTook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The call in flight at the end takes 3 s more.
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			if call.FromAccount == "slow" {
				if err := wait(ctx, 3*time.Second); err != nil {
					return mimc.Result{}, err
				}
			}
			return answer(call)
		})
		h := newHarness(t, 1, push, nil)
		h.start()
		time.Sleep(10 * time.Minute) // a long generation
		h.src.produce(0, evFrom("s", "slow", "alice"))
		synctest.Wait()
		h.stop()
		entries := h.logs.FilterMessage("generation drained").All()
		if len(entries) != 1 {
			t.Fatalf("%d \"generation drained\" lines, want 1", len(entries))
		}
		took, _ := entries[0].ContextMap()["took"].(time.Duration)
		if took < 3*time.Second || took > 4*time.Second {
			t.Errorf("took = %s, want the drain's 3s, not the generation's 10m", took)
		}
	})
}

// failingOnce is a source whose readers fail their first fetch.
type failingOnce struct{ *fakeSource }

func (s failingOnce) Open(a Assignment) (PartitionReader, error) {
	r, err := s.fakeSource.Open(a)
	return &failFirst{PartitionReader: r}, err
}

type failFirst struct {
	PartitionReader
	failed bool
}

func (r *failFirst) Next(ctx context.Context) (Record, error) {
	if !r.failed {
		r.failed = true
		return Record{}, errors.New("not the leader for this partition")
	}
	return r.PartitionReader.Next(ctx)
}

func TestAFetchErrorIsLoggedAndThePartitionKeepsFlowing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2, mimcOK, nil)
		h.p.source = failingOnce{h.src}
		h.start()
		h.src.produce(0, ev("a", "alice"))
		h.src.produce(1, ev("b", "bob"))
		for h.com.committed(0) < 1 || h.com.committed(1) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		h.stop()
		if n := h.logged("fetching failed"); n != 2 {
			t.Errorf("%d fetch failures logged, want one per partition", n)
		}
	})
}

// endAt is a fixed end offset for every partition.
type endAt int64

func (e endAt) EndOffsets(_ context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	out := make(map[TopicPartition]int64, len(tps))
	for _, at := range tps {
		out[at] = int64(e)
	}
	return out, nil
}

func TestLagIsTheEndOffsetMinusTheCommittedOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, mimcOK, nil)
		h.p.offsets = endAt(10)
		h.start()
		h.src.produce(0, ev("a", "alice"), ev("b", "bob"), ev("c", "carol"))
		for h.com.committed(0) < 3 {
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // a lag lookup after the commit
		if lag := gauge(h.p.met.PartitionLag.WithLabelValues(topic, "0")); lag != 7 {
			t.Errorf("lag %v, want 10 - 3 = 7", lag)
		}
		h.stop()
		// The partition may go to another member: its gauge goes too.
		if n := series(h.p.met.PartitionLag); n != 0 {
			t.Errorf("%d lag series left after the generation ended", n)
		}
	})
}
