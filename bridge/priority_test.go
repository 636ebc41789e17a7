package bridge

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/inflight"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

func TestLanesAreSizedOutOfTheSettings(t *testing.T) {
	for _, tt := range []struct {
		scenario         string
		pending, senders int
		hasUrgent        bool
		want             [priorities]laneConfig
	}{
		{"without urgent topics the normal lane has everything", 10000, 16, false,
			[priorities]laneConfig{{maxPending: 10000, senders: 16}, {maxPending: 1, senders: 1}}},
		{"urgent topics take a quarter of the room and add a quarter of the senders", 10000, 16, true,
			[priorities]laneConfig{{maxPending: 7500, senders: 16}, {maxPending: 2500, senders: 4}}},
		{"the smallest settings still give each lane room and two urgent senders", 1, 1, true,
			[priorities]laneConfig{{maxPending: 1, senders: 1}, {maxPending: 1, senders: 2}}},
	} {
		if got := lanes(tt.pending, tt.senders, tt.hasUrgent); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.scenario, got, tt.want)
		}
	}
}

func TestABacklogOnOtherTopicsNeverHoldsAnUrgentEventBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// MIMC takes no call from "shop" until released: the normal lane
		// fills its room and its senders, and its fetching pauses.
		release := make(chan struct{})
		push := holding(release, func(call mimc.Call) bool { return call.FromAccount == "shop" })
		h := newHarness(t, 1, push, func(c *config.Config) {
			c.MaxPendingEvents = 8
			c.MaxConcurrentCalls = 2
			c.UrgentTopics = []string{"urgent"}
		})
		urgentTP := TopicPartition{Topic: "urgent", Partition: 0}
		h.assign = []Assignment{{TopicPartition: tp(0), Offset: -2}, {TopicPartition: urgentTP, Offset: -2}}
		h.start()
		for i := range 50 {
			h.src.produce(0, fmt.Sprintf(`{"id":"n%d","fromAccount":"shop","toAccount":"u%d","msg":"m%d"}`, i, i, i%3))
		}
		synctest.Wait()
		pending := func(p priority) float64 { return gauge(h.p.met.PendingEvents.WithLabelValues(p.String())) }
		if pending(normal) != 6 || pending(urgent) != 0 {
			t.Fatalf("pending normal %v, urgent %v: want the normal lane full (6) and the urgent one empty", pending(normal), pending(urgent))
		}
		h.src.produceTo("urgent", 0, time.Now(), `{"id":"otp","fromAccount":"auth","toAccount":"ann","msg":"code 4711"}`)
		for end := time.Now().Add(10 * time.Second); len(h.pub.all()) == 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if outs := h.pub.all(); len(outs) != 1 || outs[0].ID != "otp" || outs[0].Status != event.Delivered {
			close(release)
			h.stop()
			t.Fatalf("outcomes %+v, want the urgent event's alone while the backlog is stuck", outs)
		}
		close(release)
		for h.com.committed(0) < 50 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		if got := len(h.byID()); got != 51 {
			t.Errorf("%d outcomes, want 51", got)
		}
		if pending(normal) != 0 || pending(urgent) != 0 {
			t.Errorf("pending normal %v, urgent %v after the generation, want 0", pending(normal), pending(urgent))
		}
	})
}

func TestUrgentEventsOvertakeAQuotaBoundBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A quota of 100 recipients a second and a normal backlog of 400:
		// four seconds of sending, of which sixteen senders hold calls
		// waiting for the quota at any time.
		q, err := quota.New(quota.Config{RateP2P: 100, MaxRecipients: 10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		calls, err := inflight.New(inflight.Config{Max: 16}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, client := sandbox(t, func(c *mimc.Config) { c.Gate = gate{quota: q, inflight: calls} })
		h := newHarness(t, 1, client, func(c *config.Config) {
			c.MaxConcurrentCalls = 16
			c.BatchMaxRecipients = 10
			c.UrgentTopics = []string{"urgent"}
		})
		h.p.quota, h.p.partitions = q, &fakeCounter{n: 2}
		urgentTP := TopicPartition{Topic: "urgent", Partition: 0}
		h.assign = []Assignment{{TopicPartition: tp(0), Offset: -2}, {TopicPartition: urgentTP, Offset: -2}}
		h.start()
		for i := range 80 {
			h.src.produce(0, fmt.Sprintf(`{"id":"n%d","fromAccount":"shop","toAccounts":["a%d","b%d","c%d","d%d","e%d"],"msg":"sale"}`, i, i, i, i, i, i))
		}
		time.Sleep(500 * time.Millisecond)
		h.src.produceTo("urgent", 0, time.Now(), `{"id":"otp","fromAccount":"auth","toAccount":"ann","msg":"code 4711"}`)
		for h.com.committed(0) < 80 {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		// The order in which the outcomes were written: the urgent one
		// goes at the next tokens, ahead of the calls already waiting.
		before := -1
		for i, o := range h.pub.all() {
			if o.ID == "otp" {
				before = i
			}
		}
		if before < 0 || before > 20 {
			t.Errorf("the urgent outcome was written after %d of the 80 normal ones, want it ahead of the waiting backlog (at most 20)", before)
		}
		met := h.p.met
		if n := counter(met.PriorityOutcomes.WithLabelValues("urgent", event.Delivered)); n != 1 {
			t.Errorf("urgent delivered outcomes %v, want 1", n)
		}
		if n := counter(met.PriorityOutcomes.WithLabelValues("normal", event.Delivered)); n != 80 {
			t.Errorf("normal delivered outcomes %v, want 80", n)
		}
		var m dto.Metric
		if err := met.SendWaitSeconds.WithLabelValues("urgent").(prometheus.Histogram).Write(&m); err != nil || m.GetHistogram().GetSampleCount() != 1 {
			t.Errorf("urgent send waits observed: %v (%v), want 1", m.GetHistogram().GetSampleCount(), err)
		}
	})
}
