package bridge

import (
	"context"
	"strconv"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/tracing"
)

// delivered returns n records of 3 recipients each, sent in one call and
// resolved with packet ids, as the senders hand them to outcome.
func delivered(b *testing.B, n int) []*record {
	b.Helper()
	bt, err := batching.New(batching.Config[*record]{MaxRecipients: 3 * n})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*record, n)
	var calls []*call
	for i := range recs {
		ev := event.Event{
			ID: "e" + strconv.Itoa(i) + "-1764097200000000000",
			Content: message.Content{Kind: message.P2P, FromAccount: "shop", FromResource: "campaigns",
				Msg: "Campaign 17: spring sale", BizType: "PROMO"},
			Recipients: message.Recipients{ToAccounts: []string{"u" + strconv.Itoa(i) + "x0", "u" + strconv.Itoa(i) + "x1", "u" + strconv.Itoa(i) + "x2"}},
		}
		rec := &record{tp: TopicPartition{Topic: "mimc.push", Partition: i % 8}, offset: int64(1000 + i),
			receivedAt: time.Now(), ev: ev}
		rec.batch.Data = rec
		recs[i] = rec
		if calls, err = bt.Add(&rec.batch, &rec.ev.Content, rec.ev.Recipients, calls); err != nil {
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

// BenchmarkEventTracing is the bridge's own work per event from fetch to
// outcome, without I/O: decode, batch into calls of 64, the call's answer,
// the outcome and its encoding, with every span, link and attribute traces
// add. Compare traces off (the binary's default) with traces on at 1% and
// at 100% sampling (spans exported in batches to an exporter that drops
// them).
func BenchmarkEventTracing(b *testing.B) {
	for _, tc := range []struct {
		name    string
		sampler sdktrace.Sampler // nil: traces off
	}{
		{"traces=off", nil},
		{"traces=on,sampled=1%", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))},
		{"traces=on,sampled=100%", sdktrace.ParentBased(sdktrace.AlwaysSample())},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var tracer trace.Tracer
			if tc.sampler != nil {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()),
					sdktrace.WithSampler(tracing.LinkSampler(tc.sampler)))
				defer func() { _ = tp.Shutdown(context.Background()) }()
				tracer = tp.Tracer("bench")
			}
			benchEvents(b, tracer)
		})
	}
}

func benchEvents(b *testing.B, tracer trace.Tracer) {
	const perCall = 64
	at := TopicPartition{Topic: "mimc.push", Partition: 3}
	spans := newPartitionSpans(tracer, "mimc-bridge", Assignment{TopicPartition: at})
	cfg := fetchConfig{limits: event.Limits{MaxMsgBytes: 10240, MaxIDBytes: 256, MaxRecipients: 1000, DefaultFromResource: "campaigns"}}
	bt, err := batching.New(batching.Config[*record]{MaxRecipients: perCall, MaxPendingEvents: 1 << 20, Linger: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	values := make([][]byte, perCall)
	results := make([]batching.Result, perCall)
	ids := make([]string, perCall)
	for i := range values {
		values[i] = []byte(`{"id":"order-` + strconv.Itoa(i) + `-shipped","fromAccount":"shop","toAccount":"u` + strconv.Itoa(i) +
			`","msg":"Your order shipped","bizType":"ORDER"}`)
		ids[i] = "k3f9x-" + strconv.Itoa(1000000+i)
		results[i] = batching.Result{PacketID: ids[i], Attempts: 1}
	}
	var (
		calls   []*call
		scratch []event.Recipient
		msgs    = make([]Message, 0, perCall)
		n       int64
		ctx     = context.Background()
	)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		m := Record{Topic: at.Topic, Partition: at.Partition, Offset: n, Value: values[n%perCall], Time: start}
		n++
		rec := newRecord(at, &m, &cfg, normal, spans)
		if calls, err = bt.Add(&rec.batch, &rec.ev.Content, rec.ev.Recipients, calls[:0]); err != nil {
			b.Fatal(err)
		}
		for _, c := range calls {
			mc := toMIMC(c)
			var span trace.Span
			if tracer != nil {
				_, span = startCallSpan(ctx, tracer, c, &mc)
			}
			res := mimc.Result{PacketIDs: ids[:c.Recipients.Len()], Attempts: 1}
			if span != nil {
				endCallSpan(span, c, &res, nil)
			}
			now := time.Now()
			msgs = msgs[:0]
			for _, e := range c.Resolve(results[:c.Recipients.Len()]...) {
				rec := e.Data
				out := outcomeOf(rec, now, scratch)
				scratch = out.Recipients[:0]
				it := completed(rec, now, &out)
				msgs = append(msgs, Message{Key: it.key, Value: it.value, Source: it.tp, SourceOffset: it.offset,
					Status: it.status, Trace: spanContext(it.span)})
				if it.span != nil {
					it.span.End()
				}
			}
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}
