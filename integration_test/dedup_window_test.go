package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// pushesOf counts the calls MIMC accepted (a packet id per recipient) that
// carried msg.
func pushesOf(fake *mimctest.Server, msg string) int {
	n := 0
	for _, call := range fake.Calls() {
		if call.Msg == msg && call.PacketIDs != nil {
			n++
		}
	}
	return n
}

// assignedPartitions returns the partitions of topic named by the last
// "partitions assigned" line of a member's logs.
func assignedPartitions(t *testing.T, logs, topic string) []int {
	t.Helper()
	var last []int
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"partitions assigned"`) {
			continue
		}
		var l struct {
			Partitions []string `json:"partitions"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		last = nil
		for _, p := range l.Partitions {
			var n int
			if _, err := fmt.Sscanf(strings.TrimPrefix(p, topic+"/"), "%d", &n); err != nil {
				t.Fatalf("partition %q: %v", p, err)
			}
			last = append(last, n)
		}
	}
	return last
}

// The window across a rebalance: the first member delivers an id alone;
// a second member joins and takes some of its partitions; copies of the id
// produced to the partitions that moved are duplicates there (the second
// member read the first's delivered outcome from the results topic at its
// generation start), and are not pushed.
func TestACopyInAPartitionThatMovedAtARebalanceIsADuplicate(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 4)
	results := c.topic(t, "results", 2)
	fake, url := fakeMIMC(t)
	cfg := settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63()))
	const msg = "Your parcel is at the door"
	copyOf := func() kafka.Message {
		return kafka.Message{Value: mustJSON(t, map[string]any{
			"id": "parcel-12-door", "fromAccount": "shop", "toAccount": "alice", "msg": msg})}
	}

	c.produceTo(t, in, toPartition(0), copyOf())
	a := startBridge(t, cfg)
	allCommitted(t, c, cfg, 60*time.Second)
	if n := pushesOf(fake, msg); n != 1 {
		t.Fatalf("the first copy was pushed %d times, want once", n)
	}

	// A second member joins: kafka-go revokes every partition, and the
	// group shares them out anew.
	b := startBridge(t, cfg)
	var moved []int
	waitFor(t, 60*time.Second, "the second member's partitions", func() bool {
		moved = assignedPartitions(t, b.logs.String(), in)
		return len(moved) > 0 && len(assignedPartitions(t, a.logs.String(), in)) < 4
	})
	for _, p := range moved {
		c.produceTo(t, in, toPartition(p), copyOf())
	}
	allCommitted(t, c, cfg, 60*time.Second)
	for _, p := range []*bridgeProc{a, b} {
		if err := p.stop(t); err != nil {
			t.Errorf("stopping: %v", err)
		}
	}

	if n := pushesOf(fake, msg); n != 1 {
		t.Errorf("the id was pushed %d times, want once: the copies in the partitions that moved (%v) were pushed", n, moved)
	}
	dups := 0
	for _, o := range c.outcomes(t, results) {
		switch {
		case o.Source.Partition == 0 && o.Source.Offset == 0:
			if o.Status != event.Delivered {
				t.Errorf("the first copy: %s %s", o.Status, o.Error)
			}
		case o.Status == event.Duplicate:
			dups++
			if o.DuplicateOf == nil || *o.DuplicateOf != (event.Source{Topic: in, Partition: 0, Offset: 0}) {
				t.Errorf("the copy at %v is a duplicate of %v, want %s/0/0", o.Source, o.DuplicateOf, in)
			}
		default:
			t.Errorf("the copy at %v: %s, want duplicate", o.Source, o.Status)
		}
	}
	if dups != len(moved) {
		t.Errorf("%d duplicates, want %d (one per partition that moved: %v)", dups, len(moved), moved)
	}
	if !strings.Contains(b.logs.String(), `"delivered_ids":1`) {
		t.Errorf("the second member did not read the delivered id from the results topic:\n%s", grepLines(b.logs.String(), "dedup window"))
	}
}

// Several copies of one id produced at once into different partitions,
// fetched concurrently by one member: exactly one is pushed, the others wait
// for its outcome and end duplicate.
func TestConcurrentCopiesOfAnIDArePushedOnce(t *testing.T) {
	c := newCluster(t)
	const parts, ids = 6, 20
	in := c.topic(t, "push", parts)
	results := c.topic(t, "results", 2)
	fake, url := fakeMIMC(t)
	// Slow calls keep the first copy in flight while the others arrive.
	fake.SetFaults(mimctest.Faults{Latency: 20 * time.Millisecond, LatencyJitter: 30 * time.Millisecond})
	cfg := settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63()))
	b := startBridge(t, cfg)
	waitFor(t, 30*time.Second, "the bridge's partitions", func() bool {
		return len(assignedPartitions(t, b.logs.String(), in)) == parts
	})

	// Every id once in every partition, in one write: the copies arrive
	// together, each id's on six fetchers at once.
	var msgs []kafka.Message
	for p := range parts {
		for i := range ids {
			msgs = append(msgs, kafka.Message{Partition: p, Value: mustJSON(t, map[string]any{
				"id": fmt.Sprintf("flash-%d", i), "fromAccount": "shop", "toAccount": fmt.Sprintf("user-%d", i),
				"msg": fmt.Sprintf("Flash sale %d", i)})})
		}
	}
	c.produceTo(t, in, kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition }), msgs...)
	allCommitted(t, c, cfg, 60*time.Second)
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}

	for i := range ids {
		if n := pushesOf(fake, fmt.Sprintf("Flash sale %d", i)); n != 1 {
			t.Errorf("flash-%d was pushed %d times, want once", i, n)
		}
	}
	status := map[string]map[string]int{}
	for _, o := range c.outcomes(t, results) {
		if status[o.ID] == nil {
			status[o.ID] = map[string]int{}
		}
		status[o.ID][o.Status]++
	}
	for i := range ids {
		id := fmt.Sprintf("flash-%d", i)
		if s := status[id]; s[event.Delivered] != 1 || s[event.Duplicate] != parts-1 {
			t.Errorf("%s: outcomes %v, want 1 delivered and %d duplicate", id, s, parts-1)
		}
	}
}

// replay run twice while the bridge is behind, then two replays run at
// once, on failed ids: every copy they produce is pushed at most once in
// all; the copies after the first are duplicates.
func TestReplayTwiceAndConcurrentlyPushesAFailedIDOnce(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 2)
	results := c.topic(t, "results", 2)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	fake.SetFaults(mimctest.Faults{FinalCodeFor: map[string]int{"blocked-shop": 403}})
	cfg := settings(t, c, url, in, results, group)
	ev := func(id string) []byte {
		return mustJSON(t, map[string]any{"id": id, "fromAccount": "blocked-shop", "toAccount": "ann-" + id, "msg": "sale " + id})
	}
	c.produce(t, in, ev("twice"), ev("together"))
	b := startBridge(t, cfg)
	waitFor(t, 60*time.Second, "both events failed", func() bool {
		last := latestOutcomes(t, c, results)
		return last["twice"].Status == event.Failed && last["together"].Status == event.Failed
	})
	fake.SetFaults(mimctest.Faults{})

	replay := func(id string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		args := []string{"replay", "--kafka-brokers", strings.Join(c.brokers, ","), "--results-topic", results,
			"--kafka-topics", in, "--kafka-group-id", group, "--id", id}
		if code := cli.Main(ctx, args, cli.Streams{Out: &out, Err: &errb}); code != cli.ExitOK {
			t.Errorf("replay --id %s: exit %d: %s", id, code, errb.String())
		}
		return out.String()
	}

	// Twice while the bridge is stopped (behind): both runs see the failed
	// outcome as the latest, so both produce a copy.
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		if out := replay("twice"); !strings.Contains(out, "replayed 1 of 1 events") {
			t.Fatalf("replay run %d while the bridge is behind: %s", run+1, out)
		}
	}
	b = startBridge(t, cfg)
	waitFor(t, 60*time.Second, "the copies of twice handled", func() bool {
		n := 0
		for _, o := range c.outcomes(t, results) {
			if o.ID == "twice" {
				n++
			}
		}
		return n == 3
	})

	// Two runs at once, the bridge running.
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range outs {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i] = replay("together") }()
	}
	wg.Wait()
	produced := 0
	for _, out := range outs {
		if strings.Contains(out, "replayed 1 of 1 events") {
			produced++
		}
	}
	if produced == 0 {
		t.Fatalf("neither concurrent replay produced the event:\n%s", strings.Join(outs, "\n"))
	}
	allCommitted(t, c, cfg, 60*time.Second)
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}

	status := map[string]map[string]int{}
	for _, o := range c.outcomes(t, results) {
		if status[o.ID] == nil {
			status[o.ID] = map[string]int{}
		}
		status[o.ID][o.Status]++
	}
	for id, copies := range map[string]int{"twice": 2, "together": produced} {
		if n := pushesOf(fake, "sale "+id); n != 1 {
			t.Errorf("%s was pushed %d times by %d replayed copies, want once", id, n, copies)
		}
		want := map[string]int{event.Failed: 1, event.Delivered: 1}
		if copies > 1 {
			want[event.Duplicate] = copies - 1
		}
		if fmt.Sprint(status[id]) != fmt.Sprint(want) {
			t.Errorf("%s: outcomes %v, want %v", id, status[id], want)
		}
	}
	t.Logf("replay twice while behind: 2 copies; two at once: %d copies; one push each", produced)
}
