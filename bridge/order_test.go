package bridge

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// produceKeyed appends values with record key key to partition p.
func (s *fakeSource) produceKeyed(p int, key string, values ...string) []int64 {
	c := s.ch(tp(p))
	offs := make([]int64, len(values))
	for i, v := range values {
		s.mu.Lock()
		off := s.next[tp(p)]
		s.next[tp(p)]++
		s.mu.Unlock()
		offs[i] = off
		c <- Record{Topic: topic, Partition: p, Offset: off, Key: []byte(key), Value: []byte(v), Time: time.Now()}
	}
	return offs
}

// msgEv is an event from "shop" to one account with a message of its own.
func msgEv(id, to, msg string) string {
	return fmt.Sprintf(`{"id":%q,"fromAccount":"shop","toAccount":%q,"msg":%q}`, id, to, msg)
}

// sendLog records, per recipient, the messages of every attempt MIMC saw,
// in the order it saw them.
type sendLog struct {
	mu    sync.Mutex
	seen  map[string][]string
	calls int
}

func (l *sendLog) attempt(call mimc.Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string][]string{}
	}
	l.calls++
	for _, a := range call.Recipients.ToAccounts {
		l.seen[a] = append(l.seen[a], call.Msg)
	}
}

func (l *sendLog) of(to string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen[to])
}

// ordered sets ORDERED_TOPICS to the test topic.
func ordered(c *config.Config) { c.KafkaTopics, c.OrderedTopics = []string{topic}, []string{topic} }

// flakyMIMC is MIMC answering after a random latency, failing 30% of the
// attempts transiently (the client retries them after a backoff) and
// logging every attempt.
func flakyMIMC(log *sendLog, seed uint64) pushFunc {
	rng := rand.New(rand.NewPCG(seed, 7))
	var mu sync.Mutex
	draw := func(n int) int { mu.Lock(); defer mu.Unlock(); return rng.IntN(n) }
	return func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
		for attempt := 1; ; attempt++ {
			log.attempt(call)
			if err := wait(ctx, time.Duration(draw(300))*time.Millisecond); err != nil {
				return mimc.Result{}, err
			}
			if draw(10) >= 3 {
				res, err := answer(call)
				res.Attempts = attempt
				return res, err
			}
			if err := wait(ctx, time.Duration(100+draw(400))*time.Millisecond); err != nil { // the backoff
				return mimc.Result{}, err
			}
		}
	}
}

// runConversations produces keys conversations of n messages each over
// parts partitions (each key to its own recipient, the i-th message of
// every key the same text) and waits for every outcome.
func runConversations(t *testing.T, h *harness, parts, keys, n int) {
	t.Helper()
	h.start()
	for i := range n {
		for k := range keys {
			key := fmt.Sprintf("user-%d", k)
			h.src.produceKeyed(k%parts, key, msgEv(fmt.Sprintf("%s-%d", key, i), key, "m"+strconv.Itoa(i)))
		}
	}
	for len(h.pub.all()) < keys*n {
		time.Sleep(100 * time.Millisecond)
	}
	h.stop()
}

// checkInOrder fails t for every recipient whose attempts went back to an
// earlier message.
func checkInOrder(t *testing.T, log *sendLog, keys int) (outOfOrder int) {
	t.Helper()
	for k := range keys {
		seen := log.of(fmt.Sprintf("user-%d", k))
		for i := 1; i < len(seen); i++ {
			a, _ := strconv.Atoi(strings.TrimPrefix(seen[i-1], "m"))
			b, _ := strconv.Atoi(strings.TrimPrefix(seen[i], "m"))
			if b < a {
				outOfOrder++
			}
		}
	}
	return outOfOrder
}

func TestEveryKeysEventsReachMIMCInOffsetOrderWhileMIMCFailsSomeCallsTransiently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sendLog
		h := newHarness(t, 3, flakyMIMC(&log, 1), ordered)
		runConversations(t, h, 3, 40, 8)
		if n := checkInOrder(t, &log, 40); n > 0 {
			t.Errorf("%d attempts reached MIMC before an attempt of an earlier event of their key", n)
		}
		for _, o := range h.pub.all() {
			if o.Status != event.Delivered {
				t.Errorf("%s: %s", o.ID, o.Status)
			}
		}
		if got := gauge(h.p.met.OrderWaitingEvents); got != 0 {
			t.Errorf("order waiting gauge %v after the generation, want 0", got)
		}
	})
}

func TestWithoutOrderedTopicsTheSameConversationsArriveOutOfOrder(t *testing.T) {
	// The control of the test above: the fault pattern does reorder.
	synctest.Test(t, func(t *testing.T) {
		var log sendLog
		h := newHarness(t, 3, flakyMIMC(&log, 1), nil)
		runConversations(t, h, 3, 40, 8)
		if n := checkInOrder(t, &log, 40); n == 0 {
			t.Error("no attempt went out of order without ORDERED_TOPICS: the test above proves nothing")
		}
	})
}

func TestEventsAtTheSamePositionOfDifferentKeysStillMergeIntoOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sendLog
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			log.attempt(call)
			if err := wait(ctx, 50*time.Millisecond); err != nil {
				return mimc.Result{}, err
			}
			return answer(call)
		})
		h := newHarness(t, 2, push, ordered)
		runConversations(t, h, 2, 30, 4)
		if log.calls != 4 {
			t.Errorf("%d calls for 4 messages to 30 keys each, want 4 (one per position)", log.calls)
		}
		if n := checkInOrder(t, &log, 30); n > 0 {
			t.Errorf("%d out of order", n)
		}
	})
}

func TestASlowKeyBlocksOnlyItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var log sendLog
		held := holding(release, func(call mimc.Call) bool { return call.Msg == "slow" })
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			log.attempt(call)
			return held(ctx, call)
		})
		h := newHarness(t, 1, push, ordered)
		h.start()
		h.src.produceKeyed(0, "a", msgEv("a0", "alice", "slow"), msgEv("a1", "alice", "next"))
		h.src.produceKeyed(0, "b", msgEv("b0", "bob", "b0"), msgEv("b1", "bob", "b1"), msgEv("b2", "bob", "b2"))
		h.src.produce(0, msgEv("n0", "alice", "no key")) // not ordered: it does not wait for alice's key
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := log.of("bob"); !slices.Equal(got, []string{"b0", "b1", "b2"}) {
			t.Errorf("bob got %v while alice's key was slow, want all three in order", got)
		}
		if got := log.of("alice"); slices.Contains(got, "next") || !slices.Contains(got, "no key") {
			t.Errorf("alice got %v while her first event was in flight, want only it and the unkeyed one", got)
		}
		if got := gauge(h.p.met.OrderWaitingEvents); got != 1 {
			t.Errorf("order waiting gauge %v, want 1", got)
		}
		close(release)
		for len(h.pub.all()) < 6 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		if got := log.of("alice"); len(got) != 3 || got[2] != "next" {
			t.Errorf("alice got %v, want the next one after the slow one", got)
		}
	})
}

func TestAFailedEarlierEventReleasesTheNextOfItsKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sendLog
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			log.attempt(call)
			if err := wait(ctx, time.Duration(len(call.Msg))*100*time.Millisecond); err != nil {
				return mimc.Result{}, err
			}
			return answer(call)
		})
		h := newHarness(t, 1, push, ordered)
		h.start()
		h.src.produceKeyed(0, "a",
			evFrom("a0", "blocked", "alice"),      // refused with 403: failed
			msgEv("a1", "alice", "a-much-longer"), // slow
			msgEv("a2", "alice", "s"))             // fast: would overtake a1
		for len(h.pub.all()) < 3 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		if got := log.of("alice"); !slices.Equal(got, []string{"hello", "a-much-longer", "s"}) {
			t.Errorf("alice got %v", got)
		}
		got := h.byOffset()[tp(0)]
		if got[0].Status != event.Failed || got[1].Status != event.Delivered || got[2].Status != event.Delivered {
			t.Errorf("statuses %s %s %s, want failed delivered delivered", got[0].Status, got[1].Status, got[2].Status)
		}
	})
}

func TestADrainSendsTheEventsStillWaitingForTheirKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			if err := wait(ctx, time.Second); err != nil {
				return mimc.Result{}, err
			}
			return answer(call)
		})
		h := newHarness(t, 1, push, ordered)
		h.start()
		h.src.produceKeyed(0, "a", msgEv("a0", "alice", "1"), msgEv("a1", "alice", "2"), msgEv("a2", "alice", "3"))
		time.Sleep(100 * time.Millisecond)
		h.stop() // revoked while two wait behind the first
		if n := len(h.pub.all()); n != 3 {
			t.Errorf("%d outcomes after the drain, want 3", n)
		}
		if got := h.com.committed(0); got != 3 {
			t.Errorf("committed %d, want 3", got)
		}
	})
}
