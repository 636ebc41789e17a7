package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/secret"
	"github.com/mimc-bridge/mimc-bridge/tracing"
)

// The app the MIMC sandbox accepts.
const (
	benchAppID     = "2882303761517669588"
	benchAppKey    = "5111766983588"
	benchAppSecret = "bench-secret-0f3a"
)

// drainsAbandoned counts the drains that ran out of time in this process.
var drainsAbandoned atomic.Int64

// runBridge runs the bridge in this process (cli.Build and Run, as
// cli.RunBridge does, without the operations server) with default settings
// but for the batching flags, and follows its outcome counter.
func runBridge(ctx context.Context, spec childSpec, p *progress) error {
	cfg := config.Default()
	cfg.KafkaBrokers = spec.Brokers
	cfg.KafkaTopics = []string{spec.Topic}
	cfg.KafkaGroupID = spec.Group
	cfg.ResultsTopic = spec.Results
	cfg.MIMCURL = spec.MIMCURL
	cfg.MIMCAppID = benchAppID
	cfg.MIMCAppKey = benchAppKey
	cfg.MIMCAppSecret = secret.New(benchAppSecret)
	cfg.HTTPAddr = ""
	if spec.Linger > 0 {
		cfg.BatchLinger = spec.Linger
	}
	if spec.MaxRecipients > 0 {
		cfg.BatchMaxRecipients = spec.MaxRecipients
	}
	if spec.MaxCalls > 0 {
		cfg.MaxConcurrentCalls = spec.MaxCalls
	}
	if spec.MaxPending > 0 {
		cfg.MaxPendingEvents = spec.MaxPending
	}
	if spec.MaxPendingB > 0 {
		cfg.MaxPendingBytes = spec.MaxPendingB
	}
	cfg.RateP2P, cfg.RateP2T = spec.RateP2P, spec.RateP2T
	if spec.SessionTimeout > 0 {
		cfg.KafkaSessionTimeout = spec.SessionTimeout
	}
	if spec.Ordered {
		cfg.OrderedTopics = []string{spec.Topic}
	}
	if spec.NoDedup {
		cfg.DedupWindow = 0
	}
	if spec.Urgent != "" {
		cfg.KafkaTopics = append(cfg.KafkaTopics, spec.Urgent)
		cfg.UrgentTopics = []string{spec.Urgent}
	}
	enc := zap.NewProductionEncoderConfig()
	core := zapcore.RegisterHooks(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), zapcore.WarnLevel),
		func(e zapcore.Entry) error {
			if strings.HasPrefix(e.Message, "drain deadline passed") {
				drainsAbandoned.Add(1)
			}
			return nil
		})
	log := zap.New(core)
	met := metrics.New()
	// OTEL_* as the binary reads them: the cost of traces shows in the
	// figures (console spans would go to the report's stdout: not here).
	settings, err := tracing.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	if settings.Exporter == tracing.ExporterConsole {
		return errors.New("OTEL_TRACES_EXPORTER=console would print spans into the report: use otlp")
	}
	traces, err := tracing.Start(ctx, settings, "bench", io.Discard, func(err error) { log.Warn("tracing", zap.Error(err)) })
	if err != nil {
		return err
	}
	defer func() { _ = traces.Shutdown(context.WithoutCancel(ctx)) }()
	b, err := cli.Build(cfg, log, met, traces)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()

	consumed := met.EventsConsumed.WithLabelValues(spec.Topic)
	var outcomes []prometheus.Counter
	for _, s := range []string{event.Delivered, event.Partial, event.Failed, event.Rejected} {
		outcomes = append(outcomes, met.Outcomes.WithLabelValues(s))
	}
	value := func(c prometheus.Counter) int64 {
		var m dto.Metric
		_ = c.Write(&m)
		return int64(m.GetCounter().GetValue())
	}
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	debug := os.Getenv("BENCH_DEBUG_PENDING") != ""
	lastDebug := time.Now()
	var runErr error
loop:
	for {
		select {
		case <-p.done:
			break loop
		case err := <-done:
			runErr = err
			if runErr == nil {
				runErr = errors.New("the bridge stopped early")
			}
			break loop
		case <-t.C:
			if p.firstFetch.Load() == 0 && value(consumed) > 0 {
				p.fetched()
			}
			var n int64
			for _, c := range outcomes {
				n += value(c)
			}
			p.outcomes.Store(n)
			if debug && time.Since(lastDebug) > 250*time.Millisecond {
				lastDebug = time.Now()
				var m dto.Metric
				_ = met.PendingEvents.WithLabelValues("normal").Write(&m)
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				fmt.Fprintf(os.Stderr, "    pending %v, outcomes %d, heap %d MiB\n", m.GetGauge().GetValue(), n, ms.HeapAlloc>>20)
				if f := os.Getenv("BENCH_DEBUG_HEAP"); f != "" && ms.HeapAlloc > 100<<20 {
					if hf, err := os.Create(f); err == nil {
						_ = pprof.WriteHeapProfile(hf)
						hf.Close()
					}
				}
			}
		}
	}
	// Graceful shutdown: send what is pending, publish, commit.
	stop()
	if runErr == nil {
		runErr = <-done
	}
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	return runErr
}
