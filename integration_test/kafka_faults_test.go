package integration_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// Broker faults while events keep arriving: the bridge recovers without a
// restart, every event gets an outcome, and no commit ever passes an
// outcome the results topic does not have (checked every 150ms throughout
// by the watcher). Each case logs a FAULT line with its figures; the fault
// table in docs/faults.md is made of them:
//
//	go test -race ./integration_test/ -run TestBrokerFaults -v | grep FAULT
func TestBrokerFaults(t *testing.T) {
	type fault struct {
		scenario string
		hold     time.Duration
		// inject starts the fault and returns what ends it.
		inject func(r *faultRun) (end func())
		// resultsBlocked: outcomes cannot be written meanwhile, so the
		// committed offsets must not move.
		resultsBlocked bool
	}
	produceFault := func(err *kerr.Error) func(r *faultRun) func() {
		return func(r *faultRun) func() {
			h := r.c.kfake.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: r.cfg.ResultsTopic, Err: err, Count: -1})
			return h.Remove
		}
	}
	keyFault := func(key kmsg.Key, err *kerr.Error, inputOnly bool) func(r *faultRun) func() {
		return func(r *faultRun) func() {
			f := kfake.Fault{Keys: []kmsg.Key{key}, Err: err, Count: -1}
			if inputOnly {
				f.Topic = r.cfg.KafkaTopics[0]
			}
			return r.c.kfake.Fault(f).Remove
		}
	}
	down := func(r *faultRun) func() {
		d := outage(r.c.kfake)
		d.Store(true)
		return func() { d.Store(false) }
	}
	faults := []fault{
		{scenario: "the broker refuses every request for 3s", hold: 3 * time.Second, inject: down},
		{scenario: "the broker refuses every request for 30s", hold: 30 * time.Second, inject: down},
		{scenario: "producing outcomes fails with NOT_LEADER_FOR_PARTITION for 3s", hold: 3 * time.Second,
			inject: produceFault(kerr.NotLeaderForPartition), resultsBlocked: true},
		{scenario: "producing outcomes fails with REQUEST_TIMED_OUT (written, unacknowledged) for 3s", hold: 3 * time.Second,
			inject: produceFault(kerr.RequestTimedOut), resultsBlocked: true},
		{scenario: "commits fail with REBALANCE_IN_PROGRESS for 3s", hold: 3 * time.Second,
			inject: keyFault(kmsg.OffsetCommit, kerr.RebalanceInProgress, false)},
		{scenario: "commits fail with ILLEGAL_GENERATION for 3s", hold: 3 * time.Second,
			inject: keyFault(kmsg.OffsetCommit, kerr.IllegalGeneration, false)},
		{scenario: "fetches fail with NOT_LEADER_FOR_PARTITION for 3s", hold: 3 * time.Second,
			inject: keyFault(kmsg.Fetch, kerr.NotLeaderForPartition, true)},
		{scenario: "fetches fail with UNKNOWN_SERVER_ERROR for 3s", hold: 3 * time.Second,
			inject: keyFault(kmsg.Fetch, kerr.UnknownServerError, true)},
	}
	for _, f := range faults {
		t.Run(f.scenario, func(t *testing.T) {
			t.Parallel()
			r := startFaultRun(t, nil)
			before := r.watch.total()
			end := f.inject(r)
			started := time.Now()
			time.Sleep(f.hold)
			end()
			ended := time.Now()
			recovery := r.recover(t, ended)
			if f.resultsBlocked {
				// Give writes that were acknowledged just before the
				// fault a second to be committed, then nothing may move.
				moved, samples := r.watch.committedAdvancedBetween(started.Add(time.Second), ended)
				if moved {
					t.Errorf("the committed offsets advanced while no outcome could be written")
				}
				if samples < 3 {
					t.Errorf("only %d commit samples while the results topic was failing", samples)
				}
			}
			// Keep the stream flowing a little after recovery: new events
			// must go through too.
			time.Sleep(500 * time.Millisecond)
			fig := r.finish(t, recovery)
			if r.watch.total() <= before {
				t.Errorf("no outcome after the fault")
			}
			logs := r.bridge.logs.String()
			t.Logf("FAULT %s: %s; producer retries %d; generations %d", f.scenario, fig, r.prod.errs.Load(),
				countLog(logs, `"partitions assigned"`))
			if os.Getenv("MIMC_BRIDGE_IT_DUMP_LOGS") != "" {
				t.Logf("bridge logs:\n%s", logs)
			}
		})
	}
}

// An outcome larger than the results topic's max.message.bytes is written
// in its shrunk form (without the echoed event, then without recipients)
// rather than retried forever, and outcomes that fit are written as they
// are even when together they pass the limit.
func TestTooLargeOutcomesAreShrunkNotRetriedForever(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 2)
	const maxBytes = 4096
	results := fmt.Sprintf("results-%d", rand.Int63())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: results, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: fmt.Sprint(maxBytes)}},
	}}})
	if err != nil || resp.Errors[results] != nil {
		t.Fatalf("creating %s: %v %v", results, err, resp.Errors[results])
	}
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	fake.SetFaults(mimctest.Faults{FinalCodeFor: map[string]int{"refused": 403}})

	var values [][]byte
	want := map[string]string{} // id → status
	big := strings.Repeat("x", 6000)
	for i := 0; i < 200; i++ {
		id := fmt.Sprintf("small-%d", i)
		values = append(values, mustJSON(t, map[string]any{"id": id, "fromAccount": "shop", "toAccount": fmt.Sprintf("u%d", i), "msg": "hello"}))
		want[id] = event.Delivered
	}
	for i := 0; i < 10; i++ {
		// Failed: the outcome echoes the 6000-byte message in its event.
		id := fmt.Sprintf("failed-big-%d", i)
		values = append(values, mustJSON(t, map[string]any{"id": id, "fromAccount": "refused", "toAccount": fmt.Sprintf("v%d", i), "msg": big}))
		want[id] = event.Failed
	}
	for i := 0; i < 10; i++ {
		// Delivered to 200 recipients: the recipient list alone is larger
		// than the limit.
		id := fmt.Sprintf("many-%d", i)
		var to []string
		for j := 0; j < 200; j++ {
			to = append(to, fmt.Sprintf("recipient-%03d-%03d", i, j))
		}
		values = append(values, mustJSON(t, map[string]any{"id": id, "fromAccount": "shop", "toAccounts": to, "msg": fmt.Sprintf("many %d", i)}))
		want[id] = event.Delivered
	}
	c.produce(t, in, values...)
	cfg := settings(t, c, url, in, results, group)
	b := startBridge(t, cfg)
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("bridge log tail:\n%s", tail(b.logs.String(), 15))
		}
	})
	start := time.Now()
	allCommitted(t, c, cfg, 30*time.Second)
	took := time.Since(start)
	outs := c.outcomes(t, results)
	seen := map[string]int{}
	shrunk := 0
	for _, o := range outs {
		seen[o.ID]++
		if len(o.raw) > maxBytes {
			t.Errorf("outcome %s is %d bytes, above the topic's %d", o.ID, len(o.raw), maxBytes)
		}
		if w := want[o.ID]; o.Status != w {
			t.Errorf("outcome %s: status %s, want %s", o.ID, o.Status, w)
		}
		if strings.Contains(o.Error, "outcome too large") {
			shrunk++
			if !strings.HasPrefix(o.ID, "failed-big-") && !strings.HasPrefix(o.ID, "many-") {
				t.Errorf("outcome %s was shrunk though it fits: %s", o.ID, o.raw)
			}
		} else if strings.HasPrefix(o.ID, "failed-big-") || strings.HasPrefix(o.ID, "many-") {
			t.Errorf("outcome %s is not marked as shrunk: %.300s", o.ID, o.raw)
		}
		if strings.HasPrefix(o.ID, "failed-big-") && (o.Event != nil || len(o.Recipients) != 1) {
			t.Errorf("outcome %s: first shrink keeps the recipients and drops the event: %.300s", o.ID, o.raw)
		}
	}
	lost, dups := 0, 0
	for id := range want {
		switch n := seen[id]; {
		case n == 0:
			lost++
			t.Errorf("event %s has no outcome", id)
		case n > 1:
			dups += n - 1
		}
	}
	if shrunk != 20 {
		t.Errorf("%d shrunk outcomes, want 20", shrunk)
	}
	t.Logf("FAULT outcome larger than max.message.bytes=%d: events %d, lost %d, duplicate outcomes %d, shrunk %d, all committed in %s; write retries logged %d",
		maxBytes, len(want), lost, dups, shrunk, took.Round(10*time.Millisecond), countLog(b.logs.String(), "writing outcomes failed, retrying"))
}
