package integration_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// A MIMC that hangs stalls the work: /readyz answers 503 with the reason
// and mimc_bridge_stalled is 1, while the process keeps heartbeating (its
// generation does not change past the session timeout). A rebalance while
// stalled takes the partitions away after the drain deadline, which the
// member logs, and nothing is lost: when MIMC answers again every event is
// delivered and committed.
func TestAHangingMIMCShowsAsStalledAndKeepsThePartitions(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 2)
	results := c.topic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	fake.SetFaults(mimctest.Faults{Hang: 1, HangFor: time.Minute})
	values, ids := uniqueEvents(t, 40, "stall")
	c.produce(t, in, values...)

	cfg := settings(t, c, url, in, results, group)
	cfg.HTTPTimeout = time.Second
	cfg.RetryMaxElapsed = 60 * time.Second // no event fails within the test
	cfg.StallTimeout = 2 * time.Second
	start := time.Now()
	b := startBridge(t, cfg)
	addr := opsAddr(t, b)

	var why string
	waitFor(t, 15*time.Second, "/readyz to report the stall", func() bool {
		code, body := get(t, addr, "/readyz")
		why = body
		return code == 503 && strings.Contains(body, "stalled")
	})
	stalledAfter := time.Since(start)
	_, m := get(t, addr, "/metrics")
	if v, ok := metric(m, "mimc_bridge_stalled"); !ok || v != 1 {
		t.Errorf("mimc_bridge_stalled = %v (%v), want 1", v, ok)
	}
	if v, ok := metric(m, "mimc_bridge_oldest_pending_seconds"); !ok || v < cfg.StallTimeout.Seconds() {
		t.Errorf("mimc_bridge_oldest_pending_seconds = %v (%v), want at least %v", v, ok, cfg.StallTimeout.Seconds())
	}
	if !strings.Contains(b.logs.String(), `"work has stalled"`) {
		t.Error("the stall is not logged")
	}

	// Past the session timeout the member still holds its partitions: the
	// heartbeats do not wait for MIMC.
	time.Sleep(cfg.KafkaSessionTimeout + 2*time.Second - time.Since(start))
	_, m = get(t, addr, "/metrics")
	if v, _ := metric(m, "mimc_bridge_generations_total"); v != 1 {
		t.Errorf("mimc_bridge_generations_total = %v after %s of a hanging MIMC, want 1: the member lost its partitions", v, time.Since(start).Round(time.Second))
	}
	if n := countLog(b.logs.String(), `"partitions assigned"`); n != 1 {
		t.Errorf("%d assignments while MIMC hung, want 1", n)
	}
	if got := c.committed(t, group, in, 2); got[0] > 0 || got[1] > 0 {
		t.Errorf("committed %v while no event could complete", got)
	}

	// A second member joins while the first is stalled: the first cannot
	// drain, gives its partitions up at the drain deadline and says so.
	cfg2 := cfg
	second := startBridge(t, cfg2)
	waitFor(t, 30*time.Second, "the stalled member to give up its in-flight work", func() bool {
		return strings.Contains(b.logs.String(), "drain deadline passed")
	})
	waitFor(t, 20*time.Second, "both members in the new generation", func() bool {
		return countLog(b.logs.String(), `"partitions assigned"`) >= 2 && countLog(second.logs.String(), `"partitions assigned"`) >= 1
	})

	// MIMC answers again: everything goes through, readiness returns.
	fake.SetFaults(mimctest.Faults{})
	healed := time.Now()
	allCommitted(t, c, cfg, 60*time.Second)
	recovery := time.Since(healed)
	waitFor(t, 10*time.Second, "/readyz to be ready again", func() bool {
		code, _ := get(t, addr, "/readyz")
		return code == 200
	})
	_, m = get(t, addr, "/metrics")
	if v, _ := metric(m, "mimc_bridge_stalled"); v != 0 {
		t.Errorf("mimc_bridge_stalled = %v after recovery, want 0", v)
	}
	scrapeNoSecret(t, b)
	for _, p := range []*bridgeProc{b, second} {
		if err := p.stop(t); err != nil {
			t.Errorf("bridge: %v", err)
		}
	}
	outs := c.outcomes(t, results)
	seen := map[string]int{}
	for _, o := range outs {
		seen[o.ID]++
		if o.Status != "delivered" {
			t.Errorf("event %s: %s (%s)", o.ID, o.Status, o.Error)
		}
	}
	lost, dups := 0, 0
	for _, id := range ids {
		switch n := seen[id]; {
		case n == 0:
			lost++
			t.Errorf("event %s has no outcome", id)
		case n > 1:
			dups += n - 1
		}
	}
	t.Logf("FAULT MIMC hangs (stall): /readyz 503 after %s (%q); generation unchanged past the session timeout; rebalance while stalled abandons in-flight work at the drain deadline; events %d, lost %d, duplicate outcomes %d, all committed %s after MIMC answered",
		stalledAfter.Round(10*time.Millisecond), strings.TrimSpace(why), len(ids), lost, dups, recovery.Round(10*time.Millisecond))
}
