package batching

import (
	"testing"
	"time"
)

func TestEveryCallSaysWhyItWasCut(t *testing.T) {
	overhead := jsonFixed + len(`"shop"`) + len(`""`)*3 + len(`"hi"`)
	for _, tt := range []struct {
		name string
		cfg  testConfig
		hold bool
		cut  func(b *testBatcher, clk *fakeClock) []*testCall
		want Reason
	}{
		{"a call with the most recipients is full", testConfig{MaxRecipients: 2}, false,
			func(b *testBatcher, _ *fakeClock) []*testCall { return mustAdd(t, b, p2p("hi", "a", "b"), nil) }, ReasonFull},
		{"a call whose body takes no more is cut by size", testConfig{MaxBodyBytes: overhead + 16 + 7}, false,
			func(b *testBatcher, _ *fakeClock) []*testCall {
				mustAdd(t, b, p2p("hi", "aaaaa", "bbbbb"), nil)
				return mustAdd(t, b, p2p("hi", "ccccc"), nil)
			}, ReasonSize},
		{"a call whose linger passed goes at its linger", testConfig{Linger: 50 * time.Millisecond}, false,
			func(b *testBatcher, clk *fakeClock) []*testCall {
				mustAdd(t, b, p2p("hi", "a"), nil)
				clk.Advance(50 * time.Millisecond)
				return b.Expired(nil)
			}, ReasonLinger},
		{"a call held past its linger goes when the hold ends", testConfig{Linger: 50 * time.Millisecond}, true,
			func(b *testBatcher, clk *fakeClock) []*testCall {
				mustAdd(t, b, p2p("hi", "a"), nil)
				clk.Advance(50 * time.Millisecond)
				b.Expired(nil)
				clk.Advance(50 * time.Millisecond)
				return b.Expired(nil)
			}, ReasonHold},
		{"the fullest calls sent to free room", testConfig{}, false,
			func(b *testBatcher, _ *fakeClock) []*testCall {
				mustAdd(t, b, p2p("hi", "a"), nil)
				return b.EmitFullest(nil, 1)
			}, ReasonFullest},
		{"a flushed call says so", testConfig{}, false,
			func(b *testBatcher, _ *fakeClock) []*testCall {
				mustAdd(t, b, p2p("hi", "a"), nil)
				return b.Flush(nil)
			}, ReasonFlush},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newTestBatcher(t, tt.cfg)
			if tt.hold {
				start := clk.Now()
				b.cfg.Hold = func(*testCall, time.Time) time.Time { return start.Add(100 * time.Millisecond) }
			}
			calls := tt.cut(b, clk)
			if len(calls) != 1 || calls[0].Reason() != tt.want {
				var got []Reason
				for _, c := range calls {
					got = append(got, c.Reason())
				}
				t.Fatalf("cut %v, want one call cut for %s", got, tt.want)
			}
		})
	}
}
