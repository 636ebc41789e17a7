package bridge

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

func TestTheDedupWindowMatchesAMapThroughAddsExpiryAndEviction(t *testing.T) {
	// A small window, so that eviction and the index's deletions run
	// often, checked against a plain map of what it should hold.
	const maxIDs = 50
	w := newDedupWindow(30*time.Second, maxIDs)
	type entry struct {
		src event.Source
		at  time.Time
	}
	want := map[string]entry{}
	var order []string // insertion order of want's ids
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Unix(1_800_000_000, 0)
	for step := range 20000 {
		now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		id := fmt.Sprintf("id-%d", rng.IntN(200))
		if rng.IntN(2) == 0 {
			src := event.Source{Topic: "t", Partition: rng.IntN(3), Offset: int64(step)}
			w.add(id, src, now, now)
			// Model: drop the expired from the front, keep a live first.
			for len(order) > 0 && now.Unix()-want[order[0]].at.Unix() > 30 {
				delete(want, order[0])
				order = order[1:]
			}
			if e, ok := want[id]; ok {
				if now.Unix()-e.at.Unix() > 30 {
					want[id] = entry{src, now}
				}
				continue
			}
			if len(order) == maxIDs {
				delete(want, order[0])
				order = order[1:]
			}
			want[id] = entry{src, now}
			order = append(order, id)
			continue
		}
		got, ok := w.lookup(id, now)
		e, live := want[id]
		live = live && now.Unix()-e.at.Unix() <= 30
		if ok != live || (ok && got != e.src) {
			t.Fatalf("step %d: lookup(%s) = %v %v, want %v %v", step, id, got, ok, e.src, live)
		}
	}
}

func TestAMillionRememberedIdsTakeAboutThirtyTwoBytesEach(t *testing.T) {
	w := newDedupWindow(time.Hour, 1_000_000)
	perID := float64(w.bytes()) / 1e6
	t.Logf("dedup window of 1,000,000 ids: %d bytes (%.1f MiB), %.1f bytes an id, off the Go heap; entry %d B",
		w.bytes(), float64(w.bytes())/(1<<20), perID, dedupEntrySize)
	if dedupEntrySize != 24 || perID > 33 {
		t.Errorf("%.1f bytes an id (entry %d B), want at most 33 (24 B entry, 8 B index)", perID, dedupEntrySize)
	}
	now := time.Now()
	for i := range 1_000_000 {
		w.add("order-"+strconv.Itoa(i)+"-shipped", event.Source{Topic: "mimc.push", Partition: i % 16, Offset: int64(i)}, now, now)
	}
	if w.len() != 1_000_000 {
		t.Fatalf("%d ids", w.len())
	}
	if _, ok := w.lookup("order-999999-shipped", now); !ok {
		t.Error("the last id is not found")
	}
	if n := w.add("one-more", event.Source{Topic: "mimc.push"}, now, now); n != 1 {
		t.Errorf("adding past DEDUP_MAX_IDS forgot %d ids, want 1", n)
	}
	if _, ok := w.lookup("order-0-shipped", now); ok {
		t.Error("the oldest id is still remembered past DEDUP_MAX_IDS")
	}
}

// dedupOn turns the window on for a harness's pipeline.
func dedupOn(h *harness, window time.Duration) {
	h.p.window = newDedupWindow(window, 1000)
	h.p.cfg.dedupWindow = window
}

// countingMIMC counts the pushes per message.
type countingMIMC struct {
	pushes atomic.Int32
	stuck  chan struct{} // calls from "stuck" wait until it is closed
	fail   atomic.Bool   // calls from "stuck" then fail
}

func (m *countingMIMC) Push(ctx context.Context, call mimc.Call) (mimc.Result, error) {
	m.pushes.Add(1)
	if call.FromAccount == "stuck" {
		select {
		case <-m.stuck:
		case <-ctx.Done():
			return mimc.Result{}, ctx.Err()
		}
		if m.fail.Load() {
			return mimc.Result{}, &mimc.Error{Code: 500, Message: "retries ran out", Attempts: 3}
		}
		call.FromAccount = "shop"
	}
	return answer(call)
}

func TestACopyOfADeliveredIdInAnotherPartitionGetsDuplicateAndNoPush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &countingMIMC{}
		h := newHarness(t, 2, m, nil)
		dedupOn(h, time.Minute)
		h.start()
		h.src.produce(0, ev("order-1", "alice"))
		for len(h.pub.all()) < 1 {
			time.Sleep(100 * time.Millisecond)
		}
		h.src.produce(1, ev("order-1", "alice"))
		h.src.produce(1, `{"fromAccount":"shop","toAccount":"bob","msg":"no id"}`, `{"fromAccount":"shop","toAccount":"bob","msg":"no id"}`)
		for len(h.pub.all()) < 4 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		got := h.byOffset()
		dup := got[tp(1)][0]
		if dup.Status != event.Duplicate || dup.DuplicateOf == nil || *dup.DuplicateOf != (event.Source{Topic: topic, Partition: 0, Offset: 0}) {
			t.Errorf("the copy: %+v (duplicateOf %v), want duplicate of push/0/0", dup, dup.DuplicateOf)
		}
		if got[tp(1)][1].Status != event.Delivered || got[tp(1)][2].Status != event.Delivered {
			t.Error("events without an id were taken for duplicates")
		}
		if n := m.pushes.Load(); n != 3 {
			t.Errorf("%d pushes, want 3 (the first and the two without id)", n)
		}
	})
}

func TestACopyArrivingWhileTheFirstIsInFlightWaitsForItsOutcome(t *testing.T) {
	for _, firstFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("first fails %v", firstFails), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := &countingMIMC{stuck: make(chan struct{})}
				m.fail.Store(firstFails)
				h := newHarness(t, 2, m, func(c *config.Config) { c.MaxConcurrentCalls = 8 })
				dedupOn(h, time.Minute)
				h.start()
				h.src.produce(0, evFrom("x", "stuck", "alice"))
				time.Sleep(time.Second)
				h.src.produce(1, evFrom("x", "shop", "alice"), evFrom("x", "shop", "alice"))
				time.Sleep(time.Second)
				synctest.Wait()
				if n := m.pushes.Load(); n != 1 {
					t.Errorf("%d pushes while the first copy is in flight, want 1", n)
				}
				if got := gauge(h.p.met.DedupWaitingEvents); got != 2 {
					t.Errorf("dedup waiting gauge %v, want 2", got)
				}
				close(m.stuck)
				for len(h.pub.all()) < 3 {
					time.Sleep(100 * time.Millisecond)
				}
				h.stop()
				got := h.byOffset()
				first, c1, c2 := got[tp(0)][0], got[tp(1)][0], got[tp(1)][1]
				if !firstFails {
					if first.Status != event.Delivered || c1.Status != event.Duplicate || c2.Status != event.Duplicate {
						t.Errorf("statuses %s %s %s, want delivered duplicate duplicate", first.Status, c1.Status, c2.Status)
					}
					if m.pushes.Load() != 1 {
						t.Errorf("%d pushes, want 1", m.pushes.Load())
					}
					return
				}
				// A failed first lets the next copy go; that one delivered
				// makes the last a duplicate of it.
				if first.Status != event.Failed || c1.Status != event.Delivered || c2.Status != event.Duplicate {
					t.Errorf("statuses %s %s %s, want failed delivered duplicate", first.Status, c1.Status, c2.Status)
				}
				if c2.DuplicateOf == nil || c2.DuplicateOf.Partition != 1 || c2.DuplicateOf.Offset != 0 {
					t.Errorf("the last copy is a duplicate of %v, want push/1/0", c2.DuplicateOf)
				}
				if m.pushes.Load() != 2 {
					t.Errorf("%d pushes, want 2", m.pushes.Load())
				}
			})
		})
	}
}

func TestOnlyDeliveredSuppressesAndTheWindowEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &countingMIMC{}
		h := newHarness(t, 1, m, nil)
		dedupOn(h, 10*time.Second)
		h.start()
		h.src.produce(0, evFrom("f", "blocked", "alice"))
		for len(h.pub.all()) < 1 {
			time.Sleep(100 * time.Millisecond)
		}
		h.src.produce(0, evFrom("f", "shop", "alice")) // a replay of the failed one: pushed
		h.src.produce(0, evFrom("f", "shop", "alice")) // a copy of the delivered replay: not pushed
		for len(h.pub.all()) < 3 {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(15 * time.Second)
		h.src.produce(0, evFrom("f", "shop", "alice")) // past the window: pushed
		for len(h.pub.all()) < 4 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		got := h.byOffset()[tp(0)]
		want := []string{event.Failed, event.Delivered, event.Duplicate, event.Delivered}
		for off, st := range want {
			if got[int64(off)].Status != st {
				t.Errorf("offset %d: %s, want %s", off, got[int64(off)].Status, st)
			}
		}
	})
}

// BenchmarkDedupWindow is the window's cost per event at the default size:
// a lookup of a new id, then its add once delivered.
func BenchmarkDedupWindow(b *testing.B) {
	w := newDedupWindow(10*time.Minute, 1_000_000)
	ids := make([]string, 1<<18)
	for i := range ids {
		ids[i] = "campaign-42-user-" + strconv.Itoa(i)
	}
	now := time.Now()
	src := event.Source{Topic: "mimc.push", Partition: 3}
	b.ResetTimer()
	for i := range b.N {
		id := ids[i&(len(ids)-1)]
		if _, ok := w.lookup(id, now); !ok {
			src.Offset = int64(i)
			w.add(id, src, now, now)
		}
	}
}
