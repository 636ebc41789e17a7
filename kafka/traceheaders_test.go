package kafka

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// recordCarrier reads a record's trace headers for the W3C propagator.
type recordCarrier bridge.Record

func (c *recordCarrier) Get(k string) string {
	switch k {
	case bridge.HeaderTraceParent:
		return string(c.TraceParent)
	case bridge.HeaderTraceState:
		return string(c.TraceState)
	}
	return ""
}
func (*recordCarrier) Set(string, string) {}
func (*recordCarrier) Keys() []string {
	return []string{bridge.HeaderTraceParent, bridge.HeaderTraceState}
}

// An outcome's trace context is written as W3C headers that the
// propagator reads back, and the partition reader hands an input record's
// headers to the pipeline.
func TestTheTraceContextTravelsInW3CHeaders(t *testing.T) {
	b := newBroker(t)
	topic := b.topic("trace", 1)
	state, err := trace.ParseTraceState("vendor=abc,other=1")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled, TraceState: state,
	})
	tp := bridge.TopicPartition{Topic: "in", Partition: 0}
	b.publish(topic, "g", []bridge.Message{
		{Key: []byte("a"), Value: []byte(`{}`), Source: tp, SourceOffset: 0, Status: "delivered", Trace: sc},
		{Key: []byte("b"), Value: []byte(`{}`), Source: tp, SourceOffset: 1, Status: "delivered"},
	})
	r, err := NewPartitionReader(b.conn, bridge.Assignment{TopicPartition: bridge.TopicPartition{Topic: topic}, Offset: 0}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(first.TraceParent), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	got := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), (*recordCarrier)(&first)))
	if !got.Equal(sc.WithRemote(true)) {
		t.Errorf("read back %v, want %v", got, sc)
	}
	second, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.TraceParent != nil || second.TraceState != nil {
		t.Errorf("an outcome without a trace context has headers %q %q", second.TraceParent, second.TraceState)
	}
}

func TestTheTraceparentIsWrittenWithoutAllocating(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	hs := make([]kafkago.Header, 0, traceHeaderCount)
	buf := make([]byte, 0, traceHeaderBytes(&sc))
	allocs := testing.AllocsPerRun(100, func() {
		hs, buf = appendTraceHeaders(hs[:0], buf[:0], &sc)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per traceparent, want 0", allocs)
	}
	if len(hs) != 1 || string(hs[0].Value) != "00-01000000000000000000000000000000-0200000000000000-00" {
		t.Errorf("headers %v", hs)
	}
	var none trace.SpanContext
	if hs, _ := appendTraceHeaders(nil, nil, &none); len(hs) != 0 || traceHeaderBytes(&none) != 0 {
		t.Errorf("an invalid span context wrote headers %v", hs)
	}
}
