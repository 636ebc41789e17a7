package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/demo"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
	"github.com/mimc-bridge/mimc-bridge/secret"
)

// The sandbox's app: any values do, the bridge and the sandbox only have to
// agree.
const (
	sandboxAppID     = "2882303761517000000"
	sandboxAppKey    = "5881700000000"
	sandboxAppSecret = "demo-sandbox-secret"
)

// demoUrgentTopic is the urgent topic the demo adds when neither
// KAFKA_TOPICS nor URGENT_TOPICS is given.
const demoUrgentTopic = "mimc.push.urgent"

// demoOptions are the demo's own flags.
type demoOptions struct {
	events     int
	spread     time.Duration
	keep       bool
	dataDir    string
	brokerPort int
	partitions int
	deadline   time.Duration
	logFile    string
	mimcQuota  float64
}

// check returns one message per flag out of its range, naming the flag.
func (o demoOptions) check() []string {
	var bad []string
	if o.events < 1 {
		bad = append(bad, fmt.Sprintf("--events must be at least 1, got %d", o.events))
	}
	if o.spread < 0 {
		bad = append(bad, fmt.Sprintf("--spread must not be negative, got %s", o.spread))
	}
	if o.brokerPort < 0 || o.brokerPort > 65535 {
		bad = append(bad, fmt.Sprintf("--broker-port must be 0 (a free port) to 65535, got %d", o.brokerPort))
	}
	if o.partitions < 1 {
		bad = append(bad, fmt.Sprintf("--partitions must be at least 1, got %d", o.partitions))
	}
	if o.deadline <= 0 {
		bad = append(bad, fmt.Sprintf("--deadline must be positive, got %s", o.deadline))
	}
	if !(o.mimcQuota >= 0) || math.IsInf(o.mimcQuota, 0) {
		bad = append(bad, fmt.Sprintf("--mimc-quota must be a number >= 0, got %v", o.mimcQuota))
	}
	return bad
}

// demoCommand runs the whole system on one machine: an embedded Kafka broker
// (kfake), a MIMC sandbox (mimctest) unless app credentials are given, the
// bridge in process, and a burst of sample events; it reports progress and
// a summary, and exits 0 once every sample event has its outcome.
func demoCommand(ctx context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o demoOptions
	fs.IntVar(&o.events, "events", 1000, "sample events to produce")
	fs.DurationVar(&o.spread, "spread", 2*time.Second, "produce the sample events in waves over this long (0: all at once)")
	fs.BoolVar(&o.keep, "keep", false, "after the burst keep everything running until Ctrl-C, and print how to produce and read with kcat, send and outcomes")
	fs.StringVar(&o.dataDir, "data-dir", "", "keep the broker's data in this directory across runs (default: in memory)")
	fs.IntVar(&o.brokerPort, "broker-port", 0, "port of the embedded broker on 127.0.0.1 (0: a free port)")
	fs.IntVar(&o.partitions, "partitions", 4, "partitions of the topics the demo creates")
	fs.DurationVar(&o.deadline, "deadline", time.Minute, "fail when the outcomes of the burst have not all arrived by then")
	fs.StringVar(&o.logFile, "log-file", "", "write the bridge's logs to this file (default: bridge.log in a new temporary directory)")
	fs.Float64Var(&o.mimcQuota, "mimc-quota", 0, "the sandbox counts an app quota of this many recipients per second of each kind and answers code 429 past it, as MIMC does; RATE_P2P and RATE_P2T default to it (0: no quota)")
	ld := config.Register(fs, getenv)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	if bad := o.check(); len(bad) > 0 {
		for _, msg := range bad[:len(bad)-1] {
			fmt.Fprintf(s.Err, "mimc-bridge demo: %s\n", msg)
		}
		return usageErr(s, "demo", "%s", bad[len(bad)-1])
	}
	warnUnknownEnv(s.Err, "demo")
	// Validated once, in run, after the demo has put its own broker and
	// sandbox in: what it ignores (a CA file, a secret file) is not read.
	cfg, err := ld.Config()
	if err != nil {
		return settingsErr(s.Err, "demo", err)
	}
	d := &demoRun{opts: o, cfg: cfg, given: ld.Given, out: &lockedWriter{w: s.Out}, errw: s.Err}
	return d.run(ctx)
}

// demoRun is one run of the demo.
type demoRun struct {
	opts  demoOptions
	cfg   config.Config
	given func(name string) bool // whether a setting was given (flag or environment)
	out   *lockedWriter
	errw  io.Writer

	broker  *kfake.Cluster
	admin   *kafka.Admin
	sandbox *mimctest.Server // nil with the real MIMC
	logPath string
	track   *demoTracker
	bridge  *demoBridge
}

func (d *demoRun) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

func (d *demoRun) fail(format string, args ...any) int {
	fmt.Fprintf(d.errw, "mimc-bridge demo: "+format+"\n", args...)
	return ExitFailed
}

// run starts everything, produces the burst, reports, and with --keep keeps
// running until ctx ends. Each step undoes itself when run returns.
func (d *demoRun) run(ctx context.Context) int {
	for _, name := range []string{"KAFKA_BROKERS", "KAFKA_TLS", "KAFKA_TLS_CA_FILE", "KAFKA_SASL_MECHANISM"} {
		if d.given(name) {
			fmt.Fprintf(d.errw, "mimc-bridge demo: note: %s%s is ignored: the demo runs its own broker\n", config.EnvPrefix, name)
		}
	}
	if !d.given("KAFKA_TOPICS") && !d.given("URGENT_TOPICS") {
		// Show an urgent topic beside the default one.
		d.cfg.KafkaTopics = append(d.cfg.KafkaTopics, demoUrgentTopic)
		d.cfg.UrgentTopics = []string{demoUrgentTopic}
	}
	if !d.given("ORDERED_TOPICS") {
		// The sample conversations go to the first input topic: their
		// messages reach MIMC in order.
		d.cfg.OrderedTopics = []string{d.cfg.KafkaTopics[0]}
	}
	closeBroker, err := d.startBroker()
	if err != nil {
		return d.fail("%v", err)
	}
	defer closeBroker()
	closeMIMC, err := d.startMIMC()
	if err != nil {
		return d.fail("%v", err)
	}
	defer closeMIMC()
	if !d.given("HTTP_ADDR") {
		d.cfg.HTTPAddr = "127.0.0.1:0" // :8080 may be taken
	}
	if err := d.cfg.Validate(true); err != nil {
		return settingsErr(d.errw, "demo", err)
	}
	log, closeLog, err := d.openLog()
	if err != nil {
		return d.fail("%v", err)
	}
	defer closeLog()
	if err := d.createTopics(ctx); err != nil {
		return d.fail("%v", err)
	}
	ln, err := d.listenHTTP(ctx)
	if err != nil {
		return d.fail("%v", err)
	}
	d.printHeader()

	d.bridge = startDemoBridge(ctx, d.cfg, log, ln)
	defer func() { _ = d.bridge.stop() }()
	if err := d.waitReady(ctx); err != nil {
		return d.fail("%v (logs: %s)", err, d.logPath)
	}
	samples := demo.Samples(d.opts.events, demo.Options{Refused: d.sandbox != nil, Seed: uint64(time.Now().UnixNano()), Prefix: runPrefix(),
		Urgent: len(d.cfg.UrgentTopics) > 0, Expiring: true, Conversations: true, Duplicates: d.cfg.DedupWindow > 0})
	d.track = newDemoTracker(samples)
	stopFollow, err := d.followOutcomes(ctx)
	if err != nil {
		return d.fail("%v", err)
	}
	defer stopFollow()
	if code := d.burst(ctx, samples); code != ExitOK {
		return code
	}
	if d.opts.keep {
		if code := d.keepRunning(ctx); code != ExitOK {
			return code
		}
	} else {
		d.printf("\nNext: `%s demo --keep` keeps it all running and shows how to produce events with kcat or `send`.\n", progName(os.Args[0]))
	}
	stopFollow()
	if err := d.bridge.stop(); err != nil {
		return d.fail("the bridge stopped with an error: %v (logs: %s)", err, d.logPath)
	}
	return ExitOK
}

// openLog opens the file the bridge logs to and a logger on it.
func (d *demoRun) openLog() (*zap.Logger, func(), error) {
	path := d.opts.logFile
	if path == "" {
		dir, err := os.MkdirTemp("", "mimc-bridge-demo-")
		if err != nil {
			return nil, nil, fmt.Errorf("creating a directory for the logs: %w", err)
		}
		path = filepath.Join(dir, "bridge.log")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the log file: %w", err)
	}
	log, err := NewLogger(d.cfg.LogLevel, d.cfg.LogFormat, f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	d.logPath = path
	return log, func() { _ = log.Sync(); f.Close() }, nil
}

// startBroker starts the embedded broker and points the settings at it.
func (d *demoRun) startBroker() (func(), error) {
	kopts := []kfake.Opt{kfake.NumBrokers(1)}
	if d.opts.brokerPort != 0 {
		kopts = append(kopts, kfake.Ports(d.opts.brokerPort))
	}
	if d.opts.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(d.opts.dataDir))
	}
	broker, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("starting the embedded Kafka broker: %w", err)
	}
	cfg := &d.cfg
	cfg.KafkaBrokers = broker.ListenAddrs()
	cfg.KafkaTLS, cfg.KafkaTLSCAFile, cfg.KafkaSASLMechanism = false, "", ""
	cfg.KafkaSASLUsername, cfg.KafkaSASLPassword = "", secret.String{}
	d.broker, d.admin = broker, kafka.NewAdmin(kafka.Conn{Brokers: cfg.KafkaBrokers})
	return func() { d.admin.Close(); broker.Close() }, nil
}

// createTopics creates the topics of the settings unless they exist (with
// --data-dir they survive from an earlier run).
func (d *demoRun) createTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return d.admin.CreateTopics(ctx, d.opts.partitions, append(append([]string(nil), d.cfg.KafkaTopics...), d.cfg.ResultsTopic)...)
}

// listenHTTP binds HTTP_ADDR for the bridge's operations server (nil when
// it is empty) and puts the bound address in the settings, so that the
// header and the readiness check name the real port of a host:0.
func (d *demoRun) listenHTTP(ctx context.Context) (net.Listener, error) {
	if d.cfg.HTTPAddr == "" {
		return nil, nil
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", d.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %s: %w", d.cfg.HTTPAddr, err)
	}
	d.cfg.HTTPAddr = ln.Addr().String()
	return ln, nil
}

// startMIMC starts the sandbox and points the settings at it, unless app
// credentials were given: then the bridge talks to the real MIMC.
func (d *demoRun) startMIMC() (func(), error) {
	if d.realMIMC() {
		return func() {}, nil
	}
	d.sandbox = mimctest.New(mimctest.Config{AppID: sandboxAppID, AppKey: sandboxAppKey, AppSecret: sandboxAppSecret, Seed: 1})
	url, err := d.sandbox.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the MIMC sandbox: %w", err)
	}
	d.sandbox.SetFaults(mimctest.Faults{
		Latency: 5 * time.Millisecond, LatencyJitter: 25 * time.Millisecond,
		HTTP500: 0.03, Envelope500: 0.02,
		FinalCodeFor: map[string]int{demo.RefusedAccount: demo.RefusedCode},
	})
	cfg := &d.cfg
	if q := d.opts.mimcQuota; q > 0 {
		d.sandbox.SetQuota(mimctest.Quota{P2P: q, P2T: q})
		if !d.given("RATE_P2P") {
			cfg.RateP2P = q
		}
		if !d.given("RATE_P2T") {
			cfg.RateP2T = q
		}
	}
	cfg.MIMCURL, cfg.MIMCAppID, cfg.MIMCAppKey = url, sandboxAppID, sandboxAppKey
	cfg.MIMCAppSecret, cfg.MIMCAppSecretFile = secret.New(sandboxAppSecret), ""
	return func() { _ = d.sandbox.Close() }, nil
}

// realMIMC reports whether app credentials were given, so that the demo
// uses the real MIMC at MIMC_URL.
func (d *demoRun) realMIMC() bool {
	return d.given("MIMC_APP_ID") || d.given("MIMC_APP_KEY") || d.given("MIMC_APP_SECRET") || d.given("MIMC_APP_SECRET_FILE")
}

// demoBridge is the bridge running in the demo's process.
type demoBridge struct {
	met     *metrics.Metrics // read in process for the summary
	cancel  context.CancelFunc
	done    chan error // receives runBridge's result once
	timeout time.Duration
	once    sync.Once
	exited  bool  // done has been read
	err     error // what it returned, once read
}

// startDemoBridge runs the bridge, serving its operations endpoints on ln
// (nil: none), until stop; it outlives ctx (Ctrl-C) so that it drains and
// commits.
func startDemoBridge(ctx context.Context, cfg config.Config, log *zap.Logger, ln net.Listener) *demoBridge {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &demoBridge{met: metrics.New(), cancel: cancel, done: make(chan error, 1), timeout: cfg.ShutdownTimeout + 10*time.Second}
	go func() { b.done <- runBridge(bctx, cfg, log, b.met, ln) }()
	return b
}

// exit records that the bridge returned err on its own.
func (b *demoBridge) exit(err error) {
	b.exited, b.err = true, err
	b.cancel()
}

// stop ends the bridge (it drains, commits and leaves the group) and
// returns its error. Only the first call waits.
func (b *demoBridge) stop() error {
	b.once.Do(func() {
		b.cancel()
		if b.exited {
			return
		}
		select {
		case b.err = <-b.done:
		case <-time.After(b.timeout):
			b.err = errors.New("it did not stop in time")
		}
	})
	return b.err
}

// waitReady polls /readyz until the bridge has joined its group.
func (d *demoRun) waitReady(ctx context.Context) error {
	start := time.Now()
	d.printf("waiting for the bridge to join its consumer group... ")
	base := d.httpBase()
	if base == "" {
		d.printf("no HTTP server to ask: the burst waits in Kafka meanwhile\n")
		return nil
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d.printf("ready in %s\n", fmtDuration(time.Since(start)))
				return nil
			}
		}
		select {
		case err := <-d.bridge.done:
			d.bridge.exit(err)
			d.printf("\n")
			return fmt.Errorf("the bridge stopped: %s", errOr(err, "no error"))
		case <-ctx.Done():
			d.printf("\n")
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.printf("\n")
			return errors.New("the bridge was not ready within 60s")
		}
	}
}

// followOutcomes reads the results topic from its current end and hands
// every outcome to the tracker (and, with --keep, prints those of events
// that are not samples) until the returned func is called.
func (d *demoRun) followOutcomes(ctx context.Context) (stop func(), err error) {
	_, end, err := offsets(ctx, d.admin, d.cfg.ResultsTopic)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = readOutcomes(fctx, d.admin, d.cfg.ResultsTopic, end, nil, "demo", nil, func(o *event.Outcome, _ kafka.RangeRecord) error {
			if !d.track.outcome(o) && d.opts.keep {
				d.printLive(o)
			}
			return nil
		})
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }, nil
}

// burst produces the samples in waves while printing progress, until every
// sample has its outcome (ExitOK), then prints the summary.
func (d *demoRun) burst(ctx context.Context, samples []demo.Sample) int {
	topics := d.cfg.KafkaTopics[0]
	if len(d.cfg.UrgentTopics) > 0 {
		topics += " (urgent ones to " + d.cfg.UrgentTopics[0] + ")"
	}
	d.printf("producing %d sample events to %s", len(samples), topics)
	if d.opts.spread > 0 {
		d.printf(" over %s", d.opts.spread)
	}
	d.printf("; outcomes from %s:\n", d.cfg.ResultsTopic)
	prodDone := make(chan error, 1)
	start := time.Now()
	go func() { prodDone <- d.produceSamples(ctx, samples) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(d.opts.deadline)
	defer deadline.Stop()
	for {
		select {
		case err := <-prodDone:
			prodDone = nil
			if err != nil {
				return d.fail("producing the sample events: %v", err)
			}
		case <-d.track.complete:
			d.printProgress(time.Since(start))
			d.printSummary(time.Since(start))
			d.printExamples()
			return ExitOK
		case <-tick.C:
			d.printProgress(time.Since(start))
		case err := <-d.bridge.done:
			d.bridge.exit(err)
			return d.fail("the bridge stopped: %v (logs: %s)", errOr(err, "no error"), d.logPath)
		case <-deadline.C:
			d.printProgress(time.Since(start))
			return d.fail("only %d of %d outcomes arrived within %s (--deadline); the bridge's logs: %s",
				d.track.received(), len(samples), d.opts.deadline, d.logPath)
		case <-ctx.Done():
			d.printProgress(time.Since(start))
			return d.fail("interrupted: %d of %d outcomes had arrived", d.track.received(), len(samples))
		}
	}
}

// keepRunning prints how to use the running system and the outcomes of the
// events others produce, until ctx ends (Ctrl-C).
func (d *demoRun) keepRunning(ctx context.Context) int {
	d.track.flushEarly(d.printLive)
	d.printKeep()
	select {
	case <-ctx.Done():
		d.printf("\nstopping: the bridge drains, commits and exits\n")
		return ExitOK
	case err := <-d.bridge.done:
		d.bridge.exit(err)
		return d.fail("the bridge stopped: %v (logs: %s)", errOr(err, "no error"), d.logPath)
	}
}

func errOr(err error, s string) string {
	if err == nil {
		return s
	}
	return err.Error()
}

// httpBase is the URL of the bridge's HTTP server, "" without one.
func (d *demoRun) httpBase() string {
	addr := d.cfg.HTTPAddr
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// produceSamples writes the samples in waves spread over opts.spread, one
// produce request per topic, partition and wave, keyed by id like `send`
// does (a chat message by its conversation): urgent samples to the urgent topic, the others to the first input
// topic, an expiring sample with its record's timestamp in the past.
func (d *demoRun) produceSamples(ctx context.Context, samples []demo.Sample) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.deadline)
	defer cancel()
	topicOf := func(s demo.Sample) string {
		if s.Urgent && len(d.cfg.UrgentTopics) > 0 {
			return d.cfg.UrgentTopics[0]
		}
		return d.cfg.KafkaTopics[0]
	}
	parts := map[string][]int{}
	for _, s := range samples {
		t := topicOf(s)
		if _, ok := parts[t]; ok {
			continue
		}
		ps, err := d.admin.Partitions(ctx, t)
		if err != nil {
			return err
		}
		parts[t] = ps
	}
	type dest struct {
		topic     string
		partition int
	}
	waves := 1
	if d.opts.spread > 0 {
		waves = min(20, len(samples))
	}
	every := d.opts.spread / time.Duration(waves)
	begin := time.Now()
	for w := 0; w < waves; w++ {
		if w > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(begin.Add(time.Duration(w) * every))):
			}
		}
		lo, hi := w*len(samples)/waves, (w+1)*len(samples)/waves
		byDest := map[dest][]int{}
		for i := lo; i < hi; i++ {
			t := topicOf(samples[i])
			k := dest{t, kafka.KeyPartition([]byte(samples[i].RecordKey()), parts[t])}
			byDest[k] = append(byDest[k], i)
		}
		for k, idx := range byDest {
			now := time.Now()
			msgs := make([]bridge.Message, len(idx))
			for j, i := range idx {
				msgs[j] = bridge.Message{Key: []byte(samples[i].RecordKey()), Value: samples[i].Value}
				if age := samples[i].Age; age > 0 {
					msgs[j].Time = now.Add(-age)
				}
			}
			base, err := d.admin.Produce(ctx, k.topic, k.partition, msgs)
			if err != nil {
				return err
			}
			d.track.produced(k.topic, k.partition, base, idx, now)
		}
	}
	d.track.allProduced()
	return nil
}
