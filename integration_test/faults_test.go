package integration_test

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// uniqueEvents returns n events where every (message, recipient) pair
// belongs to one event only, so that a repeated push is countable at the
// fake; groups of ten events share a message so calls still merge.
func uniqueEvents(t *testing.T, n int, prefix string) ([][]byte, []string) {
	t.Helper()
	values := make([][]byte, n)
	ids := make([]string, n)
	for i := range values {
		ids[i], values[i] = uniqueEvent(t, prefix, i)
	}
	return values, ids
}

// uniqueEvent is the i-th event of uniqueEvents.
func uniqueEvent(t *testing.T, prefix string, i int) (id string, value []byte) {
	t.Helper()
	id = fmt.Sprintf("%s-%d", prefix, i)
	ev := map[string]any{"id": id, "fromAccount": "shop", "msg": fmt.Sprintf("%s message %d", prefix, i/10)}
	if i%2 == 0 {
		ev["toAccount"] = fmt.Sprintf("user-%d", i)
	} else {
		ev["topicId"] = 1_000_000 + i
	}
	return id, mustJSON(t, ev)
}

// pushCounts counts, per (message, recipient), the successful pushes the
// fake answered.
func pushCounts(fake *mimctest.Server) map[string]int {
	counts := map[string]int{}
	for _, c := range fake.Calls() {
		if c.PacketIDs == nil {
			continue
		}
		for _, a := range c.ToAccounts {
			counts[c.Msg+"|p2p:"+a]++
		}
		for _, id := range c.TopicIDs {
			counts[fmt.Sprintf("%s|p2t:%d", c.Msg, id)]++
		}
	}
	return counts
}

func TestMIMCFaultsAreRetriedAndFinalCodesFailQuickly(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 4)
	results := c.topic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	fake.SetFaults(mimctest.Faults{
		HTTP500: 0.1, HTTP429: 0.1, Envelope500: 0.1, Hang: 0.05, Drop: 0.05,
		HangFor:      5 * time.Second,
		FinalCodeFor: map[string]int{"refused-sender": 403},
	})

	values, ids := uniqueEvents(t, 1000, "fault")
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("refused-%d", i)
		values = append(values, mustJSON(t, map[string]any{"id": id, "fromAccount": "refused-sender", "msg": "no", "toAccounts": []string{"x", "y"}}))
		ids = append(ids, id)
	}
	c.produce(t, in, values...)
	cfg := settings(t, c, url, in, results, group)
	// Long enough that no answer is cut short on a loaded machine (a cut
	// 403 is asked again, and would count as a retried final code); the
	// scripted hangs outlast it, so timeouts are still exercised.
	cfg.HTTPTimeout = 2 * time.Second
	cfg.BatchMaxRecipients = 10
	startBridge(t, cfg)

	end := c.endOffsets(t, in)
	waitFor(t, 120*time.Second, "every record committed", func() bool {
		got := c.committed(t, group, in, 4)
		for p, e := range end {
			if got[p] != e {
				return false
			}
		}
		return true
	})
	outs := c.outcomes(t, results)
	byID := map[string]outcomeRecord{}
	retried := 0
	for _, o := range outs {
		if _, dup := byID[o.ID]; dup {
			t.Errorf("event %s has two outcomes", o.ID)
		}
		byID[o.ID] = o
		if o.Attempts > 1 {
			retried++
		}
	}
	for _, id := range ids {
		o, ok := byID[id]
		if !ok {
			t.Errorf("event %s has no outcome", id)
			continue
		}
		refused := len(id) > 8 && id[:8] == "refused-"
		switch {
		case refused:
			if o.Status != event.Failed || o.Event == nil || o.Error == "" {
				t.Errorf("refused event %s: status %s event %v error %q; want failed with the event kept",
					id, o.Status, o.Event != nil, o.Error)
			}
			if len(o.Recipients) != 2 || o.Recipients[0].Code != 403 {
				t.Errorf("refused event %s: recipients %+v, want two with code 403", id, o.Recipients)
			}
		case o.Status != event.Delivered:
			t.Errorf("event %s: status %s (%s), want delivered", id, o.Status, o.Error)
		}
	}
	faulted, refusals := 0, 0
	for _, call := range fake.Calls() {
		if call.Fault != "" {
			faulted++
		}
		if call.Code == 403 {
			refusals++
		}
	}
	// A final code ends the retries of its call at once: one 403 per
	// refused event (they cannot share a call: same recipients). This, not
	// the time a refusal took, is what makes the failure quick.
	if refusals != 20 {
		t.Errorf("MIMC answered 403 %d times for 20 refused events: a final code must not be retried", refusals)
	}
	t.Logf("%d of %d MIMC calls faulted; %d outcomes record retries", faulted, len(fake.Calls()), retried)
	if retried == 0 {
		t.Error("no outcome records more than one attempt")
	}
	if faulted*4 < len(fake.Calls()) {
		t.Errorf("only %d of %d calls faulted; the test wants about 40%%", faulted, len(fake.Calls()))
	}
	dups := 0
	for _, n := range pushCounts(fake) {
		if n > 1 {
			dups += n - 1
		}
	}
	t.Logf("duplicate pushes from retries of calls that reached MIMC: %d", dups)
}
