package bridge

import (
	"strconv"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// delivered returns n records of 3 recipients each, sent in one call and
// resolved with packet ids, as the senders hand them to outcome.
func delivered(b *testing.B, n int) []*record {
	b.Helper()
	bt, err := batching.New(batching.Config{MaxRecipients: 3 * n})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*record, n)
	var calls []*batching.Call
	for i := range recs {
		ev := event.Event{
			ID: "e" + strconv.Itoa(i) + "-1764097200000000000",
			Content: message.Content{Kind: message.P2P, FromAccount: "shop", FromResource: "campaigns",
				Msg: "Campaign 17: spring sale", BizType: "PROMO"},
			Recipients: message.Recipients{ToAccounts: []string{"u" + strconv.Itoa(i) + "x0", "u" + strconv.Itoa(i) + "x1", "u" + strconv.Itoa(i) + "x2"}},
		}
		rec := &record{tp: consumer.TopicPartition{Topic: "mimc.push", Partition: i % 8}, offset: int64(1000 + i),
			receivedAt: time.Now(), ev: ev}
		toBatching(&rec.Event, &rec.ev)
		rec.Event.Data = rec
		recs[i] = rec
		if calls, err = bt.Add(&rec.Event, calls); err != nil {
			b.Fatal(err)
		}
	}
	calls = bt.Flush(calls)
	for _, c := range calls {
		results := make([]batching.Result, c.Recipients.Len())
		for i := range results {
			results[i] = batching.Result{PacketID: "k3f9x-" + strconv.Itoa(1000000+i), Attempts: 1}
		}
		c.Resolve(results...)
	}
	return recs
}

// BenchmarkOutcome is the senders' work per completed event: build the
// outcome and encode it for the writer.
func BenchmarkOutcome(b *testing.B) {
	recs := delivered(b, 64)
	now := time.Now()
	bytes := 0
	b.ReportAllocs()
	start := time.Now()
	n := 0
	var scratch []event.Recipient
	for b.Loop() {
		rec := recs[n%len(recs)]
		out := outcomeOf(rec, now, scratch)
		scratch = out.Recipients[:0]
		it := completed(rec, now, &out)
		bytes += len(it.value)
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/float64(n), "bytes/outcome")
}
