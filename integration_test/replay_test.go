package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// latestOutcomes returns the last outcome of every id on the results topic.
func latestOutcomes(t *testing.T, c *cluster, results string) map[string]outcomeRecord {
	t.Helper()
	last := map[string]outcomeRecord{}
	for _, o := range c.outcomes(t, results) {
		if prev, ok := last[o.ID]; !ok || !o.CompletedAt.Before(prev.CompletedAt) {
			last[o.ID] = o
		}
	}
	return last
}

func TestFailedEventsAreDeliveredByReplayOnceTheSenderIsAllowed(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 2)
	results := c.topic(t, "results", 2)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	fake.SetFaults(mimctest.Faults{FinalCodeFor: map[string]int{"blocked-shop": 403}})

	var values [][]byte
	var refused, fine []string
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("refused-%d", i)
		values = append(values, mustJSON(t, map[string]any{"id": id, "fromAccount": "blocked-shop", "msg": "sale " + id,
			"toAccounts": []string{"ann-" + id, "bo-" + id}}))
		refused = append(refused, id)
		id = fmt.Sprintf("fine-%d", i)
		values = append(values, mustJSON(t, map[string]any{"id": id, "fromAccount": "shop", "msg": "hi", "toAccount": "cy-" + id}))
		fine = append(fine, id)
	}
	c.produce(t, in, values...)
	startBridge(t, settings(t, c, url, in, results, group))

	waitFor(t, 60*time.Second, "an outcome for every event", func() bool { return len(latestOutcomes(t, c, results)) == 8 })
	for _, id := range refused {
		if o := latestOutcomes(t, c, results)[id]; o.Status != event.Failed || o.Event == nil {
			t.Fatalf("%s: %s, want failed with its event", id, o.Status)
		}
	}

	replay := func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		var out, errb bytes.Buffer
		args = append([]string{"replay", "--kafka-brokers", strings.Join(c.brokers, ","), "--results-topic", results, "--kafka-topics", in,
			"--kafka-group-id", group}, args...) // replay reads only its group's outcomes
		if code := cli.Main(ctx, args, cli.Streams{Out: &out, Err: &errb}); code != cli.ExitOK {
			t.Fatalf("replay %v: exit %d: %s", args, code, errb.String())
		}
		return out.String(), errb.String()
	}

	// A dry run while the sender is still refused produces nothing.
	before := c.endOffsets(t, in)
	if _, stderr := replay("--dry-run"); !strings.Contains(stderr, "would replay 4 of 4 events: failed 4") {
		t.Errorf("dry run: %s", stderr)
	}
	if after := c.endOffsets(t, in); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a dry run produced: end offsets %v, then %v", before, after)
	}

	// The sender is allowed again: replay, and the refused events are delivered.
	fake.SetFaults(mimctest.Faults{})
	if stdout, _ := replay(); !strings.Contains(stdout, "replayed 4 of 4 events: failed 4; to "+in+" 4") {
		t.Errorf("replay: %s", stdout)
	}
	waitFor(t, 60*time.Second, "the replayed events delivered", func() bool {
		last := latestOutcomes(t, c, results)
		for _, id := range refused {
			if last[id].Status != event.Delivered {
				return false
			}
		}
		return true
	})
	pushed := map[string]int{}
	for _, call := range fake.Calls() {
		if call.PacketIDs != nil {
			for _, a := range call.ToAccounts {
				pushed[a]++
			}
		}
	}
	for _, id := range refused {
		for _, a := range []string{"ann-" + id, "bo-" + id} {
			if pushed[a] != 1 {
				t.Errorf("%s was pushed %d times, want once", a, pushed[a])
			}
		}
	}
	for _, id := range fine {
		if pushed["cy-"+id] != 1 {
			t.Errorf("the delivered event %s was pushed %d times, want once: replay must not resend it", id, pushed["cy-"+id])
		}
	}

	// A second replay finds nothing: each failed outcome is superseded by
	// its delivered one.
	if stdout, _ := replay(); !strings.Contains(stdout, "replayed 0 of 0 events") || !strings.Contains(stdout, "left out 4 outcomes followed by a later outcome") {
		t.Errorf("second replay: %s", stdout)
	}
}
