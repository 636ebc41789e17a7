// Package tracing sets up OpenTelemetry traces from the standard OTEL_*
// environment variables. Traces are off, with a no-op tracer that costs
// nothing, unless OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_TRACES_EXPORTER asks for an
// exporter. The SDK and its OTLP exporters read the rest themselves
// (endpoint, headers, timeouts, TLS, OTEL_BSP_* batching, OTEL_SPAN_*
// limits, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES); this package
// reads the sampler itself so that a span linked to a sampled span is
// sampled too (see LinkSampler).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The variables this package reads; the SDK reads the others.
const (
	EnvDisabled       = "OTEL_SDK_DISABLED"
	EnvExporter       = "OTEL_TRACES_EXPORTER"
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvSampler        = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
)

// The exporters of OTEL_TRACES_EXPORTER.
const (
	ExporterOTLP    = "otlp"
	ExporterConsole = "console" // JSON lines on standard output, for a quick look
	ExporterNone    = "none"
)

// The protocols of OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL.
const (
	ProtocolHTTP = "http/protobuf" // the default, port 4318
	ProtocolGRPC = "grpc"          // port 4317
)

// Settings is what the environment asks for.
type Settings struct {
	// Exporter is "" (traces off), ExporterOTLP or ExporterConsole.
	Exporter string
	// Protocol is the OTLP protocol, ProtocolHTTP or ProtocolGRPC.
	Protocol string
	// Sampler is OTEL_TRACES_SAMPLER with OTEL_TRACES_SAMPLER_ARG
	// (parentbased_always_on when unset), wrapped by LinkSampler.
	Sampler sdktrace.Sampler
}

// On reports whether spans are exported.
func (s Settings) On() bool { return s.Exporter != "" }

// Load reads the settings from the environment through getenv (os.LookupEnv
// in the binary). An error names the variable at fault.
func Load(getenv func(string) (string, bool)) (Settings, error) {
	env := func(k string) string { v, _ := getenv(k); return strings.TrimSpace(v) }
	var s Settings
	if strings.EqualFold(env(EnvDisabled), "true") {
		return s, nil
	}
	exporter := strings.ToLower(env(EnvExporter))
	switch exporter {
	case "":
		if env(EnvEndpoint) != "" || env(EnvTracesEndpoint) != "" {
			exporter = ExporterOTLP
		}
	case ExporterOTLP, ExporterConsole:
	case ExporterNone:
		exporter = ""
	default:
		return Settings{}, fmt.Errorf("%s: unsupported exporter %s: otlp, console or none", EnvExporter, strconv.Quote(exporter))
	}
	if exporter == "" {
		return s, nil
	}
	s.Exporter = exporter
	s.Protocol = ProtocolHTTP
	for _, k := range []string{EnvTracesProtocol, EnvProtocol} {
		if p := strings.ToLower(env(k)); p != "" {
			if p != ProtocolHTTP && p != ProtocolGRPC {
				return Settings{}, fmt.Errorf("%s: unsupported protocol %s: http/protobuf or grpc", k, strconv.Quote(p))
			}
			s.Protocol = p
			break
		}
	}
	base, err := sampler(env(EnvSampler), env(EnvSamplerArg))
	if err != nil {
		return Settings{}, err
	}
	s.Sampler = LinkSampler(base)
	return s, nil
}

// sampler is the SDK's reading of OTEL_TRACES_SAMPLER and its argument,
// except that a bad value is an error (the SDK falls back to always on).
func sampler(name, arg string) (sdktrace.Sampler, error) {
	ratio := func() (sdktrace.Sampler, error) {
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("%s: %s is not a ratio from 0 to 1", EnvSamplerArg, strconv.Quote(arg))
		}
		return sdktrace.TraceIDRatioBased(v), nil
	}
	switch strings.ToLower(name) {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return ratio()
	case "parentbased_traceidratio":
		r, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(r), nil
	}
	return nil, fmt.Errorf("%s: unsupported sampler %s: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
		EnvSampler, strconv.Quote(name))
}

// LinkSampler samples a root span that links to a sampled span, and leaves
// every other decision to base. A MIMC call carries many events, each in a
// trace of its own, and links to their spans: the call is recorded whenever
// one of its events is, so a sampled event's trace never ends in a link to a
// call that was dropped.
func LinkSampler(base sdktrace.Sampler) sdktrace.Sampler { return linkSampler{base: base} }

type linkSampler struct{ base sdktrace.Sampler }

func (s linkSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if !trace.SpanContextFromContext(p.ParentContext).IsValid() {
		for _, l := range p.Links {
			if l.SpanContext.IsSampled() {
				return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
			}
		}
	}
	return s.base.ShouldSample(p)
}

func (s linkSampler) Description() string { return "LinkSampler{" + s.base.Description() + "}" }

// Provider is the tracer provider of the process: the SDK's when traces are
// on, else a no-op one.
type Provider struct {
	trace.TracerProvider
	sdk *sdktrace.TracerProvider // nil when off
}

// On reports whether spans are recorded and exported.
func (p *Provider) On() bool { return p.sdk != nil }

// Off returns the no-op provider.
func Off() *Provider { return &Provider{TracerProvider: noop.NewTracerProvider()} }

// Start returns the provider s asks for: a no-op one when traces are off,
// else the SDK's with a batching exporter. console receives the spans of
// ExporterConsole. Nothing is dialled: an unreachable collector shows later,
// in the errors the SDK reports to onError (the process's OpenTelemetry
// error handler).
func Start(ctx context.Context, s Settings, version string, console io.Writer, onError func(error)) (*Provider, error) {
	if !s.On() {
		return Off(), nil
	}
	if onError != nil {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(onError))
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch {
	case s.Exporter == ExporterConsole:
		exp, err = stdouttrace.New(stdouttrace.WithWriter(console))
	case s.Protocol == ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the %s trace exporter: %w", s.Exporter, err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "mimc-bridge"), attribute.String("service.version", version)),
		resource.WithFromEnv())
	if err != nil && res == nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp), // OTEL_BSP_*: a bounded queue, dropped when full
		sdktrace.WithResource(res),
		sdktrace.WithSampler(s.Sampler),
	)
	return &Provider{TracerProvider: sdk, sdk: sdk}, nil
}

// Shutdown exports the spans still queued, within ctx, and stops the
// exporter. It does nothing when traces are off.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	err := p.sdk.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("exporting the last spans: %w", err)
	}
	return err
}

// ShutdownTimeout bounds Shutdown at the end of a run.
const ShutdownTimeout = 5 * time.Second
