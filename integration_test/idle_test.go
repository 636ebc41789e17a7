package integration_test

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// An idle bridge is not stalled: with nothing to do for several times
// STALL_TIMEOUT, /readyz keeps answering 200 and mimc_bridge_stalled stays 0
// (issue 12: each partition's fetcher used to count as a pending event while
// it waited for the next record).
func TestAnIdleBridgeStaysReadyPastTheStallTimeout(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 3)
	results := c.topic(t, "results", 1)
	group := fmt.Sprintf("group-%d", rand.Int63())
	_, url := fakeMIMC(t)
	values, _ := uniqueEvents(t, 10, "idle")
	c.produce(t, in, values...)

	cfg := settings(t, c, url, in, results, group)
	cfg.StallTimeout = time.Second
	b := startBridge(t, cfg)
	addr := opsAddr(t, b)
	allCommitted(t, c, cfg, 30*time.Second)

	// Idle for three times STALL_TIMEOUT, asking all along.
	idleUntil := time.Now().Add(3 * cfg.StallTimeout)
	for asked := 0; time.Now().Before(idleUntil); asked++ {
		if code, body := get(t, addr, "/readyz"); code != 200 {
			t.Fatalf("/readyz answered %d %q after %d polls of an idle bridge", code, body, asked)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, m := get(t, addr, "/metrics")
	for name, want := range map[string]float64{"mimc_bridge_stalled": 0, `mimc_bridge_pending_events{priority="normal"}`: 0, "mimc_bridge_oldest_pending_seconds": 0} {
		if v, ok := metric(m, name); !ok || v != want {
			t.Errorf("%s = %v (%v) on an idle bridge, want %v", name, v, ok, want)
		}
	}
	if err := b.stop(t); err != nil {
		t.Errorf("bridge: %v", err)
	}
}
