package integration_test

import (
	"encoding/base64"
	"fmt"
	"math/rand"
	"strconv"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
)

// sampleEvents returns n valid events: p2p and p2t, single and list
// recipients, topic ids as numbers and as strings (past 2^53), base64
// messages, and a few dozen distinct messages so that merging happens.
func sampleEvents(t *testing.T, n int, seed int64) (values [][]byte, ids []string, recipients int) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("ev-%d-%d", seed, i)
		msgNo := rng.Intn(40)
		ev := map[string]any{"id": id, "fromAccount": fmt.Sprintf("svc%d", msgNo%3), "msg": fmt.Sprintf("message number %d", msgNo)}
		if msgNo%5 == 0 {
			ev["msg"] = base64.StdEncoding.EncodeToString([]byte{0, 1, 2, byte(msgNo), 0xff})
			ev["msgType"] = "base64"
		}
		if msgNo%7 == 0 {
			ev["isStore"] = msgNo%2 == 0
			ev["bizType"] = "ORDER"
		}
		switch k := rng.Intn(4); k {
		case 0:
			ev["toAccount"] = fmt.Sprintf("user%d", rng.Intn(500))
			recipients++
		case 1:
			m := 1 + rng.Intn(5)
			list := make([]string, m)
			for j := range list {
				list[j] = fmt.Sprintf("user%d", rng.Intn(500))
			}
			ev["toAccounts"] = list
			recipients += len(uniq(list))
		case 2:
			topic := int64(1)<<53 + int64(rng.Intn(300))
			if rng.Intn(2) == 0 {
				ev["topicId"] = strconv.FormatInt(topic, 10)
			} else {
				ev["topicId"] = topic
			}
			recipients++
		case 3:
			m := 1 + rng.Intn(4)
			list := make([]any, m)
			seen := map[int64]bool{}
			for j := range list {
				v := int64(9000 + rng.Intn(300))
				seen[v] = true
				if j%2 == 0 {
					list[j] = v
				} else {
					list[j] = strconv.FormatInt(v, 10)
				}
			}
			ev["topicIds"] = list
			recipients += len(seen)
		}
		values = append(values, mustJSON(t, ev))
		ids = append(ids, id)
	}
	return values, ids, recipients
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func TestEveryEventIsDeliveredOnceAndCommitted(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 4)
	results := c.topic(t, "results", 2)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)

	values, ids, recipients := sampleEvents(t, 5000, 1)
	c.produce(t, in, values...)
	start := time.Now()
	startBridge(t, settings(t, c, url, in, results, group))

	end := c.endOffsets(t, in)
	waitFor(t, 90*time.Second, "committed offsets to reach the end offsets", func() bool {
		got := c.committed(t, group, in, 4)
		for p, e := range end {
			if got[p] != e {
				return false
			}
		}
		return true
	})
	t.Logf("5000 events done in %s", time.Since(start))

	outs := c.outcomes(t, results)
	byID := map[string]int{}
	delivered := fake.Delivered()
	for _, o := range outs {
		byID[o.ID]++
		if o.Status != event.Delivered {
			t.Errorf("event %s: status %s (%s), want delivered", o.ID, o.Status, o.Error)
			continue
		}
		for _, r := range o.Recipients {
			want := "p2p:" + r.ToAccount
			if r.TopicID != "" {
				want = "p2t:" + r.TopicID
			}
			if got, ok := delivered[r.PacketID]; !ok || got != want {
				t.Errorf("event %s: packetId %q belongs to %q at the fake, outcome says %q", o.ID, r.PacketID, got, want)
			}
		}
	}
	for _, id := range ids {
		if byID[id] != 1 {
			t.Errorf("event %s has %d outcomes, want exactly 1", id, byID[id])
		}
	}
	if len(outs) != len(ids) {
		t.Errorf("%d outcomes for %d events", len(outs), len(ids))
	}
	calls := len(fake.Calls())
	t.Logf("%d recipients in %d MIMC calls", recipients, calls)
	if calls*5 > recipients {
		t.Errorf("%d MIMC calls for %d recipients: merging should need far fewer", calls, recipients)
	}
}
