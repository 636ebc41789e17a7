package tracing

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// env is an environment for Load.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestTracesAreOffUnlessAnOTELVariableAsksForAnExporter(t *testing.T) {
	for _, tc := range []struct {
		name               string
		vars               map[string]string
		exporter, protocol string
	}{
		{"nothing set", nil, "", ""},
		{"only the service name and the sampler", map[string]string{"OTEL_SERVICE_NAME": "b", "OTEL_TRACES_SAMPLER": "always_on"}, "", ""},
		{"an OTLP endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ExporterOTLP, ProtocolHTTP},
		{"an OTLP traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ExporterOTLP, ProtocolHTTP},
		{"the otlp exporter alone (the SDK's default endpoint)", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, ExporterOTLP, ProtocolHTTP},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ExporterOTLP, ProtocolGRPC},
		{"the traces protocol wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, ExporterOTLP, ProtocolHTTP},
		{"console", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, ExporterConsole, ProtocolHTTP},
		{"none with an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, "", ""},
		{"the SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(env(tc.vars))
			if err != nil {
				t.Fatal(err)
			}
			if s.Exporter != tc.exporter || s.Protocol != tc.protocol || s.On() != (tc.exporter != "") {
				t.Errorf("exporter %q protocol %q on %v, want %q %q", s.Exporter, s.Protocol, s.On(), tc.exporter, tc.protocol)
			}
		})
	}
}

func TestABadOTELValueNamesItsVariable(t *testing.T) {
	on := "OTEL_EXPORTER_OTLP_ENDPOINT"
	for _, tc := range []struct{ k, v, set string }{
		{"OTEL_TRACES_EXPORTER", "zipkin", ""},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", on},
		{"OTEL_TRACES_SAMPLER", "sometimes", on},
		{"OTEL_TRACES_SAMPLER_ARG", "1.5", on},
	} {
		vars := map[string]string{tc.k: tc.v, "OTEL_TRACES_SAMPLER": "traceidratio"}
		if tc.k == "OTEL_TRACES_SAMPLER" {
			vars[tc.k] = tc.v
		}
		if tc.set != "" {
			vars[tc.set] = "http://c"
		}
		_, err := Load(env(vars))
		if err == nil || !strings.HasPrefix(err.Error(), tc.k+": ") || !strings.Contains(err.Error(), tc.v) {
			t.Errorf("%s=%s: error %v, want one naming the variable and the value", tc.k, tc.v, err)
		}
	}
}

func TestTheSamplerIsOTELTracesSampler(t *testing.T) {
	for _, tc := range []struct{ name, arg, want string }{
		{"", "", "ParentBased{root:AlwaysOnSampler"},
		{"always_off", "", "AlwaysOffSampler"},
		{"parentbased_traceidratio", "0.01", "ParentBased{root:TraceIDRatioBased{0.01}"},
		{"TraceIdRatio", "", "TraceIDRatioBased{1}"},
	} {
		s, err := Load(env(map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_TRACES_SAMPLER": tc.name, "OTEL_TRACES_SAMPLER_ARG": tc.arg}))
		if err != nil {
			t.Fatal(err)
		}
		if d := s.Sampler.Description(); !strings.HasPrefix(d, "LinkSampler{"+tc.want) {
			t.Errorf("%s %s: sampler %s, want LinkSampler{%s...", tc.name, tc.arg, d, tc.want)
		}
	}
}

func TestARootSpanLinkedToASampledSpanIsSampled(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(LinkSampler(sdktrace.ParentBased(sdktrace.NeverSample()))))
	tr := tp.Tracer("t")
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled})
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{2}, SpanID: trace.SpanID{2}})
	ctx := context.Background()
	if _, s := tr.Start(ctx, "call", trace.WithLinks(trace.Link{SpanContext: unsampled}, trace.Link{SpanContext: sampled})); !s.SpanContext().IsSampled() {
		t.Error("a root span linked to a sampled span is not sampled")
	}
	if _, s := tr.Start(ctx, "call", trace.WithLinks(trace.Link{SpanContext: unsampled})); s.SpanContext().IsSampled() {
		t.Error("a root span linked only to an unsampled span is sampled")
	}
	// A child follows its parent (the base sampler), whatever its links.
	parent := trace.ContextWithRemoteSpanContext(ctx, unsampled)
	if _, s := tr.Start(parent, "child", trace.WithLinks(trace.Link{SpanContext: sampled})); s.SpanContext().IsSampled() {
		t.Error("a child of an unsampled parent is sampled")
	}
}

func TestOffIsANoOpTracer(t *testing.T) {
	p, err := Start(context.Background(), Settings{}, "v", io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.On() {
		t.Fatal("on without an exporter")
	}
	_, span := p.Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Error("the no-op tracer made a real span")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// An in-process OTLP/HTTP receiver gets the spans, from the endpoint and
// with the service name of the environment, as a collector would.
func TestSpansGoToTheOTLPEndpointWithTheServiceName(t *testing.T) {
	var mu sync.Mutex
	var got []*coltracepb.ExportTraceServiceRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("request %s %s (%s), want POST /v1/traces of protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			t.Errorf("not an OTLP request: %v", err)
		}
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "bridge-eu")
	s, err := Load(os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(context.Background(), s, "v9", io.Discard, func(err error) { t.Errorf("exporter error: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer("t").Start(context.Background(), "mimc-bridge.event")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || len(got[0].ResourceSpans) != 1 {
		t.Fatalf("the receiver got %d requests, want 1 with one resource", len(got))
	}
	rs := got[0].ResourceSpans[0]
	attrs := map[string]string{}
	for _, kv := range rs.GetResource().GetAttributes() {
		attrs[kv.Key] = kv.GetValue().GetStringValue()
	}
	if attrs["service.name"] != "bridge-eu" || attrs["service.version"] != "v9" {
		t.Errorf("resource %v, want service.name bridge-eu (OTEL_SERVICE_NAME) and service.version v9", attrs)
	}
	if ss := rs.GetScopeSpans(); len(ss) != 1 || len(ss[0].Spans) != 1 || ss[0].Spans[0].Name != "mimc-bridge.event" {
		t.Errorf("spans %v, want the one ended", ss)
	}
}

func TestTheServiceIsNamedMimcBridgeByDefault(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "") // empty counts as unset
	var out bytes.Buffer
	p, err := Start(context.Background(), Settings{Exporter: ExporterConsole, Sampler: LinkSampler(sdktrace.AlwaysSample())}, "v", &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer("t").Start(context.Background(), "x")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Key":"service.name","Value":{"Type":"STRING","Value":"mimc-bridge"}`) {
		t.Errorf("console output without service.name mimc-bridge:\n%s", out.String())
	}
}
