package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

// fakeCounter counts the input partitions, or fails.
type fakeCounter struct {
	mu  sync.Mutex
	n   int
	err error
}

func (c *fakeCounter) PartitionCount(context.Context, []string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.err
}

func (c *fakeCounter) set(n int, err error) {
	c.mu.Lock()
	c.n, c.err = n, err
	c.mu.Unlock()
}

func withQuota(t *testing.T, h *harness, rate float64, counter PartitionCounter) *quota.Limiter {
	t.Helper()
	q, err := quota.New(quota.Config{RateP2P: rate, MaxRecipients: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.p.quota, h.p.partitions = q, counter
	return q
}

func TestTheShareIsThePartitionsHeldOverAllTheInputPartitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 8, mimcOK, nil)
		counter := &fakeCounter{n: 8}
		q := withQuota(t, h, 400, counter)

		h.assign = []Assignment{{TopicPartition: tp(0), Offset: -2}, {TopicPartition: tp(5), Offset: -2}}
		h.start()
		synctest.Wait()
		if r := q.Rate(message.P2P); r != 100 {
			t.Errorf("holding 2 of 8 partitions, the rate is %v, want 100 of 400", r)
		}
		h.stop()

		// The count fails: the last one stands.
		counter.set(0, errors.New("broker down"))
		h.assign = []Assignment{{TopicPartition: tp(1), Offset: -2}}
		h.start()
		synctest.Wait()
		if r := q.Rate(message.P2P); r != 50 {
			t.Errorf("holding 1 of 8 partitions with the count failing, the rate is %v, want 50", r)
		}
		h.stop()

		// Alone with every partition: the whole quota.
		counter.set(8, nil)
		h.assign = nil
		h.start()
		synctest.Wait()
		if r := q.Rate(message.P2P); r != 400 {
			t.Errorf("holding every partition, the rate is %v, want 400", r)
		}
		h.stop()
		if n := h.logged("quota share"); n != 3 {
			t.Errorf("logged the share %d times, want once per generation", n)
		}
	})
}

func TestTheRateGaugeFollowsTheRecoveryWithoutTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, mimcOK, nil)
		q, err := quota.New(quota.Config{RateP2P: 100, MaxRecipients: 100, Observer: h.p.met.QuotaObserver()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.p.quota, h.p.partitions = q, &fakeCounter{n: 1}
		h.start()
		synctest.Wait()
		at, err := q.Wait(t.Context(), message.P2P, quota.Normal, 1)
		if err != nil {
			t.Fatal(err)
		}
		q.TooMany(message.P2P, at, 0)
		rate := h.p.met.QuotaRate.WithLabelValues(string(message.P2P))
		if r := gauge(rate); r != 50 {
			t.Fatalf("rate gauge %v after a 429, want 50", r)
		}
		time.Sleep(time.Minute)
		if r := gauge(rate); r != 100 {
			t.Errorf("rate gauge %v a minute after the 429 with no traffic, want the share's 100", r)
		}
		h.stop()
	})
}

// heldPush is MIMC holding every call until release is closed; it counts
// the recipients it was handed.
type heldPush struct {
	release chan struct{}
	handed  atomic.Int64
}

func newHeldPush() *heldPush { return &heldPush{release: make(chan struct{})} }

func (p *heldPush) Push(ctx context.Context, call mimc.Call) (mimc.Result, error) {
	p.handed.Add(int64(call.Recipients.Len()))
	select {
	case <-p.release:
	case <-ctx.Done():
		return mimc.Result{}, ctx.Err()
	}
	return answer(call)
}

func TestUnderAQuotaWhatIsHandedToTheSendersTakesAThirdOfTheDrainBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		push := newHeldPush()
		// A drain budget of 1.5s (two thirds of the session timeout): the
		// recipients handed on may take 0.5s to send, 15 at 30/s.
		h := newHarness(t, 1, push, func(c *config.Config) { c.KafkaSessionTimeout = 2250 * time.Millisecond })
		withQuota(t, h, 30, &fakeCounter{n: 1})
		h.start()
		for i := range 200 {
			h.src.produce(0, ev(fmt.Sprintf("e%d", i), fmt.Sprintf("user-%d", i)))
		}
		synctest.Wait()
		time.Sleep(time.Second) // past the linger
		if n := push.handed.Load(); n != 15 {
			t.Errorf("%d recipients handed to MIMC under a quota of 30/s and a drain budget of 1.5s, want 15", n)
		}
		// The rest is read ahead: fetched, waiting for the quota.
		if held := pendingEvents(h.p.met); held != 200 {
			t.Errorf("%v events pending, want all 200 (MAX_PENDING_EVENTS allows them)", held)
		}
		if w := gauge(h.p.met.QuotaWaitingEvents.WithLabelValues(string(message.P2P))); w != 185 {
			t.Errorf("%v events waiting for the p2p quota, want 185", w)
		}
		close(push.release)
		for h.com.committed(0) < h.src.end(0) {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		if n := len(h.pub.all()); n != 200 {
			t.Errorf("%d outcomes, want 200", n)
		}
		if w := gauge(h.p.met.QuotaWaitingEvents.WithLabelValues(string(message.P2P))); w != 0 {
			t.Errorf("%v events waiting once all are done", w)
		}
	})
}

func TestUnderAQuotaWhatIsHandedToTheSendersTakesAtMostASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		push := newHeldPush()
		// The default session timeout: a drain budget of 20s, a third of
		// it 6.7s; a second of sending at 30/s is the bound.
		h := newHarness(t, 1, push, nil)
		withQuota(t, h, 30, &fakeCounter{n: 1})
		h.start()
		for i := range 200 {
			h.src.produce(0, ev(fmt.Sprintf("e%d", i), fmt.Sprintf("user-%d", i)))
		}
		synctest.Wait()
		time.Sleep(time.Second)
		if n := push.handed.Load(); n != 30 {
			t.Errorf("%d recipients handed to MIMC, want 30 (a second at 30/s)", n)
		}
		close(push.release)
		for h.com.committed(0) < h.src.end(0) {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
	})
}

func TestWithoutAQuotaPendingIsBoundedByMaxPendingEventsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		push := holding(release, nil)
		h := newHarness(t, 1, push, func(c *config.Config) { c.MaxPendingEvents = 150 })
		withQuota(t, h, 0, &fakeCounter{n: 1})
		h.start()
		for i := range 200 {
			h.src.produce(0, ev(fmt.Sprintf("e%d", i), fmt.Sprintf("user-%d", i)))
		}
		synctest.Wait()
		if held := pendingEvents(h.p.met); held != 150 {
			t.Errorf("%v events pending, want MAX_PENDING_EVENTS 150", held)
		}
		close(release)
		for h.com.committed(0) < h.src.end(0) {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
	})
}

func TestAQuotaTooLowToDrainIsWarnedAboutAtStartUpNamingTheSetting(t *testing.T) {
	cfg := config.Default()
	cfg.KafkaBrokers = []string{"127.0.0.1:9"}
	cfg.MIMCAppID, cfg.MIMCAppKey = "1", "k"
	c, _, err := config.Load([]string{"--mimc-app-secret", "s3cret-for-the-test"}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.MIMCAppSecret = c.MIMCAppSecret
	cfg.RateP2P = 0.01 // one full call of 100 recipients: 10000s, far past the 20s drain
	cfg.RateP2T = 1000 // 0.1s: fine
	core, logs := zapobserver.New(zapcore.InfoLevel)
	New(cfg, Deps{}, zap.New(core), metrics.New())
	warned := logs.FilterMessageSnippet("is so low that the pending events of its kind take longer to send than the drain budget").All()
	if len(warned) != 1 {
		t.Fatalf("%d warnings, want 1 (RATE_P2P only): %v", len(warned), logs.All())
	}
	f := warned[0].ContextMap()
	if f["setting"] != "MIMC_BRIDGE_RATE_P2P" || f["one_full_call_takes"] != "2h46m40s" || f["drain_budget"] != 20*time.Second {
		t.Errorf("fields %v", f)
	}
	if !strings.HasPrefix(warned[0].Message, "MIMC_BRIDGE_RATE_P2P ") {
		t.Errorf("the message does not name the setting: %q", warned[0].Message)
	}
	cfg.RateP2P = 1e-9
	if w := slowQuotaWarnings(cfg); len(w) != 1 || w[0].fields[3].String != "more than 100 years" {
		t.Fatalf("warnings %v", w)
	}
}

// withQuotas gives the harness a quota per kind (0: none) and returns it.
func withQuotas(t *testing.T, h *harness, p2p, p2t float64) *quota.Limiter {
	t.Helper()
	q, err := quota.New(quota.Config{RateP2P: p2p, RateP2T: p2t, MaxRecipients: 100, Observer: h.p.met.QuotaObserver()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.p.quota, h.p.partitions = q, &fakeCounter{n: h.parts}
	return q
}

// quotaPush is MIMC behind the member's quota, where the MIMC client's gate
// puts it: each call waits for its recipients' quota, then is answered.
func quotaPush(q **quota.Limiter) pushFunc {
	return func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
		if _, err := (*q).Wait(ctx, call.Kind, quota.Normal, call.Recipients.Len()); err != nil {
			return mimc.Result{}, err
		}
		return answer(call)
	}
}

// p2tEv is a p2t event from "shop" to one topic.
func p2tEv(id string, topicID int) string {
	return fmt.Sprintf(`{"id":%q,"fromAccount":"shop","topicId":"%d","msg":"hello"}`, id, topicID)
}

func TestAKindOverItsQuotaHoldsBackNeitherTheOtherKindNorRecordsThatNeedNoCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// p2p at 1e-9 recipients a second: one call in a member's life
		// (its one recipient of burst), then nothing. p2t has a quota too,
		// so that both kinds have a budget.
		var q *quota.Limiter
		h := newHarness(t, 2, quotaPush(&q), nil)
		q = withQuotas(t, h, 1e-9, 1000)
		h.start()
		kinds := map[TopicPartition]map[int64]string{}
		for p := range 2 {
			kinds[tp(p)] = map[int64]string{}
			for i, k := range []string{"p2p", "p2p", "p2p", "p2t", "rejected", "p2t", "p2p", "rejected", "p2t"} {
				id := fmt.Sprintf("p%d-%d", p, i)
				v := ev(id, fmt.Sprintf("user-%d-%d", p, i))
				switch k {
				case "p2t":
					v = p2tEv(id, 100*p+i)
				case "rejected":
					v = `{"id":"` + id + `", not json`
				}
				kinds[tp(p)][h.src.produce(p, v)[0]] = k
			}
		}
		time.Sleep(2 * time.Second)
		got := h.byOffset()
		p2p := 0
		for at, offs := range kinds {
			for off, k := range offs {
				o, ok := got[at][off]
				switch {
				case k == "p2t" && (!ok || o.Status != event.Delivered):
					t.Errorf("%s offset %d (p2t): outcome %q after 2s, want delivered", at, off, o.Status)
				case k == "rejected" && (!ok || o.Status != event.Rejected):
					t.Errorf("%s offset %d (rejected): outcome %q after 2s, want rejected", at, off, o.Status)
				case k == "p2p" && ok:
					p2p++
				}
			}
		}
		if p2p != 1 {
			t.Errorf("%d p2p events delivered, want 1: the member's one recipient of burst", p2p)
		}
		if w := gauge(h.p.met.QuotaWaitingEvents.WithLabelValues(string(message.P2P))); w != 6 {
			t.Errorf("%v events waiting for the p2p quota, want 6 (8, less the one delivered and the one sending)", w)
		}
		h.stop()
		// The p2p events without an outcome hold back their partitions'
		// commits (the fake committer checks every commit); the next
		// owner does them again.
		h.byOffset()
		if w := gauge(h.p.met.QuotaWaitingEvents.WithLabelValues(string(message.P2P))); w != 0 {
			t.Errorf("%v events waiting for the p2p quota after the generation ended, want 0", w)
		}
		if n := h.logged("generation ending: events waiting for their kind's quota are left uncommitted for the next owner"); n != 1 {
			t.Errorf("logged the events left waiting %d times, want once", n)
		}
	})
}

func TestEachKindSendsAtItsOwnQuotaThroughAMixedBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 10 p2p and 100 p2t recipients a second. A backlog mixed in
		// every partition: 100 p2p events (10 s of their quota) and 2000
		// p2t events (20 s). Were fetching paced by the slower kind, the
		// p2p events would take the p2t's 20 s: half their quota idle.
		var q *quota.Limiter
		h := newHarness(t, 4, quotaPush(&q), nil)
		q = withQuotas(t, h, 10, 100)
		for p := range 4 {
			for i := range 525 {
				id := fmt.Sprintf("p%d-%d", p, i)
				if i%21 == 0 {
					h.src.produce(p, ev(id, "user-"+id))
				} else {
					h.src.produce(p, p2tEv(id, 1000*p+i))
				}
			}
		}
		start := time.Now()
		h.start()
		var p2pDone, p2tDone time.Duration
		for p2pDone == 0 || p2tDone == 0 {
			time.Sleep(100 * time.Millisecond)
			n := map[message.Kind]int{}
			for _, o := range h.pub.all() {
				n[o.Kind]++
			}
			if p2pDone == 0 && n[event.P2P] == 100 {
				p2pDone = time.Since(start)
			}
			if p2tDone == 0 && n[event.P2T] == 2000 {
				p2tDone = time.Since(start)
			}
			if time.Since(start) > time.Minute {
				t.Fatalf("after a minute: %v outcomes", n)
			}
		}
		h.stop()
		t.Logf("p2p: 100 recipients in %s (%.0f%% of its quota); p2t: 2000 in %s (%.0f%%)",
			p2pDone, 100*100/(10*p2pDone.Seconds()), p2tDone, 100*2000/(100*p2tDone.Seconds()))
		if p2pDone > 11*time.Second {
			t.Errorf("the p2p backlog (10 s of its quota) took %s", p2pDone)
		}
		if p2tDone > 21*time.Second {
			t.Errorf("the p2t backlog (20 s of its quota) took %s", p2tDone)
		}
	})
}

func TestAnEventWaitingForItsQuotaIsLeftAtTheEndWithWhatWaitsBehindItForItsKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// p2p at 1/s with ORDERED_TOPICS: x0 is sent (its recipient comes
		// in a second); c0 waits for the p2p quota, holding key "c"; c1
		// waits behind it for the key. When the generation ends, c0 and c1
		// are left together for the next owner: the drain waits only for
		// x0's call.
		var q *quota.Limiter
		h := newHarness(t, 1, quotaPush(&q), ordered)
		q = withQuotas(t, h, 1, 1000)
		h.start()
		h.src.produce(0, ev("x0", "u0"))
		h.src.produceKeyed(0, "c", ev("c0", "u1"), ev("c1", "u2"))
		h.src.produceKeyed(0, "b", p2tEv("b0", 1))
		time.Sleep(500 * time.Millisecond)
		if w := gauge(h.p.met.QuotaWaitingEvents.WithLabelValues(string(message.P2P))); w != 1 {
			t.Errorf("%v events waiting for the p2p quota, want c0", w)
		}
		if w := gauge(h.p.met.OrderWaitingEvents); w != 1 {
			t.Errorf("%v events waiting for their key, want c1", w)
		}
		stopAt := time.Now()
		h.stop()
		if d := time.Since(stopAt); d > 2*time.Second {
			t.Errorf("the drain took %s, want x0's second at most", d)
		}
		got := map[string]string{}
		for _, o := range h.pub.all() {
			got[o.ID] = o.Status
		}
		if len(got) != 2 || got["x0"] != event.Delivered || got["b0"] != event.Delivered {
			t.Errorf("outcomes %v, want x0 and b0 delivered, c0 and c1 left", got)
		}
		if c := h.com.committed(0); c != 1 {
			t.Errorf("committed %d, want 1: c0 is left for the next owner", c)
		}
		if w := gauge(h.p.met.OrderWaitingEvents); w != 0 {
			t.Errorf("%v events waiting for their key after the generation ended", w)
		}
		if n := h.logs.FilterField(zap.Int("waiting_behind_them", 1)).Len(); n != 1 {
			t.Errorf("the events left were not logged with the one waiting behind them")
		}
	})
}
