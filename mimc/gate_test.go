package mimc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

// recordingGate admits every attempt at once, or when released while
// holding, and records what it was asked and told.
type recordingGate struct {
	mu       sync.Mutex
	asked    []string
	told     []string
	canceled int
	hold     chan struct{} // nil: admit at once
}

// callTag is a context key: what a caller knows of its call, which the
// gate reads from the context given to Push.
type callTag struct{}

func (g *recordingGate) Admit(ctx context.Context, kind message.Kind, n int) (Admission, error) {
	g.mu.Lock()
	g.asked = append(g.asked, fmt.Sprintf("%s tag=%v %d", kind, ctx.Value(callTag{}), n))
	hold := g.hold
	g.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return recordingAdmission{g}, nil
}

type recordingAdmission struct{ g *recordingGate }

func (a recordingAdmission) Done(e *Error) {
	a.g.mu.Lock()
	defer a.g.mu.Unlock()
	if e == nil {
		a.g.told = append(a.g.told, "ok")
		return
	}
	a.g.told = append(a.g.told, fmt.Sprintf("http %d code %d retry-after %s", e.HTTPStatus, e.Code, e.RetryAfter))
}

func (a recordingAdmission) Cancel() {
	a.g.mu.Lock()
	a.g.canceled++
	a.g.mu.Unlock()
}

func TestTheGateAdmitsEveryAttemptAndHearsItsAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &recordingGate{}
		srv, c := newBubbleFake(t, func(c *Config) {
			c.Gate = g
			c.Retry.MaxElapsed = time.Minute
		})
		srv.SetFaults(mimctest.Faults{RetryAfter: 2 * time.Second})
		srv.Script(mimctest.FaultHTTP429, mimctest.FaultEnvelope500, mimctest.FaultOK)
		ctx := context.WithValue(t.Context(), callTag{}, "urgent")
		if _, err := c.Push(ctx, p2p("ann", "bo")); err != nil {
			t.Fatal(err)
		}
		wantAsked := []string{"p2p tag=urgent 2", "p2p tag=urgent 2", "p2p tag=urgent 2"}
		wantTold := []string{"http 429 code 429 retry-after 2s", "http 200 code 500 retry-after 0s", "ok"}
		if !slices.Equal(g.asked, wantAsked) || !slices.Equal(g.told, wantTold) {
			t.Errorf("asked %q, told %q; want %q, %q", g.asked, g.told, wantAsked, wantTold)
		}
	})
}

func TestAnAttemptWaitsForTheGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &recordingGate{hold: make(chan struct{})}
		srv, c := newBubbleFake(t, func(c *Config) { c.Gate = g })
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := c.Push(ctx, p2p("ann"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the deadline", err)
		}
		if n := len(srv.Calls()); n != 0 {
			t.Fatalf("%d calls reached MIMC without being admitted", n)
		}
		close(g.hold)
		if _, err := c.Push(t.Context(), p2p("ann")); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Calls()); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
	})
}

func TestAnAdmissionIsGivenBackWhenEveryRecipientWasWithdrawnMeanwhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &recordingGate{hold: make(chan struct{})}
		srv, c := newExpiringFake(t, func(c *Config) { c.Gate = g })
		ctx := withExpiries(t.Context(), time.Now().Add(time.Second))
		go func() {
			time.Sleep(time.Second) // the gate admits at the very moment it expires
			close(g.hold)
		}()
		res, err := c.Push(ctx, p2p("ann"))
		if err != nil || len(res.Withdrawn) != 1 {
			t.Fatalf("result %+v, err %v: want the recipient expired", res, err)
		}
		if n := len(srv.Calls()); n != 0 {
			t.Errorf("%d calls reached MIMC", n)
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.told) != 0 {
			t.Errorf("the gate was told %q about attempts never made", g.told)
		}
	})
}

// quotaGate admits attempts within a quota of perSecond recipients of each
// kind, as the bridge's gate does.
func quotaGate(t *testing.T, perSecond float64) Gate {
	t.Helper()
	q, err := quota.New(quota.Config{RateP2P: perSecond, RateP2T: perSecond, MaxRecipients: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return limiterGate{q}
}

type limiterGate struct{ q *quota.Limiter }

func (g limiterGate) Admit(ctx context.Context, kind message.Kind, n int) (Admission, error) {
	if _, err := g.q.Wait(ctx, kind, quota.Normal, n); err != nil {
		return nil, err
	}
	return noAdmission{}, nil
}
