package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
)

func TestPendingEventsAreBoundedInBytesAsWellAsInCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// MIMC holds every call until released: events stay pending.
		release := make(chan struct{})
		push := holding(release, nil)
		h := newHarness(t, 2, push, func(c *config.Config) {
			c.MaxPendingEvents = 10000
			c.MaxPendingBytes = 1 << 20
		})
		h.start()
		big := strings.Repeat("x", 9000)
		var size int
		const n = 300
		for i := range n {
			v := fmt.Sprintf(`{"id":"e%d","fromAccount":"shop","toAccount":"u%d","msg":%q}`, i, i, big)
			size = len(v)
			h.src.produce(i%2, v)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		// Each event counts its value and the bridge's overhead: 1 MiB
		// holds this many, far below MAX_PENDING_EVENTS.
		want := (1 << 20) / (size + pendingOverhead)
		if got := int(pendingEvents(h.p.met)); got != want {
			t.Errorf("%d events of %d bytes pending with MAX_PENDING_BYTES=1MiB, want %d", got, size, want)
		}
		close(release)
		for h.com.committed(0)+h.com.committed(1) < n {
			time.Sleep(100 * time.Millisecond)
		}
		h.stop()
		if got := len(h.pub.all()); got != n {
			t.Errorf("%d outcomes, want %d", got, n)
		}
	})
}

func TestAnEventLargerThanTheWholeByteBudgetStillPassesAlone(t *testing.T) {
	r := newRoom(10, 1<<20)
	ctx := context.Background()
	if !r.take(ctx, 4<<20) {
		t.Fatal("a 4 MiB event found no room in an empty 1 MiB budget")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if r.take(ctx, 100) {
		t.Fatal("a second event found room while the large one holds the whole budget")
	}
	r.free(1, r.cost(4<<20))
	if !r.take(context.Background(), 100) {
		t.Fatal("no room once the large event was freed")
	}
}
