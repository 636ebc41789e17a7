package quota

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

func TestCallsWhoseContextEndsSoonerAreServedSooner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 10})
		ctx := t.Context()
		if _, err := l.Wait(ctx, message.P2P, Normal, 10); err != nil { // empty the bucket
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		// In arrival order: no deadline, a late one, an early one.
		for _, c := range []struct {
			name string
			in   time.Duration // 0: no deadline
		}{{"none", 0}, {"late", 5 * time.Second}, {"early", time.Second}} {
			wctx, cancel := ctx, context.CancelFunc(func() {})
			if c.in > 0 {
				wctx, cancel = context.WithTimeout(ctx, c.in)
			}
			wg.Go(func() {
				defer cancel()
				if _, err := l.Wait(wctx, message.P2P, Normal, 10); err != nil {
					t.Errorf("%s: %v", c.name, err)
				}
				mu.Lock()
				order = append(order, c.name)
				mu.Unlock()
			})
			synctest.Wait()
		}
		wg.Wait()
		if want := []string{"early", "late", "none"}; !slices.Equal(order, want) {
			t.Errorf("granted %v, want %v", order, want)
		}
	})
}
