package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/secret"
	"github.com/mimc-bridge/mimc-bridge/tracing"
)

// traced gives h's pipeline a tracer whose ended spans the returned
// recorder keeps, sampled as the binary samples with base.
func traced(h *harness, base sdktrace.Sampler) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(tracing.LinkSampler(base)))
	h.p.tracer = tp.Tracer("test")
	return rec
}

// producerSpan is the span context of a producer's span, sampled or not.
func producerSpan(n byte, sampled bool) trace.SpanContext {
	cfg := trace.SpanContextConfig{TraceID: trace.TraceID{0xab, n, 1}, SpanID: trace.SpanID{0xcd, n, 2}, Remote: true}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.NewSpanContext(cfg)
}

// withTraceparent is a record of value v carrying sc as its traceparent.
func withTraceparent(v string, sc trace.SpanContext) Record {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	return Record{Value: []byte(v), TraceParent: []byte(carrier.Get("traceparent"))}
}

// runUntilDone runs h until every record produced to partition 0 is
// committed.
func runUntilDone(h *harness) {
	h.start()
	for h.com.committed(0) < h.src.end(0) {
		time.Sleep(100 * time.Millisecond)
	}
	h.stop()
}

// spansNamed returns the ended spans named name.
func spansNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// eventSpan returns the span of the record at offset off.
func eventSpan(t *testing.T, rec *tracetest.SpanRecorder, off int64) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spansNamed(rec, eventSpanName) {
		if v, ok := attr(s, attrOffset); ok && v.AsInt64() == off {
			return s
		}
	}
	t.Fatalf("no event span of offset %d", off)
	return nil
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func linksTo(s sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range s.Links() {
		if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
			return true
		}
	}
	return false
}

func sameSpan(a, b trace.SpanContext) bool {
	return a.TraceID() == b.TraceID() && a.SpanID() == b.SpanID() && a.TraceFlags() == b.TraceFlags()
}

// The chain an operator follows: the producer's traceparent is the parent
// of the event's span, which is linked both ways with the span of the MIMC
// call that carried it, and the outcome record carries the event span's
// context.
func TestAnEventSpanContinuesTheInputTraceparentLinksItsCallAndParentsTheOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, mimcOK, nil)
		rec := traced(h, sdktrace.ParentBased(sdktrace.AlwaysSample()))
		alice, bob, bad := producerSpan(1, true), producerSpan(2, true), producerSpan(3, true)
		// One message to three accounts: one call carries the three events.
		offA := h.src.produceRecord(0, withTraceparent(ev("a", "alice"), alice))
		offB := h.src.produceRecord(0, withTraceparent(ev("b", "bob"), bob))
		offC := h.src.produce(0, ev("c", "carol"))[0]
		offBad := h.src.produceRecord(0, withTraceparent(`{"id":"d", not json`, bad))
		runUntilDone(h)

		calls := spansNamed(rec, callSpanName)
		if len(calls) != 1 {
			t.Fatalf("%d call spans, want 1", len(calls))
		}
		call := calls[0]
		if call.SpanKind() != trace.SpanKindClient || call.Parent().IsValid() {
			t.Errorf("call span: kind %s, parent %v; want a client root span", call.SpanKind(), call.Parent())
		}
		if v, _ := attr(call, attrEvents); v.AsInt64() != 3 {
			t.Errorf("call span carries %d events, want 3", v.AsInt64())
		}
		if v, _ := attr(call, attrPackets); v.AsInt64() != 3 {
			t.Errorf("call span has %d packets, want 3", v.AsInt64())
		}
		for off, parent := range map[int64]trace.SpanContext{offA: alice, offB: bob, offC: {}, offBad: bad} {
			s := eventSpan(t, rec, off)
			if s.SpanKind() != trace.SpanKindConsumer {
				t.Errorf("offset %d: span kind %s, want consumer", off, s.SpanKind())
			}
			switch {
			case parent.IsValid() && (s.Parent().SpanID() != parent.SpanID() || s.SpanContext().TraceID() != parent.TraceID() || !s.Parent().IsRemote()):
				t.Errorf("offset %d: span %v with parent %v, want a child of the input's traceparent %v", off, s.SpanContext(), s.Parent(), parent)
			case !parent.IsValid() && s.Parent().IsValid():
				t.Errorf("offset %d without a traceparent: parent %v, want a root span", off, s.Parent())
			}
			if got := h.pub.traceOf(off); !sameSpan(got, s.SpanContext()) {
				t.Errorf("offset %d: outcome carries traceparent %v, want the event span's %v", off, got, s.SpanContext())
			}
			if off == offBad {
				continue
			}
			if !linksTo(s, call.SpanContext()) {
				t.Errorf("offset %d: the event span does not link to its call's span", off)
			}
			if !linksTo(call, s.SpanContext()) {
				t.Errorf("offset %d: the call span does not link to the event span", off)
			}
		}

		a := eventSpan(t, rec, offA)
		want := map[attribute.Key]any{
			attrTopic: topic, attrPartition: "0", attrOffset: offA, attrID: "a", attrStatus: event.Delivered,
			attrAttempts: int64(1), attrRecipients: int64(1), attrPackets: int64(1), attrKind: "p2p",
		}
		for k, w := range want {
			if v, ok := attr(a, k); !ok || v.AsInterface() != w {
				t.Errorf("event span attribute %s = %v, want %v", k, v.AsInterface(), w)
			}
		}
		rejected := eventSpan(t, rec, offBad)
		if v, _ := attr(rejected, attrStatus); v.AsString() != event.Rejected || rejected.Status().Code != codes.Error {
			t.Errorf("rejected record's span: status attribute %q, span status %v", v.AsString(), rejected.Status())
		}
		// The span lasts until the outcome is acknowledged, after the call.
		if !a.EndTime().After(call.EndTime()) && !a.EndTime().Equal(call.EndTime()) {
			t.Errorf("event span ended at %v, before its call's at %v", a.EndTime(), call.EndTime())
		}
	})
}

// Sampled at 0% for new traces: an event continuing a sampled trace is
// recorded, and so is the call that carried it (its link makes it
// sampled), while an event of no trace is not; its outcome still carries
// a traceparent (unsampled) for the services downstream.
func TestACallCarryingASampledEventIsSampledEvenAtZeroPercent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, mimcOK, nil)
		rec := traced(h, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)))
		offA := h.src.produceRecord(0, withTraceparent(ev("a", "alice"), producerSpan(1, true)))
		offC := h.src.produce(0, ev("c", "carol"))[0]
		offO := h.src.produce(0, evFrom("o", "other-shop", "olga"))[0] // a call of its own
		runUntilDone(h)

		if n := len(spansNamed(rec, eventSpanName)); n != 1 {
			t.Errorf("%d event spans recorded, want 1 (the sampled trace's)", n)
		}
		calls := spansNamed(rec, callSpanName)
		if len(calls) != 1 || !linksTo(calls[0], eventSpan(t, rec, offA).SpanContext()) {
			t.Fatalf("%d call spans recorded, want the one linked to the sampled event", len(calls))
		}
		if !linksTo(eventSpan(t, rec, offA), calls[0].SpanContext()) {
			t.Error("the sampled event does not link to its call")
		}
		for _, off := range []int64{offC, offO} {
			sc := h.pub.traceOf(off)
			if !sc.IsValid() || sc.IsSampled() {
				t.Errorf("offset %d: outcome traceparent %v, want a valid unsampled one", off, sc)
			}
		}
	})
}

// With traces off no span is started and an outcome carries no
// traceparent, whatever its input carried.
func TestWithTracesOffOutcomesCarryNoTraceparent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, mimcOK, nil)
		off := h.src.produceRecord(0, withTraceparent(ev("a", "alice"), producerSpan(1, true)))
		runUntilDone(h)
		if sc := h.pub.traceOf(off); sc.IsValid() {
			t.Errorf("outcome carries traceparent %v with traces off", sc)
		}
		if got := h.byOffset()[tp(0)][off].Status; got != event.Delivered {
			t.Errorf("status %s, want delivered", got)
		}
	})
}

// No span, attribute, event, link or status carries the app secret: not
// through retried attempts, MIMC's refusals nor a refusal of wrong
// credentials. (The client scrubs a secret MIMC echoes: mimc's own tests.)
func TestNoSpanCarriesTheAppSecret(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const canary = "canary-secret-7f3e9a"
		srv := mimctest.New(mimctest.Config{AppID: "1", AppKey: "k", AppSecret: canary, Seed: 1})
		srv.SetFaults(mimctest.Faults{FinalCodeFor: map[string]int{"blocked": 403}})
		srv.Script(mimctest.FaultHTTP500, mimctest.FaultEnvelope500, mimctest.FaultOK)
		client := func(s string) *mimc.Client {
			c, err := mimc.New(mimc.Config{BaseURL: "http://mimc.test", HTTPClient: srv.HTTPClient(),
				Credentials: mimc.Credentials{AppID: "1", AppKey: "k", AppSecret: secret.New(s)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		right, wrong := client(canary), client("wrong-"+canary)
		push := pushFunc(func(ctx context.Context, call mimc.Call) (mimc.Result, error) {
			if call.FromAccount == "wrong" {
				return wrong.Push(ctx, call)
			}
			return right.Push(ctx, call)
		})
		h := newHarness(t, 1, push, nil)
		rec := traced(h, sdktrace.AlwaysSample())
		for i, from := range []string{"shop", "blocked", "wrong"} {
			h.src.produceRecord(0, withTraceparent(evFrom(fmt.Sprint("e", i), from, "alice"), producerSpan(byte(i), true)))
		}
		runUntilDone(h)

		spans := rec.Ended()
		attempts, errored := 0, 0
		for _, s := range spans {
			var texts []string
			texts = append(texts, s.Name(), s.Status().Description)
			kvs := append([]attribute.KeyValue(nil), s.Attributes()...)
			kvs = append(kvs, s.Resource().Attributes()...)
			for _, e := range s.Events() {
				texts = append(texts, e.Name)
				kvs = append(kvs, e.Attributes...)
				if e.Name == "mimc.attempt" {
					attempts++
				}
			}
			for _, l := range s.Links() {
				kvs = append(kvs, l.Attributes...)
				texts = append(texts, l.SpanContext.TraceState().String())
			}
			for _, kv := range kvs {
				texts = append(texts, string(kv.Key), kv.Value.String())
			}
			if s.Status().Code == codes.Error {
				errored++
			}
			for _, text := range texts {
				if strings.Contains(text, canary) {
					t.Errorf("span %s carries the app secret: %s", s.Name(), text)
				}
			}
		}
		// The test proves something only if errors and attempts were traced.
		if attempts < 4 || errored < 2 {
			t.Errorf("%d spans, %d attempt events, %d spans with an error status: too few to prove anything", len(spans), attempts, errored)
		}
	})
}
