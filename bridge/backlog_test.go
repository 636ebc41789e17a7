package bridge

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// callLog is MIMC answering after latency and remembering each call's
// message, recipients and time.
type callLog struct {
	mu      sync.Mutex
	latency time.Duration
	calls   []loggedCall
}

type loggedCall struct {
	msg        string
	recipients int
	at         time.Time
}

func (l *callLog) push(ctx context.Context, call mimc.Call) (mimc.Result, error) {
	l.mu.Lock()
	l.calls = append(l.calls, loggedCall{msg: call.Msg, recipients: call.Recipients.Len(), at: time.Now()})
	l.mu.Unlock()
	if err := wait(ctx, l.latency); err != nil {
		return mimc.Result{}, err
	}
	return answer(call)
}

func (l *callLog) all() []loggedCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loggedCall(nil), l.calls...)
}

// mixedEvent is event i of a backlog whose messages are interleaved at
// random: 1 to 5 recipients of its own.
func mixedEvent(i, msg, recipients int) string {
	to := make([]string, recipients)
	for j := range to {
		to[j] = fmt.Sprintf("%q", fmt.Sprintf("u%dx%d", i, j))
	}
	return fmt.Sprintf(`{"id":"e%d","fromAccount":"shop","toAccounts":[%s],"msg":"campaign %d"}`, i, strings.Join(to, ","), msg)
}

func TestAMixedBacklogIsSentInNearlyFullCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			parts    = 8
			messages = 100
			events   = 16000
		)
		log := &callLog{latency: 5 * time.Millisecond}
		// The backlog is read at 80,000 events/s (100µs a record on each
		// of 8 partitions): 800 events, 8 of each message, arrive within
		// a 10ms linger, where a call takes 100 recipients (33 events).
		// The room of 4,000 events holds 40 of each message.
		h := newHarness(t, parts, pushFunc(log.push), func(c *config.Config) {
			c.MaxPendingEvents = 4000
			c.BatchLinger = 10 * time.Millisecond
		})
		h.src.delay = 100 * time.Microsecond
		rng := rand.New(rand.NewPCG(7, 8))
		perMsg := map[string]int{}
		for i := range events {
			m, n := rng.IntN(messages), 1+rng.IntN(5)
			perMsg[fmt.Sprintf("campaign %d", m)] += n
			h.src.produce(i%parts, mixedEvent(i, m, n))
		}
		ideal := 0
		for _, n := range perMsg {
			ideal += (n + 99) / 100
		}
		h.start()
		for done := false; !done; {
			time.Sleep(100 * time.Millisecond)
			done = true
			for p := range parts {
				done = done && h.com.committed(p) == h.src.end(p)
			}
		}
		h.stop()
		if got := len(h.pub.all()); got != events {
			t.Fatalf("%d outcomes, want %d", got, events)
		}
		calls := len(log.all())
		ratio := float64(calls) / float64(ideal)
		t.Logf("%d calls for an ideal of %d: %.2f×", calls, ideal, ratio)
		if ratio > 1.3 {
			t.Errorf("%d calls, %.2f× the ideal %d: want at most 1.3×", calls, ratio, ideal)
		}
	})
}

func TestALiveStreamWithoutLagSendsEachCallAtItsLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &callLog{}
		h := newHarness(t, 2, pushFunc(log.push), func(c *config.Config) {
			c.BatchLinger = 50 * time.Millisecond
		})
		h.start()
		// One event every 20ms on alternate partitions: each is fetched
		// with nothing behind it.
		start := time.Now()
		for i := range 10 {
			h.src.produce(i%2, mixedEvent(i, 0, 1))
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second)
		h.stop()
		calls := log.all()
		if len(calls) == 0 {
			t.Fatal("no call")
		}
		// Calls go every linger: the first at 50ms with the events of
		// 0, 20 and 40ms.
		if at := calls[0].at.Sub(start); at != 50*time.Millisecond {
			t.Errorf("the first call went at %s, want at its linger, 50ms", at)
		}
		for _, c := range calls {
			if c.at.Sub(start) > 250*time.Millisecond {
				t.Errorf("a call went at %s, past the last event (180ms) plus its linger", c.at.Sub(start))
			}
		}
	})
}

func TestALiveStreamFetchedInBurstsSendsEachCallAtItsLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &callLog{}
		h := newHarness(t, 1, pushFunc(log.push), func(c *config.Config) {
			c.BatchLinger = 50 * time.Millisecond
		})
		// 30 events of a message every 40ms, fetched at 1ms each: while a burst is
		// read its partition has records behind, but the fetcher reaches
		// its end 10ms before the next one.
		h.src.delay = time.Millisecond
		h.start()
		start := time.Now()
		for b := range 10 {
			for i := range 30 {
				h.src.produce(0, mixedEvent(b*30+i, b, 1))
			}
			time.Sleep(40 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		h.stop()
		calls := log.all()
		if len(calls) == 0 {
			t.Fatal("no call")
		}
		// Burst b comes at 40b ms and its call goes at its linger, not
		// held while the next burst is read.
		for _, c := range calls {
			var b int
			if _, err := fmt.Sscanf(c.msg, "campaign %d", &b); err != nil {
				t.Fatal(err)
			}
			if at, want := c.at.Sub(start), time.Duration(40*b+55)*time.Millisecond; at > want {
				t.Errorf("the call of burst %d went at %s, held past its linger (by %s) though its partition was caught up", b, at, want)
			}
		}
	})
}

func TestUrgentCallsGoAtTheirLingerWhileNormalOnesWaitForTheBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &callLog{}
		h := newHarness(t, 1, pushFunc(log.push), func(c *config.Config) {
			c.BatchLinger = 10 * time.Millisecond
			c.UrgentTopics = []string{"urgent"}
		})
		h.src.delay = time.Millisecond // 40 records take 40ms to read
		urgentTP := TopicPartition{Topic: "urgent", Partition: 0}
		h.assign = []Assignment{{TopicPartition: tp(0), Offset: -2}, {TopicPartition: urgentTP, Offset: -2}}
		for i := range 40 {
			h.src.produce(0, fmt.Sprintf(`{"id":"n%d","fromAccount":"shop","toAccount":"u%d","msg":"sale"}`, i, i))
			h.src.produceTo("urgent", 0, time.Now(), fmt.Sprintf(`{"id":"o%d","fromAccount":"auth","toAccount":"u%d","msg":"code"}`, i, i))
		}
		h.start()
		for h.com.committed(0) < 40 || len(h.pub.all()) < 80 {
			time.Sleep(10 * time.Millisecond)
		}
		h.stop()
		calls := map[string]int{}
		for _, c := range log.all() {
			calls[c.msg]++
		}
		if calls["sale"] != 1 {
			t.Errorf("the normal backlog of one message went in %d calls, want 1: held while its partition had lag", calls["sale"])
		}
		if calls["code"] < 3 {
			t.Errorf("the urgent backlog went in %d calls, want one per linger (at least 3 in 40ms): urgent calls are never held", calls["code"])
		}
	})
}

func TestAHeldCallGoesALingerBeforeItsEarliestEventExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &callLog{}
		h := newHarness(t, 1, pushFunc(log.push), func(c *config.Config) {
			c.BatchLinger = 100 * time.Millisecond // a hold of up to 2s
		})
		h.src.delay = 10 * time.Millisecond // 300 records: 3s of lag
		start := time.Now()
		h.src.produce(0, `{"id":"flash","fromAccount":"shop","toAccount":"ann","msg":"flash sale","ttl":1}`)
		for i := range 299 {
			h.src.produce(0, fmt.Sprintf(`{"id":"n%d","fromAccount":"shop","toAccount":"u%d","msg":"other"}`, i, i))
		}
		h.start()
		for h.com.committed(0) < 300 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		for _, c := range log.all() {
			if c.msg == "flash sale" {
				if at := c.at.Sub(start); at > 900*time.Millisecond {
					t.Errorf("the call of an event expiring at 1s went at %s, want by 900ms (a linger before)", at)
				}
			}
		}
		for _, o := range h.pub.all() {
			if o.ID == "flash" && o.Status != event.Delivered {
				t.Errorf("the expiring event ended %s (%s), want delivered", o.Status, o.Error)
			}
		}
	})
}

func TestACallThatTheNextEventOfItsKeyWaitsForIsNotHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := &callLog{}
		h := newHarness(t, 1, pushFunc(log.push), func(c *config.Config) {
			ordered(c)
			c.BatchLinger = 100 * time.Millisecond // a hold of up to 2s
		})
		h.src.delay = 10 * time.Millisecond // 300 records: 3s of lag
		start := time.Now()
		// A conversation first: m1 waits for m0's outcome, m2 for m1's.
		h.src.produceKeyed(0, "ann", msgEv("c0", "ann", "m0"), msgEv("c1", "ann", "m1"), msgEv("c2", "ann", "m2"))
		for i := range 297 {
			h.src.produce(0, fmt.Sprintf(`{"id":"n%d","fromAccount":"shop","toAccount":"u%d","msg":"other"}`, i, i))
		}
		h.start()
		for h.com.committed(0) < 300 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		sent := map[string]time.Duration{}
		for _, c := range log.all() {
			sent[c.msg] = c.at.Sub(start)
		}
		// m0 and m1 each go at their linger: holding them for more of
		// their message would hold the conversation behind them. m2,
		// whom nobody waits for, may be held.
		if sent["m0"] > 150*time.Millisecond || sent["m1"] > 300*time.Millisecond {
			t.Errorf("m0 went at %s and m1 at %s, want each at its linger (100ms, then 100ms after m0's outcome): a call the next event of its key waits for was held",
				sent["m0"], sent["m1"])
		}
		if !(sent["m0"] < sent["m1"] && sent["m1"] < sent["m2"]) {
			t.Errorf("the conversation went out of order: %v", sent)
		}
	})
}
