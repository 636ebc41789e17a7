package batching

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestAHeldCallStaysOpenPastItsLingerUntilHoldLetsItGo(t *testing.T) {
	var holdUntil time.Time
	asked := 0
	b, clk := newTestBatcher(t, testConfig{MaxRecipients: 10, Linger: 50 * time.Millisecond})
	b.cfg.Hold = func(c *testCall, now time.Time) time.Time { asked++; return holdUntil }
	start := clk.Now()
	holdUntil = start.Add(120 * time.Millisecond)
	mustAdd(t, b, p2p("sale", "a"), nil)
	clk.Advance(50 * time.Millisecond)
	if got := b.Expired(nil); len(got) != 0 {
		t.Fatalf("a held call went out at its linger: %v", recipientsOf(got))
	}
	// Looked at again one linger later, or when the hold ends if sooner.
	if d, _ := b.UntilNext(); d != 50*time.Millisecond {
		t.Errorf("UntilNext %s, want the next look one linger later (50ms)", d)
	}
	mustAdd(t, b, p2p("sale", "b"), nil)
	clk.Advance(50 * time.Millisecond)
	b.Expired(nil)
	if d, _ := b.UntilNext(); d != 20*time.Millisecond {
		t.Errorf("UntilNext %s, want the end of the hold (20ms)", d)
	}
	clk.Advance(20 * time.Millisecond)
	got := b.Expired(nil)
	if len(got) != 1 || !slices.Equal(names(got[0].Recipients), []string{"a", "b"}) {
		t.Fatalf("at the end of the hold: %v, want one call [a b]", recipientsOf(got))
	}
	if asked != 3 {
		t.Errorf("Hold asked %d times, want 3", asked)
	}
}

func TestHeldCallsKeepTheLingerListInOrder(t *testing.T) {
	b, clk := newTestBatcher(t, testConfig{MaxRecipients: 10, Linger: 50 * time.Millisecond})
	// Messages named "hold" wait 200ms past their first event; others
	// are never held.
	b.cfg.Hold = func(c *testCall, now time.Time) time.Time {
		if c.Content.Msg == "hold" {
			return c.FirstAt.Add(200 * time.Millisecond)
		}
		return time.Time{}
	}
	mustAdd(t, b, p2p("hold", "a"), nil)
	var sent []string
	for i := range 10 {
		clk.Advance(20 * time.Millisecond)
		mustAdd(t, b, p2p(fmt.Sprint("m", i), "x"), nil)
		for _, c := range b.Expired(nil) {
			sent = append(sent, c.Content.Msg)
		}
	}
	for b.Open() > 0 {
		d, _ := b.UntilNext()
		clk.Advance(d)
		for _, c := range b.Expired(nil) {
			sent = append(sent, c.Content.Msg)
		}
	}
	want := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "hold", "m7", "m8", "m9"} // m6 due at 190ms, hold at 200ms, m7 at 210ms
	if !slices.Equal(sent, want) {
		t.Errorf("sent %v, want %v", sent, want)
	}
}

func TestEmitFullestSendsTheCallsWithTheMostRecipientsFirst(t *testing.T) {
	b, _ := newTestBatcher(t, testConfig{MaxRecipients: 100})
	for i, n := range []int{3, 9, 1, 6} {
		for j := range n {
			mustAdd(t, b, p2p(fmt.Sprint("m", i), fmt.Sprint("u", j)), nil)
		}
	}
	if got := b.OpenEvents(); got != 19 {
		t.Fatalf("OpenEvents %d, want 19", got)
	}
	got := b.EmitFullest(nil, 10)
	if len(got) != 2 || got[0].Recipients.Len() != 9 || got[1].Recipients.Len() != 6 {
		t.Fatalf("EmitFullest(10) sent %v, want the calls of 9 and 6", recipientsOf(got))
	}
	if b.OpenEvents() != 4 || b.Open() != 2 {
		t.Errorf("%d calls of %d events left open, want 2 of 4", b.Open(), b.OpenEvents())
	}
	if got := b.EmitFullest(nil, 0); len(got) != 1 || got[0].Recipients.Len() != 3 {
		t.Errorf("EmitFullest(0) sent %v, want the one fullest call", recipientsOf(got))
	}
}
