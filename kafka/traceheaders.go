package kafka

import (
	"encoding/hex"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// traceHeaderCount is how many headers appendTraceHeaders adds at most.
const traceHeaderCount = 2

// traceParentLen is the length of a version 00 traceparent:
// 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>.
const traceParentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2

// appendTraceHeaders appends the trace context headers of sc, when it is
// valid. Their values go into buf, which must not grow while the headers
// are in use: the caller sizes it (traceHeaderBytes).
func appendTraceHeaders(hs []kafkago.Header, buf []byte, sc *trace.SpanContext) ([]kafkago.Header, []byte) {
	if !sc.IsValid() {
		return hs, buf
	}
	start := len(buf)
	buf = appendTraceParent(buf, sc)
	hs = append(hs, kafkago.Header{Key: bridge.HeaderTraceParent, Value: buf[start:len(buf):len(buf)]})
	if ts := sc.TraceState(); ts.Len() > 0 {
		start = len(buf)
		buf = append(buf, ts.String()...)
		hs = append(hs, kafkago.Header{Key: bridge.HeaderTraceState, Value: buf[start:len(buf):len(buf)]})
	}
	return hs, buf
}

// appendTraceParent appends the traceparent of sc without allocating.
func appendTraceParent(buf []byte, sc *trace.SpanContext) []byte {
	tid, sid, flags := sc.TraceID(), sc.SpanID(), sc.TraceFlags()
	buf = append(buf, "00-"...)
	buf = hex.AppendEncode(buf, tid[:])
	buf = append(buf, '-')
	buf = hex.AppendEncode(buf, sid[:])
	buf = append(buf, '-')
	return hex.AppendEncode(buf, []byte{byte(flags)})
}

// traceHeaderBytes is the room appendTraceHeaders needs in buf for sc.
func traceHeaderBytes(sc *trace.SpanContext) int {
	if !sc.IsValid() {
		return 0
	}
	n := traceParentLen
	if ts := sc.TraceState(); ts.Len() > 0 {
		n += len(ts.String())
	}
	return n
}
