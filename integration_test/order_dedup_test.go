package integration_test

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// produceTo writes msgs to topic with the partitioner given (nil: the
// murmur2 hash of the key, as the Java client).
func (c *cluster) produceTo(t *testing.T, topic string, balancer kafka.Balancer, msgs ...kafka.Message) {
	t.Helper()
	if balancer == nil {
		balancer = kafka.Murmur2Balancer{}
	}
	w := &kafka.Writer{Addr: kafka.TCP(c.brokers...), Topic: topic, Balancer: balancer,
		RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 1000}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("producing %d events: %v", len(msgs), err)
	}
}

// toPartition is a balancer that writes everything to partition p.
func toPartition(p int) kafka.Balancer {
	return kafka.BalancerFunc(func(kafka.Message, ...int) int { return p })
}

func TestOrderedKeysReachMIMCInOffsetOrderUnderTransientFaults(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 4)
	results := c.topic(t, "results", 2)
	fake, url := fakeMIMC(t)
	// 30% of the calls fail transiently: retried by the bridge, they would
	// let the next message of a conversation overtake them. Ten groups of
	// keys get a text of their own, so that there are calls to fault.
	fake.SetFaults(mimctest.Faults{HTTP500: 0.15, Envelope500: 0.15, Latency: 2 * time.Millisecond, LatencyJitter: 40 * time.Millisecond})
	cfg := settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63()))
	cfg.OrderedTopics = []string{in}
	const keys, n = 60, 6
	var msgs []kafka.Message
	for i := range n {
		for k := range keys {
			user := fmt.Sprintf("user-%d", k)
			msgs = append(msgs, kafka.Message{Key: []byte(user), Value: mustJSON(t, map[string]any{
				"id": fmt.Sprintf("%s-%d", user, i), "fromAccount": "shop", "toAccount": user, "msg": fmt.Sprintf("m%d g%d", i, k%10)})})
		}
	}
	c.produceTo(t, in, nil, msgs...)
	b := startBridge(t, cfg)
	allCommitted(t, c, cfg, 90*time.Second)
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}

	seen := map[string][]int{} // per recipient, the message of every call, in arrival order
	faulted := 0
	for _, call := range fake.Calls() {
		if call.Fault != "" {
			faulted++
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(strings.Fields(call.Msg)[0], "m"))
		for _, a := range call.ToAccounts {
			seen[a] = append(seen[a], i)
		}
	}
	outOfOrder := 0
	for user, s := range seen {
		for j := 1; j < len(s); j++ {
			if s[j] < s[j-1] {
				outOfOrder++
				t.Errorf("%s: message %d reached MIMC after message %d (%v)", user, s[j], s[j-1], s)
			}
		}
	}
	if faulted == 0 {
		t.Error("no call was faulted: the test proves nothing")
	}
	calls := len(fake.Calls())
	for _, o := range c.outcomes(t, results) {
		if o.Status != event.Delivered {
			t.Errorf("%s: %s %s", o.ID, o.Status, o.Error)
		}
	}
	t.Logf("%d keys × %d messages: %d calls (%d faulted), %d pairs out of order", keys, n, calls, faulted, outOfOrder)
}

func TestACopyInAnotherPartitionIsADuplicateAlsoAfterARestart(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 2)
	results := c.topic(t, "results", 2)
	fake, url := fakeMIMC(t)
	cfg := settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63()))
	copyOf := func() kafka.Message {
		return kafka.Message{Key: []byte("order-7-shipped"), Value: mustJSON(t, map[string]any{
			"id": "order-7-shipped", "fromAccount": "shop", "toAccount": "alice", "msg": "Your order shipped"})}
	}
	pushes := func() int {
		n := 0
		for _, call := range fake.Calls() {
			if call.Msg == "Your order shipped" && call.Fault == "" {
				n++
			}
		}
		return n
	}
	statuses := func() []event.Outcome {
		var out []event.Outcome
		for _, o := range c.outcomes(t, results) {
			out = append(out, o.Outcome)
		}
		return out
	}

	c.produceTo(t, in, toPartition(0), copyOf())
	b := startBridge(t, cfg)
	allCommitted(t, c, cfg, 60*time.Second)
	c.produceTo(t, in, toPartition(1), copyOf()) // a producer's retry, in another partition
	allCommitted(t, c, cfg, 60*time.Second)
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}
	// After a restart the window comes back from the results topic.
	c.produceTo(t, in, toPartition(1), copyOf())
	b = startBridge(t, cfg)
	allCommitted(t, c, cfg, 60*time.Second)
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}

	if n := pushes(); n != 1 {
		t.Errorf("the id was pushed %d times, want once", n)
	}
	outs := statuses()
	delivered, dups := 0, 0
	for _, o := range outs {
		switch o.Status {
		case event.Delivered:
			delivered++
		case event.Duplicate:
			dups++
			if o.DuplicateOf == nil || *o.DuplicateOf != (event.Source{Topic: in, Partition: 0, Offset: 0}) {
				t.Errorf("duplicate of %v, want %s/0/0", o.DuplicateOf, in)
			}
		default:
			t.Errorf("outcome %s at %v", o.Status, o.Source)
		}
	}
	if delivered != 1 || dups != 2 {
		t.Errorf("%d delivered and %d duplicates, want 1 and 2 (the second copy after a restart)", delivered, dups)
	}
}
