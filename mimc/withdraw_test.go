package mimc

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// newBubbleFake returns a fake MIMC server and a client of it over an
// in-memory transport; call it inside synctest.Test.
func newBubbleFake(t *testing.T, mod func(*Config)) (*mimctest.Server, *Client) {
	t.Helper()
	srv := mimctest.New(testServerConfig())
	cfg := testConfig("http://mimc.test")
	cfg.HTTPClient = srv.HTTPClient()
	if mod != nil {
		mod(&cfg)
	}
	c, _ := newTestClient(t, cfg)
	return srv, c
}

// expiresKey is a context key: when each recipient of the call expires.
type expiresKey struct{}

// withExpiries returns ctx with when each recipient of the call expires
// (zero: never), read by expiring.
func withExpiries(ctx context.Context, at ...time.Time) context.Context {
	return context.WithValue(ctx, expiresKey{}, at)
}

// expiring is a BeforeAttempt that withdraws the recipients whose time, in
// the call's context, has come, as the bridge's does.
func expiring(ctx context.Context, n int, now time.Time) (gone []int, recheck time.Time) {
	at, _ := ctx.Value(expiresKey{}).([]time.Time)
	for i, t := range at {
		switch {
		case t.IsZero():
		case !now.Before(t):
			gone = append(gone, i)
		case recheck.IsZero() || t.Before(recheck):
			recheck = t
		}
	}
	return gone, recheck
}

// newExpiringFake is newBubbleFake with the expiring hook.
func newExpiringFake(t *testing.T, mod func(*Config)) (*mimctest.Server, *Client) {
	t.Helper()
	return newBubbleFake(t, func(c *Config) {
		c.BeforeAttempt = expiring
		if mod != nil {
			mod(c)
		}
	})
}

// sent lists the accounts of every call the server received, call by call.
func sent(srv *mimctest.Server) [][]string {
	var out [][]string
	for _, c := range srv.Calls() {
		out = append(out, c.ToAccounts)
	}
	return out
}

func TestWithdrawnRecipientsAreNeverSent(t *testing.T) {
	t.Run("a recipient expired before the first attempt is left out of the call", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv, c := newExpiringFake(t, nil)
			now := time.Now()
			call := p2p("ann", "bo", "cy")
			ctx := withExpiries(t.Context(), now.Add(-time.Second), time.Time{}, now.Add(time.Hour))
			res, err := c.Push(ctx, call)
			if err != nil {
				t.Fatal(err)
			}
			if got := sent(srv); !slices.Equal(got[0], []string{"bo", "cy"}) || len(got) != 1 {
				t.Errorf("sent %v, want one call to bo and cy", got)
			}
			if !slices.Equal(res.Withdrawn, []int{0}) || res.PacketIDs[0] != "" || res.PacketIDs[1] == "" || res.PacketIDs[2] == "" {
				t.Errorf("result %+v", res)
			}
		})
	})
	t.Run("a call whose every recipient expired sends nothing and fails nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv, c := newExpiringFake(t, nil)
			call := p2t(7, 8)
			past := time.Now().Add(-time.Millisecond)
			res, err := c.Push(withExpiries(t.Context(), past, past), call)
			if err != nil || len(srv.Calls()) != 0 || !slices.Equal(res.Withdrawn, []int{0, 1}) || res.Attempts != 0 {
				t.Errorf("result %+v, err %v, %d calls", res, err, len(srv.Calls()))
			}
		})
	})
	t.Run("a recipient that expires between retries is not retried", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv, c := newExpiringFake(t, func(c *Config) {
				c.Retry.InitialInterval = 500 * time.Millisecond
				c.Retry.MaxInterval = 500 * time.Millisecond
			})
			srv.Script(mimctest.FaultHTTP500)
			call := p2p("ann", "bo")
			res, err := c.Push(withExpiries(t.Context(), time.Now().Add(100*time.Millisecond), time.Time{}), call)
			if err != nil {
				t.Fatal(err)
			}
			calls := srv.Calls()
			if len(calls) != 2 || !slices.Equal(calls[0].ToAccounts, []string{"ann", "bo"}) || !slices.Equal(calls[1].ToAccounts, []string{"bo"}) {
				t.Fatalf("sent %v, want ann and bo, then bo alone", sent(srv))
			}
			if calls[1].Endpoint != mimctest.EndpointP2P || res.Endpoint != EndpointP2P {
				t.Errorf("the retry of one recipient went to %s (result %s), want %s", calls[1].Endpoint, res.Endpoint, EndpointP2P)
			}
			if !slices.Equal(res.Withdrawn, []int{0}) || res.PacketIDs[0] != "" || res.PacketIDs[1] == "" || res.Attempts != 2 {
				t.Errorf("result %+v", res)
			}
		})
	})
	t.Run("a failed call reports which recipients expired before the last attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv, c := newExpiringFake(t, func(c *Config) {
				c.Retry.InitialInterval = 500 * time.Millisecond
				c.Retry.MaxInterval = 500 * time.Millisecond
				c.Retry.MaxElapsed = 800 * time.Millisecond
			})
			srv.SetFaults(mimctest.Faults{HTTP500: 1})
			call := p2p("ann", "bo")
			res, err := c.Push(withExpiries(t.Context(), time.Now().Add(100*time.Millisecond), time.Time{}), call)
			if e := asError(t, err); e.HTTPStatus != 500 {
				t.Errorf("error %v", e)
			}
			if !slices.Equal(res.Withdrawn, []int{0}) {
				t.Errorf("expired %v, want [0]", res.Withdrawn)
			}
		})
	})
	t.Run("waiting for the rate limit ends at the expiry and spends no quota on it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv, c := newExpiringFake(t, func(c *Config) { c.Gate = quotaGate(t, 10) })
			ctx := t.Context()
			if _, err := c.Push(ctx, p2p("a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9")); err != nil {
				t.Fatal(err) // the burst: the bucket is empty now
			}
			start := time.Now()
			late := p2p("b0", "b1", "b2", "b3", "b4")
			at := start.Add(200 * time.Millisecond) // the quota for 5 comes in 500ms
			res, err := c.Push(withExpiries(ctx, at, at, at, at, at), late)
			if err != nil || len(res.Withdrawn) != 5 {
				t.Fatalf("result %+v, err %v: want every recipient expired", res, err)
			}
			if waited := time.Since(start); waited != 200*time.Millisecond {
				t.Errorf("the expiring call returned after %s, want at its expiry (200ms)", waited)
			}
			// Its quota was not taken: five more go out at 500ms.
			if _, err := c.Push(ctx, p2p("c0", "c1", "c2", "c3", "c4")); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took != 500*time.Millisecond {
				t.Errorf("the next five recipients went out %s after the burst, want 500ms", took)
			}
			if got := sent(srv); len(got) != 2 {
				t.Errorf("sent %v, want the burst and the last call only", got)
			}
		})
	})
}
