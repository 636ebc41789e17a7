package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/consumer"
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

		h.assign = []consumer.Assignment{{TopicPartition: tp(0), Offset: -2}, {TopicPartition: tp(5), Offset: -2}}
		h.start()
		synctest.Wait()
		if r := q.Rate(message.P2P); r != 100 {
			t.Errorf("holding 2 of 8 partitions, the rate is %v, want 100 of 400", r)
		}
		h.stop()

		// The count fails: the last one stands.
		counter.set(0, errors.New("broker down"))
		h.assign = []consumer.Assignment{{TopicPartition: tp(1), Offset: -2}}
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
		rate := h.p.met.QuotaRate.WithLabelValues(message.P2P)
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

func TestUnderAQuotaFetchingPausesAtAThirdOfTheDrainBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			select {
			case <-release:
			case <-ctx.Done():
				return mimc.Result{}, ctx.Err()
			}
			return answer(call)
		})
		// A drain budget of 1.5s (two thirds of the session timeout): the
		// pending recipients may take 0.5s to send, 15 at 30/s.
		h := newHarness(t, 1, push, func(c *config.Config) { c.KafkaSessionTimeout = 2250 * time.Millisecond })
		withQuota(t, h, 30, &fakeCounter{n: 1})
		h.start()
		for i := range 200 {
			h.src.produce(0, ev(fmt.Sprintf("e%d", i), fmt.Sprintf("user-%d", i)))
		}
		synctest.Wait()
		// 15 within the budget, and the one the fetcher holds while it waits.
		if held, want := gauge(h.p.met.PendingEvents), 16.0; held != want {
			t.Errorf("%v events pending under a quota of 30/s and a drain budget of 1.5s, want %v", held, want)
		}
		close(release)
		for h.com.committed(0) < h.src.end(0) {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		if n := len(h.pub.all()); n != 200 {
			t.Errorf("%d outcomes, want 200", n)
		}
	})
}

func TestUnderAQuotaPendingTakesAtMostASecondToSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			select {
			case <-release:
			case <-ctx.Done():
				return mimc.Result{}, ctx.Err()
			}
			return answer(call)
		})
		// The default session timeout: a drain budget of 20s, a third of
		// it 6.7s; a second of sending at 30/s is the bound.
		h := newHarness(t, 1, push, nil)
		withQuota(t, h, 30, &fakeCounter{n: 1})
		h.start()
		for i := range 200 {
			h.src.produce(0, ev(fmt.Sprintf("e%d", i), fmt.Sprintf("user-%d", i)))
		}
		synctest.Wait()
		if held, want := gauge(h.p.met.PendingEvents), 31.0; held != want {
			t.Errorf("%v events pending, want 31 (a second at 30/s, and the one the fetcher holds)", held)
		}
		close(release)
		for h.com.committed(0) < h.src.end(0) {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
	})
}

func TestWithoutAQuotaPendingIsBoundedByMaxPendingEventsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			select {
			case <-release:
			case <-ctx.Done():
				return mimc.Result{}, ctx.Err()
			}
			return answer(call)
		})
		h := newHarness(t, 1, push, func(c *config.Config) { c.MaxPendingEvents = 150 })
		withQuota(t, h, 0, &fakeCounter{n: 1})
		h.start()
		for i := range 200 {
			h.src.produce(0, ev(fmt.Sprintf("e%d", i), fmt.Sprintf("user-%d", i)))
		}
		synctest.Wait()
		if held := gauge(h.p.met.PendingEvents); held != 150 {
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
	b, err := New(cfg, zap.New(core), metrics.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.close()
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
