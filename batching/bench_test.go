package batching

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// benchRound is one round of a benchmark: every event, grouped in waves that
// are added together, then flushed and resolved.
type benchRound struct {
	waves      [][]*testEvent
	events     int
	recipients int
}

// sharedRound: 10k distinct messages of 100 recipients each, every message
// split into events of 1 to 4 recipients; the events of 50 messages at a
// time arrive interleaved.
func sharedRound() *benchRound {
	r := rand.New(rand.NewPCG(1, 2))
	round := &benchRound{}
	const messages, perMessage, perWave = 10_000, 100, 50
	accounts := make([]string, perMessage)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("user-%06d", i)
	}
	for w := 0; w < messages; w += perWave {
		var byMsg [][]*testEvent
		for m := w; m < w+perWave; m++ {
			c := &message.Content{Kind: message.P2P, FromAccount: "shop", FromResource: "srv1", BizType: "ORDER",
				Msg: fmt.Sprintf("Your order %d has shipped and will arrive tomorrow", m)}
			var evs []*testEvent
			for i := 0; i < perMessage; {
				n := min(1+r.IntN(4), perMessage-i)
				evs = append(evs, newEvent(c, message.Recipients{ToAccounts: accounts[i : i+n]}))
				i += n
				round.recipients += n
			}
			byMsg = append(byMsg, evs)
		}
		var wave []*testEvent
		for more := true; more; {
			more = false
			for i, evs := range byMsg {
				if len(evs) > 0 {
					wave = append(wave, evs[0])
					byMsg[i] = evs[1:]
					more = true
				}
			}
		}
		round.events += len(wave)
		round.waves = append(round.waves, wave)
	}
	return round
}

// distinctRound: 10k events, each its own message with one recipient.
func distinctRound() *benchRound {
	const events = 10_000
	wave := make([]*testEvent, events)
	for i := range wave {
		wave[i] = newEvent(&message.Content{Kind: message.P2P, FromAccount: "shop", Msg: fmt.Sprintf("Your code is %06d", i)},
			message.Recipients{ToAccounts: []string{fmt.Sprintf("user-%06d", i)}})
	}
	return &benchRound{waves: [][]*testEvent{wave}, events: events, recipients: events}
}

func benchmarkRound(b *testing.B, round *benchRound) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	// jsonSize does the work of measuring MIMC's bodies (mimc.BodySize).
	// Distinct recipients, as the bridge's events from event.Decode are.
	bt, err := New(testConfig{Now: clk.Now, Size: jsonSize{}, DistinctRecipients: true})
	if err != nil {
		b.Fatal(err)
	}
	results := make([]Result, DefaultMaxRecipients)
	for i := range results {
		results[i] = Result{PacketID: "pk", Attempts: 1}
	}
	calls := make([]*testCall, 0, 1024)
	completed := 0
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, wave := range round.waves {
			for _, ev := range wave {
				calls, err = addEvent(bt, ev, calls)
				if err != nil {
					b.Fatal(err)
				}
				for _, c := range calls {
					completed += len(c.Resolve(results[:c.Recipients.Len()]...))
				}
				calls = calls[:0]
			}
			clk.Advance(time.Millisecond)
			calls = bt.Flush(calls)
			for _, c := range calls {
				completed += len(c.Resolve(results[:c.Recipients.Len()]...))
			}
			calls = calls[:0]
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	if completed != b.N*round.events || bt.Pending() != 0 {
		b.Fatalf("completed %d events, want %d; %d pending", completed, b.N*round.events, bt.Pending())
	}
	events := float64(b.N * round.events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	b.ReportMetric(float64(b.N*round.recipients)/b.Elapsed().Seconds(), "recipients/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/events, "allocs/event")
}

func BenchmarkSharedMessages(b *testing.B) { benchmarkRound(b, sharedRound()) }

func BenchmarkDistinctMessages(b *testing.B) { benchmarkRound(b, distinctRound()) }
