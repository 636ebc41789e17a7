package quota

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

func newLimiter(t *testing.T, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// sendFor sends calls of n recipients back to back for d and returns the
// recipients granted.
func sendFor(t *testing.T, l *Limiter, k message.Kind, n int, d time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	sent := 0
	for {
		if _, err := l.Wait(ctx, k, Normal, n); err != nil {
			return sent
		}
		sent += n
	}
}

func TestAMemberAloneSendsTheWholeQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 10})
		// 100 a second from an empty bucket.
		if got := sendFor(t, l, message.P2P, 10, 10*time.Second); got < 990 || got > 1000 {
			t.Fatalf("sent %d recipients in 10s at 100/s", got)
		}
	})
}

func TestTheShareDividesTheRateAndTheBurst(t *testing.T) {
	tests := []struct {
		scenario      string
		share         float64
		rate          float64
		maxRecipients int
	}{
		{"a member alone has the whole quota and full calls", 1, 400, 100},
		{"a quarter of 400/s still allows full calls", 0.25, 100, 100},
		{"a tenth of 400/s sends calls of 40 recipients", 0.1, 40, 40},
		{"a member below one recipient a second still sends one", 0.001, 0.4, 1},
		{"a share above 1 is the whole quota", 3, 400, 100},
		{"no share sends nothing", 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLimiter(t, Config{RateP2T: 400, MaxRecipients: 100})
				l.SetShare(tt.share)
				if r := l.Rate(message.P2T); math.Abs(r-tt.rate) > 1e-9 {
					t.Errorf("rate %v, want %v", r, tt.rate)
				}
				if m := l.MaxRecipients(message.P2T); m != tt.maxRecipients {
					t.Errorf("max recipients %d, want %d", m, tt.maxRecipients)
				}
				if m := l.MaxRecipients(message.P2P); m != 100 {
					t.Errorf("message.P2P has no quota, yet its max recipients is %d", m)
				}
			})
		})
	}
}

func TestAMemberSendsAtItsShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 400, MaxRecipients: 100})
		l.SetShare(0.25)
		// 100/s from an empty bucket, in calls of 50.
		if got := sendFor(t, l, message.P2P, 50, 10*time.Second); got < 950 || got > 1000 {
			t.Fatalf("sent %d recipients in 10s at a quarter of 400/s", got)
		}
	})
}

func TestUrgentCallsTakeTheQuotaFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 400, MaxRecipients: 100})
		ctx := t.Context()
		for range 4 { // empty the bucket: 400 recipients
			if _, err := l.Wait(ctx, message.P2P, Normal, 100); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		start := time.Now()
		for range 16 { // four seconds of quota waiting
			wg.Go(func() {
				if _, err := l.Wait(ctx, message.P2P, Normal, 100); err != nil {
					t.Error(err)
				}
				mu.Lock()
				order = append(order, "normal")
				mu.Unlock()
			})
		}
		synctest.Wait()
		var urgentAt time.Duration
		wg.Go(func() {
			if _, err := l.Wait(ctx, message.P2P, Urgent, 100); err != nil {
				t.Error(err)
			}
			urgentAt = time.Since(start)
			mu.Lock()
			order = append(order, "urgent")
			mu.Unlock()
		})
		wg.Wait()
		if order[0] != "urgent" {
			t.Errorf("grants in order %v: the urgent call waited behind normal ones", order)
		}
		if urgentAt != 250*time.Millisecond {
			t.Errorf("the urgent call went out after %s, want the 250ms its 100 recipients take at 400/s", urgentAt)
		}
		if len(order) != 17 {
			t.Errorf("%d grants, want 17", len(order))
		}
	})
}

func TestNormalCallsTakeWhatUrgentCallsLeave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 10})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var urgent, normal int
		var wg sync.WaitGroup
		wg.Go(func() { // urgent traffic of 30 recipients a second
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
				if _, err := l.Wait(ctx, message.P2P, Urgent, 3); err != nil {
					return
				}
				urgent += 3
			}
		})
		wg.Go(func() { normal = sendFor(t, l, message.P2P, 10, 10*time.Second) })
		wg.Wait()
		if urgent < 290 {
			t.Errorf("urgent sent %d of its 300 recipients", urgent)
		}
		if total := urgent + normal; total < 990 || total > 1010 {
			t.Errorf("urgent %d + normal %d: the quota of 1000 in 10s was not used", urgent, normal)
		}
	})
}

func TestA429LowersTheRateWhichRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &recorder{}
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 10, Recover: 10 * time.Second, Observer: obs})
		at, err := l.Wait(t.Context(), message.P2P, Normal, 10)
		if err != nil {
			t.Fatal(err)
		}
		l.TooMany(message.P2P, at, 0)
		if r := l.Rate(message.P2P); r != 50 {
			t.Fatalf("rate %v after a 429, want 50", r)
		}
		// Another call sent at the old rate answers 429 too: no second cut.
		l.TooMany(message.P2P, at, 0)
		if r := l.Rate(message.P2P); r != 50 {
			t.Fatalf("rate %v after a second 429 of the same rate, want 50", r)
		}
		time.Sleep(2500 * time.Millisecond)
		if r := l.Rate(message.P2P); r != 75 {
			t.Fatalf("rate %v after 2.5s of recovery, want 75", r)
		}
		at2, _ := l.Wait(t.Context(), message.P2P, Normal, 10)
		l.TooMany(message.P2P, at2, 0)
		if r := l.Rate(message.P2P); r != 37.5 {
			t.Fatalf("rate %v after a 429 at 75, want 37.5", r)
		}
		time.Sleep(time.Minute)
		if r := l.Rate(message.P2P); r != 100 {
			t.Fatalf("rate %v after recovery, want the share's 100", r)
		}
		if obs.tooMany != 3 {
			t.Errorf("observed %d 429s, want 3", obs.tooMany)
		}
		if obs.rate[message.P2P] != 100 {
			t.Errorf("observed rate %v, want 100", obs.rate[message.P2P])
		}
	})
}

func TestTheRateNeverFallsBelowItsFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 10, MinFactor: 0.1})
		for range 20 {
			at, _ := l.Wait(t.Context(), message.P2P, Normal, 1)
			l.TooMany(message.P2P, at, 0)
		}
		if r := l.Rate(message.P2P); math.Abs(r-10) > 1e-9 {
			t.Fatalf("rate %v, want the floor of 10", r)
		}
	})
}

func TestRetryAfterPausesEverySendOfTheKind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := &recorder{}
		l := newLimiter(t, Config{RateP2P: 1000, RateP2T: 1000, MaxRecipients: 10, Observer: obs})
		at, _ := l.Wait(t.Context(), message.P2P, Urgent, 1)
		l.TooMany(message.P2P, at, 2*time.Second)
		start := time.Now()
		if _, err := l.Wait(t.Context(), message.P2T, Urgent, 1); err != nil || time.Since(start) != 0 {
			t.Fatalf("message.P2T waited %s (%v): the pause is message.P2P's", time.Since(start), err)
		}
		if _, err := l.Wait(t.Context(), message.P2P, Urgent, 1); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("an urgent message.P2P call went out after %s, want the 2s of Retry-After", d)
		}
		if obs.paused != 1 {
			t.Errorf("observed %d pauses, want 1", obs.paused)
		}
	})
}

func TestACallLargerThanTheBurstGoesOutInParts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 100})
		l.SetShare(0.1) // 10/s, burst 10
		start := time.Now()
		if _, err := l.Wait(t.Context(), message.P2P, Normal, 30); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("30 recipients at 10/s from an empty bucket of 10 took %s, want 3s", d)
		}
	})
}

func TestACanceledWaitLeavesTheQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 10, MaxRecipients: 10})
		if _, err := l.Wait(t.Context(), message.P2P, Normal, 10); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := l.Wait(ctx, message.P2P, Urgent, 10); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the deadline", err)
		}
		start := time.Now()
		if _, err := l.Wait(t.Context(), message.P2P, Normal, 5); err != nil {
			t.Fatal(err)
		}
		// 1 token accrued during the canceled wait; 4 more take 400ms.
		if d := time.Since(start); d != 400*time.Millisecond {
			t.Fatalf("the next call waited %s, want 400ms", d)
		}
	})
}

func TestABucketStartsEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A member that joins must not burst into quota the others spent.
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 50})
		start := time.Now()
		if _, err := l.Wait(t.Context(), message.P2P, Urgent, 50); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 500*time.Millisecond {
			t.Fatalf("the first call of 50 at 100/s went out after %s, want 500ms", d)
		}
	})
}

func TestAKindWithoutQuotaNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 1, MaxRecipients: 100})
		start := time.Now()
		for range 100 {
			if _, err := l.Wait(t.Context(), message.P2T, Normal, 100); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("message.P2T waited %s", d)
		}
		if l.Limited(message.P2T) || !math.IsInf(l.Rate(message.P2T), 1) {
			t.Fatal("message.P2T reports a limit")
		}
	})
}

func TestAMemberWithoutAShareCannotSend(t *testing.T) {
	l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 10})
	l.SetShare(0)
	if _, err := l.Wait(t.Context(), message.P2P, Normal, 1); !errors.Is(err, ErrNoShare) {
		t.Fatalf("got %v, want ErrNoShare", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		scenario string
		cfg      Config
	}{
		{"a negative rate is refused", Config{RateP2P: -1, MaxRecipients: 1}},
		{"an infinite rate is refused", Config{RateP2T: math.Inf(1), MaxRecipients: 1}},
		{"no max recipients is refused", Config{RateP2P: 1}},
		{"a decrease of 1 is refused", Config{MaxRecipients: 1, Decrease: 1}},
		{"a min factor above 1 is refused", Config{MaxRecipients: 1, MinFactor: 1.5}},
		{"a negative recovery is refused", Config{MaxRecipients: 1, Recover: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			if _, err := New(tt.cfg, nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

type recorder struct {
	mu              sync.Mutex
	share, rate     map[message.Kind]float64
	tooMany, paused int
}

func (r *recorder) Share(k message.Kind, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.share == nil {
		r.share = map[message.Kind]float64{}
	}
	r.share[k] = v
}

func (r *recorder) Rate(k message.Kind, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rate == nil {
		r.rate = map[message.Kind]float64{}
	}
	r.rate[k] = v
}

func (r *recorder) TooMany(message.Kind) { r.mu.Lock(); r.tooMany++; r.mu.Unlock() }

func (r *recorder) Paused(message.Kind, time.Duration) { r.mu.Lock(); r.paused++; r.mu.Unlock() }

func TestAWaitingCallGainsFromTheRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(t, Config{RateP2P: 100, MaxRecipients: 100, Recover: 10 * time.Second})
		at, err := l.Wait(t.Context(), message.P2P, Normal, 100) // empties the bucket
		if err != nil {
			t.Fatal(err)
		}
		l.TooMany(message.P2P, at, 0) // 50/s, climbing by 10/s every second
		start := time.Now()
		if _, err := l.Wait(t.Context(), message.P2P, Normal, 100); err != nil {
			t.Fatal(err)
		}
		// 50t + 5t² = 100 at t = 1.73s; at a fixed 50/s it would be 2s.
		if d := time.Since(start); d >= 2*time.Second || d < 1700*time.Millisecond {
			t.Fatalf("100 recipients took %s while the rate climbed from 50/s, want about 1.75s", d)
		}
	})
}

func TestAMemberBelowOneRecipientASecondSendsItsFirstCallAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 0.01/s: an empty bucket would hold the first call back 100s.
		l := newLimiter(t, Config{RateP2P: 0.01, MaxRecipients: 100})
		l.SetShare(0) // as the bridge does before its first generation
		l.SetShare(1)
		if m := l.MaxRecipients(message.P2P); m != 1 {
			t.Fatalf("max recipients %d, want single-recipient calls", m)
		}
		start := time.Now()
		for range 3 {
			if _, err := l.Wait(t.Context(), message.P2P, Normal, 1); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d != 200*time.Second {
			t.Errorf("three single-recipient calls at 0.01/s took %s, want 200s (the first at once, then one per 100s)", d)
		}
		// The one recipient is given once in the bucket's life, not at
		// every rebalance.
		l.SetShare(0.5)
		l.SetShare(1)
		start = time.Now()
		if _, err := l.Wait(t.Context(), message.P2P, Normal, 1); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 100*time.Second {
			t.Errorf("after a rebalance the next call waited %s, want 100s", d)
		}
	})
}

func TestAMemberWhoseShareFallsBelowOneRecipientASecondSendsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A group quota of 2/s held by four members: 0.5/s each.
		l := newLimiter(t, Config{RateP2T: 2, MaxRecipients: 100})
		l.SetShare(0)
		l.SetShare(0.25)
		start := time.Now()
		if _, err := l.Wait(t.Context(), message.P2T, Normal, 1); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("the first call at 0.5/s waited %s, want none", d)
		}
	})
}
