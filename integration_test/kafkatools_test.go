package integration_test

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerGroups runs Kafka's own kafka-consumer-groups (the class the
// script starts) against the cluster, as an operator would.
func (c *cluster) consumerGroups(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.apache.Java(ctx, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
		append([]string{"--bootstrap-server", strings.Join(c.brokers, ",")}, args...)...)
	if err != nil {
		t.Fatalf("kafka-consumer-groups %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// groupRow is one partition's line of kafka-consumer-groups --describe.
type groupRow struct {
	partition                   int
	current, end, lag, consumer string
}

// describeRows parses the table kafka-consumer-groups --describe prints
// (GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID ...).
func describeRows(t *testing.T, out, topic string) map[int]groupRow {
	t.Helper()
	rows := map[int]groupRow{}
	for l := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 7 || f[1] != topic {
			continue
		}
		p, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("kafka-consumer-groups printed a partition %q: %s", f[2], l)
		}
		rows[p] = groupRow{partition: p, current: f[3], end: f[4], lag: f[5], consumer: f[6]}
	}
	return rows
}

// committedLeaderEpochs asks the coordinator (OffsetFetch v7, through
// franz-go) for the leader epoch stored with each committed offset.
func (c *cluster) committedLeaderEpochs(t *testing.T, group, topic string) map[int32]int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	rt.Partitions = []int32{0, 1}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	out := map[int32]int32{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = p.LeaderEpoch
		}
	}
	return out
}

// What an operator checks with Kafka's own tools: the group, its member,
// its committed offsets and lag as kafka-consumer-groups shows them; the
// committed leader epoch is -1 (unknown), as Java consumers write it; and an
// offset reset done with the tool on the stopped group is honoured when the
// bridge starts again.
func TestKafkasOwnToolsSeeAndResetTheGroup(t *testing.T) {
	needApache(t)
	c := newCluster(t)
	in := c.topic(t, "push", 2)
	results := c.topic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	values, ids := uniqueEvents(t, 40, fmt.Sprintf("tools%d", rand.Intn(1000)))
	c.produce(t, in, values...)
	cfg := settings(t, c, url, in, results, group)
	b := startBridge(t, cfg)
	allCommitted(t, c, cfg, 60*time.Second)
	end := c.endOffsets(t, in)

	rows := describeRows(t, c.consumerGroups(t, "--describe", "--group", group), in)
	if len(rows) != 2 {
		t.Fatalf("kafka-consumer-groups --describe shows %d partitions of %s, want 2", len(rows), in)
	}
	for p, r := range rows {
		if r.current != strconv.FormatInt(end[p], 10) || r.end != r.current || r.lag != "0" {
			t.Errorf("partition %d: current %s, log end %s, lag %s; want %d, %d, 0", p, r.current, r.end, r.lag, end[p], end[p])
		}
		if r.consumer == "-" {
			t.Errorf("partition %d shows no consumer while the bridge runs", p)
		}
	}
	members := c.consumerGroups(t, "--describe", "--members", "--group", group)
	if n := strings.Count(members, group); n != 1 {
		t.Errorf("kafka-consumer-groups --describe --members shows %d members, want 1:\n%s", n, members)
	}
	for p, e := range c.committedLeaderEpochs(t, group, in) {
		if e != -1 {
			t.Errorf("partition %d: committed leader epoch %d, want -1 (unknown)", p, e)
		}
	}

	if err := b.stop(t); err != nil {
		t.Fatalf("stopping the bridge: %v", err)
	}
	// A member that just left may still be listed for a moment: the tool
	// refuses to reset an active group, so wait until it is empty.
	waitFor(t, 30*time.Second, "the group to be empty", func() bool {
		return strings.Contains(c.consumerGroups(t, "--describe", "--state", "--group", group), "Empty")
	})
	reset := c.consumerGroups(t, "--reset-offsets", "--to-earliest", "--execute", "--topic", in, "--group", group)
	if got := c.committed(t, group, in, 2); got[0] != 0 || got[1] != 0 {
		t.Fatalf("after --reset-offsets --to-earliest the commits are %v:\n%s", got, reset)
	}
	pushed := len(fake.Calls())
	startBridge(t, cfg)
	allCommitted(t, c, cfg, 60*time.Second)
	// The tool's commit carries no crash-skip bound, so every event is read
	// again; the dedup window (DEDUP_WINDOW, on by default) knows each id
	// was delivered, so each gets a duplicate outcome and no second push.
	if again := len(fake.Calls()) - pushed; again != 0 {
		t.Errorf("%d MIMC calls after the reset: events delivered before were pushed again", again)
	}
	perID := map[string][]string{}
	for _, o := range c.outcomes(t, results) {
		perID[o.ID] = append(perID[o.ID], string(o.Status))
	}
	for _, id := range ids {
		if got := perID[id]; len(got) != 2 || !slices.Contains(got, "delivered") || !slices.Contains(got, "duplicate") {
			t.Errorf("event %s has outcomes %v after the reset, want delivered before it and duplicate after it: the reset was not honoured", id, got)
		}
	}
}
