package bridge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// produceTo appends value to partition p of topic with the record
// timestamp at, and returns its offset.
func (s *fakeSource) produceTo(topic string, p int, at time.Time, value string) int64 {
	k := TopicPartition{Topic: topic, Partition: p}
	c := s.ch(k)
	s.mu.Lock()
	off := s.next[k]
	s.next[k]++
	s.mu.Unlock()
	c <- Record{Topic: topic, Partition: p, Offset: off, Value: []byte(value), Time: at}
	return off
}

// byID returns the outcomes by event id, failing on a second one.
func (h *harness) byID() map[string]event.Outcome {
	h.t.Helper()
	out := map[string]event.Outcome{}
	for _, o := range h.pub.all() {
		if _, dup := out[o.ID]; dup {
			h.t.Errorf("a second outcome for %s", o.ID)
		}
		out[o.ID] = o
	}
	return out
}

// sandbox is the MIMC fake behind a real client, in memory, for a synctest
// bubble.
func sandbox(t *testing.T, set func(*mimc.Config)) (*mimctest.Server, *mimc.Client) {
	t.Helper()
	srv := mimctest.New(mimctest.Config{AppID: "1", AppKey: "k", AppSecret: "s", Seed: 1})
	cfg := mimc.Config{BaseURL: "http://mimc.test", HTTPClient: srv.HTTPClient(), BeforeAttempt: dropExpired,
		Credentials: mimc.Credentials{AppID: "1", AppKey: "k", AppSecret: secret.New("s")}}
	if set != nil {
		set(&cfg)
	}
	c, err := mimc.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// pushedTo lists every recipient the fake was asked to push to.
func pushedTo(srv *mimctest.Server) []string {
	var out []string
	for _, c := range srv.Calls() {
		out = append(out, c.ToAccounts...)
	}
	return out
}

func evTTL(id, msg string, ttl int, to ...string) string {
	return fmt.Sprintf(`{"id":%q,"fromAccount":"shop","toAccounts":["%s"],"msg":%q,"ttl":%d}`, id, strings.Join(to, `","`), msg, ttl)
}

func TestAnEventExpiredWhenFetchedIsNeverSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pushed atomic.Int32
		push := pushFunc(func(_ context.Context, call mimc.Call) (mimc.Result, error) {
			pushed.Add(int32(call.Recipients.Len()))
			return answer(call)
		})
		h := newHarness(t, 1, push, func(c *config.Config) { c.EventTTL = time.Minute })
		h.start()
		now := time.Now()
		h.src.produceTo(topic, 0, now.Add(-10*time.Second), evTTL("own-ttl", "sale", 5, "ann"))
		h.src.produceTo(topic, 0, now.Add(-2*time.Minute), ev("default-ttl", "bo"))
		h.src.produceTo(topic, 0, now.Add(-50*time.Second), ev("in-time", "cy"))
		h.src.produceTo(topic, 0, now.Add(-time.Hour), evTTL("long-ttl", "sale", 7200, "dee"))
		for h.com.committed(0) < 4 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		got := h.byID()
		for id, want := range map[string]time.Time{
			"own-ttl":     now.Add(-5 * time.Second),
			"default-ttl": now.Add(-time.Minute),
		} {
			o := got[id]
			reason := event.ExpiredError(want)
			if o.Status != event.Expired || o.Error != reason || o.Event == nil || o.Event.ID != id || o.Attempts != 0 {
				t.Errorf("%s: %+v, want expired (%s) with its event", id, o, reason)
			}
			if len(o.Recipients) != 1 || o.Recipients[0].Error != reason {
				t.Errorf("%s: recipients %+v", id, o.Recipients)
			}
		}
		for _, id := range []string{"in-time", "long-ttl"} {
			if got[id].Status != event.Delivered {
				t.Errorf("%s: %s (%s), want delivered", id, got[id].Status, got[id].Error)
			}
		}
		if n := pushed.Load(); n != 2 {
			t.Errorf("%d recipients pushed, want the 2 in time", n)
		}
	})
}

func TestAnEventThatExpiresWaitingForItsCallIsTakenOutOfIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One sender and a MIMC that takes 2s: the second call waits
		// behind the first.
		srv, client := sandbox(t, func(c *mimc.Config) { c.MaxConcurrentCalls = 1 })
		srv.SetFaults(mimctest.Faults{Latency: 2 * time.Second})
		h := newHarness(t, 1, client, func(c *config.Config) { c.MaxConcurrentCalls = 1 })
		h.start()
		now := time.Now()
		h.src.produceTo(topic, 0, now, ev("first", "ann"))
		synctest.Wait()
		h.src.produceTo(topic, 0, now, evTTL("flash", "flash sale", 1, "bo", "cy"))
		for h.com.committed(0) < 2 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		got := h.byID()
		if o := got["flash"]; o.Status != event.Expired || o.Attempts != 0 || o.Event == nil || len(o.Event.ToAccounts) != 2 {
			t.Errorf("flash: %+v, want expired with its two recipients", o)
		}
		if got["first"].Status != event.Delivered {
			t.Errorf("first: %+v", got["first"])
		}
		if p := pushedTo(srv); !slices.Equal(p, []string{"ann"}) {
			t.Errorf("pushed to %v, want ann only", p)
		}
	})
}

func TestAnEventWhoseRecipientsExpirePartWayEndsPartial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Two recipients per call: the event's third recipient goes in a
		// second call, which waits 2s for the only sender and expires.
		srv, client := sandbox(t, func(c *mimc.Config) { c.MaxConcurrentCalls = 1 })
		srv.SetFaults(mimctest.Faults{Latency: 2 * time.Second})
		h := newHarness(t, 1, client, func(c *config.Config) {
			c.MaxConcurrentCalls = 1
			c.BatchMaxRecipients = 2
		})
		h.start()
		h.src.produceTo(topic, 0, time.Now(), evTTL("big", "news", 1, "ann", "bo", "cy"))
		for h.com.committed(0) < 1 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		o := h.byID()["big"]
		if o.Status != event.Partial || o.Attempts != 1 {
			t.Fatalf("%+v, want partial", o)
		}
		if o.Recipients[0].PacketID == "" || o.Recipients[1].PacketID == "" || !strings.HasPrefix(o.Recipients[2].Error, "expired at ") {
			t.Errorf("recipients %+v, want ann and bo delivered, cy expired", o.Recipients)
		}
		if o.Event == nil || !slices.Equal(o.Event.ToAccounts, []string{"cy"}) || o.Event.TTL != 1 {
			t.Errorf("event %+v, want cy alone (what was not delivered)", o.Event)
		}
		if p := pushedTo(srv); !slices.Equal(p, []string{"ann", "bo"}) {
			t.Errorf("pushed to %v", p)
		}
	})
}

func TestAnEventThatExpiresBetweenRetriesIsNotRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The first attempt fails after 900ms; the retry comes at least
		// 250ms later (500ms with jitter), after the event's 1s.
		srv, client := sandbox(t, func(c *mimc.Config) {
			c.Retry.InitialInterval = 500 * time.Millisecond
		})
		srv.SetFaults(mimctest.Faults{Latency: 900 * time.Millisecond})
		srv.Script(mimctest.FaultHTTP500)
		h := newHarness(t, 1, client, nil)
		h.start()
		// One message: both events go in one call.
		h.src.produceTo(topic, 0, time.Now(), evTTL("otp", "your code", 1, "ann"))
		h.src.produceTo(topic, 0, time.Now(), evTTL("otp-long", "your code", 60, "bo"))
		for h.com.committed(0) < 2 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		got := h.byID()
		if o := got["otp"]; o.Status != event.Expired || !strings.HasPrefix(o.Error, "expired at ") || o.Event == nil {
			t.Errorf("otp: %+v, want expired", o)
		}
		if o := got["otp-long"]; o.Status != event.Delivered || o.Attempts != 2 {
			t.Errorf("otp-long: %+v, want delivered at the retry", o)
		}
		calls := srv.Calls()
		if len(calls) != 2 || !slices.Equal(calls[0].ToAccounts, []string{"ann", "bo"}) || !slices.Equal(calls[1].ToAccounts, []string{"bo"}) {
			t.Errorf("calls to %v, want ann and bo, then bo alone", pushedTo(srv))
		}
	})
}
