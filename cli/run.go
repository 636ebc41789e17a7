package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/ops"
	"github.com/mimc-bridge/mimc-bridge/tracing"
)

func runCommand(ctx context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	ld := config.Register(fs, getenv)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	cfg, err := ld.Config()
	if err == nil {
		err = cfg.Validate(true)
	}
	if err != nil {
		// A misspelt variable is often why a setting is missing: say so
		// next to the error.
		warnUnknownEnv(s.Err, "run")
		return settingsErr(s.Err, "run", err)
	}
	log, err := NewLogger(cfg.LogLevel, cfg.LogFormat, s.Err)
	if err != nil {
		warnUnknownEnv(s.Err, "run")
		fmt.Fprintf(s.Err, "mimc-bridge run: %v\n", err)
		return ExitUsage
	}
	defer func() { _ = log.Sync() }()
	// In the log's format, so that a log pipeline reads them.
	for _, u := range unknownEnv() {
		log.Warn("an environment variable is not a setting and is ignored",
			zap.String("variable", u.Var), zap.String("closest_setting", u.Closest))
	}
	if _, err := tracing.Load(getenv); err != nil {
		return settingsErr(s.Err, "run", err)
	}
	log.Info("starting mimc-bridge", append([]zap.Field{zap.String("version", Version)}, cfg.Fields()...)...)
	stopWatchdog := shutdownWatchdog(ctx, cfg.ShutdownTimeout, log)
	defer stopWatchdog()
	if err := RunBridge(ctx, cfg, log); err != nil {
		// One plain line, not a log record too: this is what an operator
		// reads first when start-up fails.
		_ = log.Sync()
		fmt.Fprintf(s.Err, "mimc-bridge: %v\n", err)
		return ExitFailed
	}
	log.Info("mimc-bridge stopped cleanly")
	return ExitOK
}

// RunBridge probes the brokers, then runs the bridge and its operations
// server until ctx ends, drains and returns. cfg must have passed
// cfg.Validate(true): it is not checked again.
func RunBridge(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	return runBridge(ctx, cfg, log, metrics.New(), nil)
}

// runBridge is RunBridge with the metrics given, so that the demo can read
// its counters in process, and optionally the operations server's listener
// already bound (the demo binds it first to learn the port of HTTP_ADDR
// host:0); without one it binds HTTP_ADDR after the probe. It closes ln.
func runBridge(ctx context.Context, cfg config.Config, log *zap.Logger, met *metrics.Metrics, ln net.Listener) error {
	if ln != nil {
		defer ln.Close() // when it returns before serving; Serve closes it too
	}
	traces, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing(traces, log)
	b, err := Build(cfg, log, met, traces)
	if err != nil {
		return err
	}
	if err := b.Probe(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	var srv *ops.Server
	switch {
	case ln != nil:
		srv = ops.New(ln, met.Registry, b.Health().Ready, log)
	case cfg.HTTPAddr != "":
		if srv, err = ops.Listen(ctx, cfg.HTTPAddr, met.Registry, b.Health().Ready, log); err != nil {
			return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
		}
	}
	if srv != nil {
		log.Info("serving /metrics, /healthz and /readyz", zap.String("addr", srv.Addr()))
		g.Go(func() error { return srv.Serve(gctx) })
	}
	g.Go(func() error { return b.Run(gctx) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// startTracing starts the traces the OTEL_* variables ask for (a no-op
// tracer when they ask for none).
func startTracing(ctx context.Context, log *zap.Logger) (*tracing.Provider, error) {
	settings, err := tracing.Load(getenv)
	if err != nil {
		return nil, err
	}
	traces, err := tracing.Start(ctx, settings, Version, os.Stdout, func(err error) {
		log.Warn("tracing", zap.Error(err))
	})
	if err != nil {
		return nil, err
	}
	if traces.On() {
		log.Info("exporting traces", zap.String("exporter", settings.Exporter), zap.String("protocol", settings.Protocol),
			zap.String("sampler", settings.Sampler.Description()))
	}
	return traces, nil
}

// stopTracing exports the spans still queued, within a bound.
func stopTracing(traces *tracing.Provider, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), tracing.ShutdownTimeout)
	defer cancel()
	if err := traces.Shutdown(ctx); err != nil {
		log.Warn("stopping the traces", zap.Error(err))
	}
}

// shutdownWatchdog forces the process out when a shutdown, once ctx ends,
// takes longer than SHUTDOWN_TIMEOUT plus a margin for the last commit:
// nothing uncommitted is lost, it is consumed again. The returned func stops
// it. Only the run command uses it; in-process users (demo, tests) must not
// be exited under.
func shutdownWatchdog(ctx context.Context, timeout time.Duration, log *zap.Logger) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		log.Info("shutting down: stop fetching, send what is pending, publish, commit",
			zap.Duration("deadline", timeout))
		t := time.NewTimer(timeout + 5*time.Second)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			log.Error("shutdown deadline passed: forcing exit; uncommitted events will be consumed again")
			_ = log.Sync()
			os.Exit(ExitFailed)
		}
	}()
	return func() { close(done) }
}

// TuneGC sets the collector's default for the bridge unless GOGC is set:
// the pipeline allocates briefly per event and holds at most
// MAX_PENDING_EVENTS, so collecting half as often saves about a quarter of
// the CPU per event for ~25 MiB more RSS (measured with go run ./bench).
//
// It also sets a soft memory limit of 80 MiB unless GOMEMLIMIT is set: with
// the pending room full (MAX_PENDING_BYTES, 24 MiB by default) GOGC=200 alone
// lets the heap reach three times what is live, past 128 MiB of RSS; near the
// limit the collector runs sooner instead. 80 MiB leaves room within 128 MiB
// for the dedup window, which lives off the Go heap (31 MiB at
// DEDUP_MAX_IDS=1000000), and the runtime's own: at 88 MiB the load tool's
// 1M backlog, which fills the window, peaked at 132 MiB, at 80 MiB at
// 122-124 MiB for the same CPU per event.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(200)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(80 << 20)
	}
}

// NewLogger builds the zap logger for LOG_LEVEL and LOG_FORMAT.
func NewLogger(level, format string, w interface{ Write([]byte) (int, error) }) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.TimeKey = "ts"
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	case "json", "":
		enc = zapcore.NewJSONEncoder(encCfg)
	default:
		return nil, fmt.Errorf("LOG_FORMAT: unknown format %q", format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core), nil
}
