package bridge

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// Traces (see package tracing for when they are on). Each input record gets
// one span, from fetch to the acknowledgement of its outcome: a child of
// the record's traceparent header when it has one, and the parent of the
// traceparent its outcome record carries. Each MIMC call gets a span of its
// own, linked (not parented: one call carries many events, each of its own
// trace) both ways with the spans of the events it carries. When traces are
// off the pipeline's tracer is nil and no span, context or attribute is
// made.

// The span names.
const (
	eventSpanName = "mimc-bridge.event"
	callSpanName  = "mimc-bridge.call"
)

// The attributes of the spans: the messaging conventions for the record,
// and the bridge's own under mimc_bridge.
const (
	attrMessagingSystem = attribute.Key("messaging.system")
	attrOperationType   = attribute.Key("messaging.operation.type")
	attrOperationName   = attribute.Key("messaging.operation.name")
	attrTopic           = attribute.Key("messaging.destination.name")
	attrPartition       = attribute.Key("messaging.destination.partition.id")
	attrOffset          = attribute.Key("messaging.kafka.offset")
	attrGroup           = attribute.Key("messaging.consumer.group.name")

	attrID         = attribute.Key("mimc_bridge.event.id")
	attrStatus     = attribute.Key("mimc_bridge.status")
	attrKind       = attribute.Key("mimc_bridge.kind")
	attrAttempts   = attribute.Key("mimc_bridge.attempts")
	attrRecipients = attribute.Key("mimc_bridge.recipients")
	attrPackets    = attribute.Key("mimc_bridge.packets") // recipients with a packetId
	attrExpired    = attribute.Key("mimc_bridge.expired") // recipients dropped as expired
	attrEvents     = attribute.Key("mimc_bridge.events")  // events a call carries
	attrUrgent     = attribute.Key("mimc_bridge.urgent")
	attrEndpoint   = attribute.Key("mimc.endpoint")
	attrHTTPStatus = attribute.Key("http.response.status_code")
	attrCode       = attribute.Key("mimc.code")
)

// abandonedStatus is the status of a span whose work a drain past its
// deadline abandoned: no outcome, the record is done again by the next
// owner of its partition.
const abandonedStatus = "abandoned at the drain deadline: no outcome, redone by the next owner"

// partitionSpans starts the event spans of one partition's records.
type partitionSpans struct {
	tracer trace.Tracer
	opts   []trace.SpanStartOption // the same for every record of the partition
	attrs  []attribute.KeyValue    // of a recorded span; the offset is last
}

// newPartitionSpans returns the span starter of partition a of group's
// input, or nil when traces are off (tracer nil).
func newPartitionSpans(tracer trace.Tracer, group string, a Assignment) *partitionSpans {
	if tracer == nil {
		return nil
	}
	// The attributes are set once a span is known to be recorded: given at
	// the start, the SDK would copy them for every span, sampled or not.
	return &partitionSpans{tracer: tracer,
		opts: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)},
		attrs: []attribute.KeyValue{
			attrMessagingSystem.String("kafka"),
			attrOperationType.String("process"),
			attrOperationName.String("process"),
			attrTopic.String(a.Topic),
			attrPartition.String(strconv.Itoa(a.Partition)),
			attrGroup.String(group),
			attrOffset.Int64(-1),
		},
	}
}

// start starts the span of record m, a child of its traceparent header.
// One goroutine (the partition's fetcher) calls it.
func (ps *partitionSpans) start(m *Record) trace.Span {
	ctx := context.Background()
	if len(m.TraceParent) > 0 {
		ctx = propagation.TraceContext{}.Extract(ctx, recordCarrier{parent: m.TraceParent, state: m.TraceState})
	}
	_, span := ps.tracer.Start(ctx, eventSpanName, ps.opts...)
	if span.IsRecording() {
		ps.attrs[len(ps.attrs)-1] = attrOffset.Int64(m.Offset) // SetAttributes copies
		span.SetAttributes(ps.attrs...)
	}
	return span
}

// recordCarrier reads the trace context headers of a record. It holds
// them, not the record: a record behind an interface would be moved to the
// heap for every record, traced or not.
type recordCarrier struct{ parent, state []byte }

func (c recordCarrier) Get(key string) string {
	switch key {
	case HeaderTraceParent:
		return string(c.parent)
	case HeaderTraceState:
		return string(c.state)
	}
	return ""
}

func (recordCarrier) Set(string, string) {}

func (recordCarrier) Keys() []string {
	return []string{HeaderTraceParent, HeaderTraceState}
}

// traceOutcome puts what out says on the record's span.
func (rec *record) traceOutcome(out *event.Outcome) {
	if rec.span == nil || !rec.span.IsRecording() {
		return
	}
	packets := 0
	for i := range out.Recipients {
		if out.Recipients[i].PacketID != "" {
			packets++
		}
	}
	rec.span.SetAttributes(
		attrID.String(out.ID),
		attrStatus.String(out.Status),
		attrKind.String(string(out.Kind)),
		attrAttempts.Int(out.Attempts),
		attrRecipients.Int(len(out.Recipients)),
		attrPackets.Int(packets),
	)
	if out.Status != event.Delivered {
		// The outcome's error: it never holds the app secret.
		rec.span.SetStatus(codes.Error, out.Error)
	}
}

// spanContext is the context of span, zero without one.
func spanContext(span trace.Span) trace.SpanContext {
	if span == nil {
		return trace.SpanContext{}
	}
	return span.SpanContext()
}

// abandonSpan ends span as abandoned.
func abandonSpan(span trace.Span) {
	if span != nil {
		span.SetStatus(codes.Error, abandonedStatus)
		span.End()
	}
}

// eventsOf calls f once per event of c (an event's recipients are
// consecutive in a call).
func eventsOf(c *call, f func(rec *record)) {
	var prev *batching.Event[*record]
	for i := range c.Recipients.Len() {
		if e := c.EventOf(i); e != prev {
			prev = e
			f(e.Data)
		}
	}
}

// startCallSpan starts the span of call c, linked to the sampled spans of
// its events (a linked sampled span makes it sampled: tracing.LinkSampler),
// and returns ctx with it for the client's attempt events.
func startCallSpan(ctx context.Context, tracer trace.Tracer, c *call, mc *mimc.Call) (context.Context, trace.Span) {
	var links []trace.Link
	events := 0
	eventsOf(c, func(rec *record) {
		events++
		if sc := spanContext(rec.span); sc.IsSampled() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	})
	return tracer.Start(ctx, callSpanName,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(links...),
		trace.WithAttributes(
			attrEndpoint.String(mc.Endpoint()),
			attrKind.String(string(mc.Kind)),
			attrRecipients.Int(mc.Recipients.Len()),
			attrEvents.Int(events),
			attrUrgent.Bool(policyOf(ctx).prio == urgent),
		))
}

// endCallSpan ends the span of call c with MIMC's answer, and links the
// spans of its events to it.
func endCallSpan(span trace.Span, c *call, res *mimc.Result, err error) {
	if span.IsRecording() {
		packets := 0
		for _, id := range res.PacketIDs {
			if id != "" {
				packets++
			}
		}
		attempts := res.Attempts
		var me *mimc.Error
		if errors.As(err, &me) {
			attempts = me.Attempts
			if me.HTTPStatus != 0 {
				span.SetAttributes(attrHTTPStatus.Int(me.HTTPStatus))
			}
			if me.Code != 0 {
				span.SetAttributes(attrCode.Int(me.Code))
			}
		}
		span.SetAttributes(attrAttempts.Int(attempts), attrPackets.Int(packets), attrExpired.Int(len(res.Withdrawn)))
		if err != nil {
			// mimc errors never hold the app secret.
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
	link := trace.Link{SpanContext: span.SpanContext()}
	if !link.SpanContext.IsSampled() {
		return
	}
	eventsOf(c, func(rec *record) {
		if rec.span != nil {
			rec.span.AddLink(link)
		}
	})
}
