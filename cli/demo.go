package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/demo"
	"github.com/mimc-bridge/mimc-bridge/event"
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
	if o.events < 1 || o.partitions < 1 || o.deadline <= 0 || o.spread < 0 || o.brokerPort < 0 || o.brokerPort > 65535 {
		fmt.Fprintln(s.Err, "mimc-bridge demo: --events and --partitions must be at least 1, --deadline positive, --spread not negative, --broker-port 0 to 65535")
		return ExitUsage
	}
	explicit := explicitSettings(fs)
	cfg, err := ld.Config()
	if err == nil {
		err = cfg.Validate(false)
	}
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge demo: invalid settings:\n%s\n", indent(err.Error()))
		return ExitUsage
	}
	d := &demoRun{opts: o, cfg: cfg, explicit: explicit, out: &lockedWriter{w: s.Out}, errw: s.Err}
	return d.run(ctx)
}

// explicitSettings returns the names of the settings given as a flag or in
// the environment.
func explicitSettings(fs *flag.FlagSet) map[string]bool {
	byFlag := map[string]string{}
	m := map[string]bool{}
	for _, st := range config.Settings() {
		byFlag[st.Flag] = st.Name
		if v, ok := getenv(st.Env); ok && v != "" {
			m[st.Name] = true
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if name, ok := byFlag[f.Name]; ok {
			m[name] = true
		}
	})
	return m
}

// demoRun is one run of the demo.
type demoRun struct {
	opts     demoOptions
	cfg      config.Config
	explicit map[string]bool
	out      *lockedWriter
	errw     io.Writer

	broker  *kfake.Cluster
	sandbox *mimctest.Server // nil with the real MIMC
	conn    consumer.Conn
	logPath string
	track   *demoTracker
}

func (d *demoRun) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

func (d *demoRun) fail(format string, args ...any) int {
	fmt.Fprintf(d.errw, "mimc-bridge demo: "+format+"\n", args...)
	return ExitFailed
}

func (d *demoRun) run(ctx context.Context) int {
	cfg := &d.cfg
	for _, name := range []string{"KAFKA_BROKERS", "KAFKA_TLS", "KAFKA_TLS_CA_FILE", "KAFKA_SASL_MECHANISM"} {
		if d.explicit[name] {
			fmt.Fprintf(d.errw, "mimc-bridge demo: note: %s%s is ignored: the demo runs its own broker\n", config.EnvPrefix, name)
		}
	}

	// The bridge's logs go to a file.
	logPath := d.opts.logFile
	if logPath == "" {
		dir, err := os.MkdirTemp("", "mimc-bridge-demo-")
		if err != nil {
			return d.fail("creating a directory for the logs: %v", err)
		}
		logPath = filepath.Join(dir, "bridge.log")
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return d.fail("opening the log file: %v", err)
	}
	defer logFile.Close()
	d.logPath = logPath
	log, err := NewLogger(cfg.LogLevel, cfg.LogFormat, logFile)
	if err != nil {
		return d.fail("%v", err)
	}
	defer func() { _ = log.Sync() }()

	// The broker.
	kopts := []kfake.Opt{kfake.NumBrokers(1)}
	if d.opts.brokerPort != 0 {
		kopts = append(kopts, kfake.Ports(d.opts.brokerPort))
	}
	if d.opts.dataDir != "" {
		kopts = append(kopts, kfake.DataDir(d.opts.dataDir))
	}
	d.broker, err = kfake.NewCluster(kopts...)
	if err != nil {
		return d.fail("starting the embedded Kafka broker: %v", err)
	}
	defer d.broker.Close()
	cfg.KafkaBrokers = d.broker.ListenAddrs()
	cfg.KafkaTLS, cfg.KafkaTLSCAFile, cfg.KafkaSASLMechanism = false, "", ""
	cfg.KafkaSASLUsername, cfg.KafkaSASLPassword = "", secret.String{}
	d.conn = consumer.Conn{Brokers: cfg.KafkaBrokers}
	tr := d.conn.Transport()
	defer tr.CloseIdleConnections()
	cl := kafkaClient(d.conn, tr)
	if err := d.createTopics(ctx, cl); err != nil {
		return d.fail("%v", err)
	}

	// MIMC: the real one when app credentials are given, else the sandbox.
	realMIMC := d.explicit["MIMC_APP_ID"] || d.explicit["MIMC_APP_KEY"] || d.explicit["MIMC_APP_SECRET"] || d.explicit["MIMC_APP_SECRET_FILE"]
	if !realMIMC {
		d.sandbox = mimctest.New(mimctest.Config{AppID: sandboxAppID, AppKey: sandboxAppKey, AppSecret: sandboxAppSecret, Seed: 1})
		url, err := d.sandbox.Start("127.0.0.1:0")
		if err != nil {
			return d.fail("starting the MIMC sandbox: %v", err)
		}
		defer d.sandbox.Close()
		d.sandbox.SetFaults(mimctest.Faults{
			Latency: 5 * time.Millisecond, LatencyJitter: 25 * time.Millisecond,
			HTTP500: 0.03, Envelope500: 0.02,
			FinalCodeFor: map[string]int{demo.RefusedAccount: demo.RefusedCode},
		})
		if q := d.opts.mimcQuota; q > 0 {
			d.sandbox.SetQuota(mimctest.Quota{P2P: q, P2T: q})
			if !d.explicit["RATE_P2P"] {
				cfg.RateP2P = q
			}
			if !d.explicit["RATE_P2T"] {
				cfg.RateP2T = q
			}
		}
		cfg.MIMCURL, cfg.MIMCAppID, cfg.MIMCAppKey = url, sandboxAppID, sandboxAppKey
		cfg.MIMCAppSecret, cfg.MIMCAppSecretFile = secret.New(sandboxAppSecret), ""
	}
	if !d.explicit["HTTP_ADDR"] {
		// :8080 may be taken; pick a free loopback port.
		cfg.HTTPAddr, err = freeLoopbackAddr()
		if err != nil {
			return d.fail("choosing a port for /metrics: %v", err)
		}
	}
	if err := cfg.Validate(true); err != nil {
		fmt.Fprintf(d.errw, "mimc-bridge demo: invalid settings:\n%s\n", indent(err.Error()))
		return ExitUsage
	}
	d.printHeader(realMIMC)

	// The bridge, in process.
	bctx, stopBridge := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBridge()
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- RunBridge(bctx, *cfg, log) }()
	stopped := false
	stop := func() int {
		if stopped {
			return ExitOK
		}
		stopped = true
		stopBridge()
		select {
		case err := <-bridgeDone:
			if err != nil {
				return d.fail("the bridge stopped with an error: %v (logs: %s)", err, d.logPath)
			}
		case <-time.After(cfg.ShutdownTimeout + 10*time.Second):
			return d.fail("the bridge did not stop in time (logs: %s)", d.logPath)
		}
		return ExitOK
	}
	defer stop()

	start := time.Now()
	d.printf("waiting for the bridge to join its consumer group... ")
	if err := d.waitReady(ctx, bridgeDone); err != nil {
		d.printf("\n")
		return d.fail("%v (logs: %s)", err, d.logPath)
	}
	d.printf("ready in %s\n", fmtDuration(time.Since(start)))

	// Follow the results topic from its current end.
	_, resultsEnd, err := topicOffsets(ctx, d.conn, tr, cfg.ResultsTopic)
	if err != nil {
		return d.fail("%v", err)
	}
	samples := demo.Samples(d.opts.events, demo.Options{Refused: d.sandbox != nil, Seed: uint64(time.Now().UnixNano()), Prefix: runPrefix()})
	d.track = newDemoTracker(samples)
	fctx, stopFollow := context.WithCancel(ctx)
	followDone := make(chan error, 1)
	go func() {
		followDone <- readTopic(fctx, d.conn, cfg.ResultsTopic, resultsEnd, nil, func(r topicRecord) error {
			o, err := event.ParseOutcome(r.Value)
			if err != nil {
				return nil
			}
			if !d.track.outcome(&o) && d.opts.keep {
				d.printLive(&o)
			}
			return nil
		})
	}()
	defer func() { stopFollow(); <-followDone }()

	// Produce the burst, in waves, while reporting progress.
	input := cfg.KafkaTopics[0]
	d.printf("producing %d sample events to %s", len(samples), input)
	if d.opts.spread > 0 {
		d.printf(" over %s", d.opts.spread)
	}
	d.printf("; outcomes from %s:\n", cfg.ResultsTopic)
	prodDone := make(chan error, 1)
	burstStart := time.Now()
	go func() { prodDone <- d.produceSamples(ctx, cl, input, samples) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.NewTimer(d.opts.deadline)
	defer deadline.Stop()
	for done := false; !done; {
		select {
		case err := <-prodDone:
			prodDone = nil
			if err != nil {
				return d.fail("producing the sample events: %v", err)
			}
		case <-d.track.complete:
			done = true
		case <-tick.C:
			d.printProgress(time.Since(burstStart))
		case err := <-bridgeDone:
			stopped = true
			return d.fail("the bridge stopped: %v (logs: %s)", errOr(err, "no error"), d.logPath)
		case <-deadline.C:
			d.printProgress(time.Since(burstStart))
			return d.fail("only %d of %d outcomes arrived within %s (--deadline); the bridge's logs: %s",
				d.track.received(), len(samples), d.opts.deadline, d.logPath)
		case <-ctx.Done():
			d.printProgress(time.Since(burstStart))
			return d.fail("interrupted: %d of %d outcomes had arrived", d.track.received(), len(samples))
		}
	}
	d.printProgress(time.Since(burstStart))
	d.printSummary(time.Since(burstStart))
	d.printExamples()

	if !d.opts.keep {
		d.printf("\nNext: `%s demo --keep` keeps it all running and shows how to produce events with kcat or `send`.\n", progName())
	}
	if d.opts.keep {
		d.track.flushEarly(d.printLive)
		d.printKeep()
		select {
		case <-ctx.Done():
			d.printf("\nstopping: the bridge drains, commits and exits\n")
		case err := <-bridgeDone:
			stopped = true
			return d.fail("the bridge stopped: %v (logs: %s)", errOr(err, "no error"), d.logPath)
		}
	}
	stopFollow()
	return stop()
}

func errOr(err error, s string) string {
	if err == nil {
		return s
	}
	return err.Error()
}

// createTopics creates the input and results topics unless they exist (with
// --data-dir they survive from an earlier run).
func (d *demoRun) createTopics(ctx context.Context, cl *kafka.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var topics []kafka.TopicConfig
	for _, t := range append(append([]string(nil), d.cfg.KafkaTopics...), d.cfg.ResultsTopic) {
		topics = append(topics, kafka.TopicConfig{Topic: t, NumPartitions: d.opts.partitions, ReplicationFactor: 1})
	}
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("creating the topics: %w", err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", t, err)
		}
	}
	return nil
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
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

// waitReady polls /readyz until the bridge has joined its group.
func (d *demoRun) waitReady(ctx context.Context, bridgeDone <-chan error) error {
	base := d.httpBase()
	if base == "" {
		return nil // no HTTP server: the burst waits in Kafka meanwhile
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
				return nil
			}
		}
		select {
		case err := <-bridgeDone:
			return fmt.Errorf("the bridge stopped: %s", errOr(err, "no error"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the bridge was not ready within 60s")
		}
	}
}

// produceSamples writes the samples in waves spread over opts.spread, one
// produce request per partition and wave, keyed by id like `send` does.
func (d *demoRun) produceSamples(ctx context.Context, cl *kafka.Client, topic string, samples []demo.Sample) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.deadline)
	defer cancel()
	parts, err := consumer.Partitions(ctx, cl, topic)
	if err != nil {
		return err
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
		byPart := map[int][]int{}
		for i := lo; i < hi; i++ {
			p := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(samples[i].ID)}, parts...)
			byPart[p] = append(byPart[p], i)
		}
		for p, idx := range byPart {
			recs := make([]kafka.Record, len(idx))
			now := time.Now()
			for j, i := range idx {
				recs[j] = kafka.Record{Key: kafka.NewBytes([]byte(samples[i].ID)), Value: kafka.NewBytes(samples[i].Value), Time: now}
			}
			base, err := produce(ctx, cl, topic, p, recs)
			if err != nil {
				return err
			}
			d.track.produced(p, base, idx, now)
		}
	}
	d.track.allProduced()
	return nil
}

func runPrefix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	n := time.Now().UnixNano()
	b := []byte("demo-0000")
	for i := len(b) - 1; i >= 5; i-- {
		b[i] = letters[n%int64(len(letters))]
		n /= int64(len(letters))
	}
	return string(b)
}

func (d *demoRun) printHeader(realMIMC bool) {
	c := d.cfg
	d.printf("mimc-bridge demo: an embedded Kafka broker, %s and the bridge, all in this process\n",
		map[bool]string{true: "the real MIMC", false: "a MIMC sandbox"}[realMIMC])
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	store := "in memory"
	if d.opts.dataDir != "" {
		store = "data in " + d.opts.dataDir
	}
	fmt.Fprintf(tw, "  Kafka broker\t%s (kfake, %s); topics %s -> %s\n", c.KafkaBrokers[0], store, strings.Join(c.KafkaTopics, ","), c.ResultsTopic)
	if realMIMC {
		fmt.Fprintf(tw, "  MIMC\t%s, app id %s: the sample pushes go to made-up accounts and topics\n", c.MIMCURL, c.MIMCAppID)
	} else {
		fmt.Fprintf(tw, "  MIMC sandbox\t%s (refuses fromAccount %s with code %d; 3%% HTTP 500 and 2%% envelope 500 to show retries)\n",
			c.MIMCURL, demo.RefusedAccount, demo.RefusedCode)
		if q := d.opts.mimcQuota; q > 0 {
			fmt.Fprintf(tw, "  MIMC quota\t%g recipients/s of each kind for the app, code 429 past it; RATE_P2P=%g RATE_P2T=%g\n", q, c.RateP2P, c.RateP2T)
		}
	}
	if base := d.httpBase(); base != "" {
		fmt.Fprintf(tw, "  bridge\tgroup %s; %s/metrics, /healthz, /readyz\n", c.KafkaGroupID, base)
	} else {
		fmt.Fprintf(tw, "  bridge\tgroup %s; no HTTP server (HTTP_ADDR is empty)\n", c.KafkaGroupID)
	}
	fmt.Fprintf(tw, "  bridge logs\t%s\n", d.logPath)
	fmt.Fprintf(tw, "  batching\tBATCH_LINGER=%s BATCH_MAX_RECIPIENTS=%d MAX_CONCURRENT_CALLS=%d\n", c.BatchLinger, c.BatchMaxRecipients, c.MaxConcurrentCalls)
	_ = tw.Flush()
}

func (d *demoRun) printProgress(elapsed time.Duration) {
	n, total, counts := d.track.progress()
	line := fmt.Sprintf("  %5.1fs  outcomes %*d/%d", elapsed.Seconds(), len(strconv.Itoa(total)), n, total)
	for _, st := range orderedStatuses(counts) {
		line += fmt.Sprintf("  %s %d", st, counts[st])
	}
	d.printf("%s\n", line)
}

func (d *demoRun) printSummary(elapsed time.Duration) {
	sum := d.track.summary()
	d.printf("\nall %d outcomes arrived in %s\n\n", sum.total, fmtDuration(elapsed))
	row := "  %-10s %7v %9v\n"
	d.printf(row, "status", "events", "expected")
	all := statusCounts{}
	for st, n := range sum.byStatus {
		all[st] += n
	}
	for st, n := range sum.want {
		all[st] += n
	}
	for _, st := range orderedStatuses(all) {
		d.printf(row, st, sum.byStatus[st], sum.want[st])
	}
	d.printf(row, "total", sum.total, sum.total)
	if sum.unexpected > 0 {
		d.printf("  (%d events ended with another status than expected)\n", sum.unexpected)
	}
	d.printf("\n")
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  MIMC calls\t%s\n", d.callStats())
	fmt.Fprintf(tw, "  retried events\t%d needed more than one attempt (max attempts %d)\n", sum.retried, sum.maxAttempts)
	fmt.Fprintf(tw, "  produce -> outcome\tp50 %s, p99 %s, max %s (from producing the record to the outcome's completedAt)\n",
		fmtDuration(sum.p50), fmtDuration(sum.p99), fmtDuration(sum.max))
	_ = tw.Flush()
}

// printExamples shows a few outcomes as `outcomes` prints them: the first
// of each status and kind.
func (d *demoRun) printExamples() {
	d.printf("\nA few of the outcomes (`outcomes` reads them all):\n")
	p := newOutcomePrinter(d.out, false)
	for _, o := range d.track.examples() {
		p.print(o, nil)
	}
}

// callStats describes the MIMC calls: from the sandbox's record, or from the
// bridge's metrics with the real MIMC.
func (d *demoRun) callStats() string {
	if d.sandbox == nil {
		calls, recipients, ok := d.scrapeCalls()
		if !ok {
			return "not counted (the real MIMC, and no /metrics to read)"
		}
		avg := 0.0
		if calls > 0 {
			avg = recipients / calls
		}
		return fmt.Sprintf("%.0f attempts (bridge metrics); recipients per call avg %.1f", calls, avg)
	}
	calls := d.sandbox.Calls()
	byEndpoint := map[string]int{}
	faults, recipients, maxR := 0, 0, 0
	for _, c := range calls {
		byEndpoint[strings.TrimPrefix(c.Endpoint, "/api/push/")]++
		if c.Fault != "" && c.Fault != mimctest.FaultFinal {
			faults++
		}
		r := len(c.ToAccounts) + len(c.TopicIDs)
		recipients += r
		maxR = max(maxR, r)
	}
	var parts []string
	for _, ep := range []string{"p2p/", "p2p/more", "p2t/", "p2t/more"} {
		parts = append(parts, fmt.Sprintf("%s %d", ep, byEndpoint[ep]))
	}
	avg := 0.0
	if len(calls) > 0 {
		avg = float64(recipients) / float64(len(calls))
	}
	out := fmt.Sprintf("%d (%s); %d answered with an injected fault and retried\n  recipients per call\tavg %.1f, max %d",
		len(calls), strings.Join(parts, ", "), faults, avg, maxR)
	if d.opts.mimcQuota > 0 {
		st := d.sandbox.QuotaStats()
		out += fmt.Sprintf("\n  quota\tp2p %d recipients accepted, %d calls refused; p2t %d accepted, %d refused (code 429)",
			st.P2P.AcceptedRecipients, st.P2P.RefusedCalls, st.P2T.AcceptedRecipients, st.P2T.RefusedCalls)
	}
	return out
}

// scrapeCalls sums mimc_bridge_mimc_calls_total and
// mimc_bridge_mimc_recipients_total from the bridge's /metrics.
func (d *demoRun) scrapeCalls() (calls, recipients float64, ok bool) {
	base := d.httpBase()
	if base == "" {
		return 0, 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var sum *float64
		switch {
		case strings.HasPrefix(line, "mimc_bridge_mimc_calls_total{"):
			sum = &calls
		case strings.HasPrefix(line, "mimc_bridge_mimc_recipients_total{"):
			sum = &recipients
		default:
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				*sum += v
			}
		}
	}
	return calls, recipients, true
}

// printLive prints the outcome of an event that is not a sample (--keep).
func (d *demoRun) printLive(o *event.Outcome) {
	line := fmt.Sprintf("outcome: %s %s", o.ID, o.Status)
	if o.Kind != "" {
		line += " " + o.Kind
	}
	if r := recipientsCell(o); r != "-" {
		line += " recipients " + r
	}
	if o.Error != "" {
		line += ": " + o.Error
	}
	d.printf("%s\n", line)
}

func (d *demoRun) printKeep() {
	c := d.cfg
	addr := c.KafkaBrokers[0]
	in := c.KafkaTopics[0]
	prog := progName()
	var extra string
	if len(c.KafkaTopics) != 1 || in != "mimc.push" {
		extra += " --kafka-topics " + in
	}
	if c.ResultsTopic != "mimc.push.results" {
		extra += " --results-topic " + c.ResultsTopic
	}
	d.printf("\nEverything keeps running until Ctrl-C. The broker is at %s; outcomes of new events show here.\n\n", addr)
	d.printf("Produce an event with kcat:\n")
	d.printf("  echo '{\"id\":\"hello-1\",\"fromAccount\":\"shop\",\"toAccount\":\"alice\",\"msg\":\"Hello from kcat\"}' | kcat -P -b %s -t %s -k hello-1\n", addr, in)
	d.printf("Read the outcomes with kcat:\n")
	d.printf("  kcat -C -b %s -t %s -o beginning -e\n", addr, c.ResultsTopic)
	d.printf("The same with mimc-bridge:\n")
	d.printf("  %s send --kafka-brokers %s%s --id hello-2 --from-account shop --to-account alice --msg 'Hello from send'\n", prog, addr, extra)
	d.printf("  %s outcomes --kafka-brokers %s%s\n", prog, addr, extra)
	if base := d.httpBase(); base != "" {
		d.printf("Metrics: curl -s %s/metrics | grep ^mimc_bridge_\n", base)
	}
}

// progName is how the user runs this program: "go run ." under go run.
func progName() string {
	if len(os.Args) > 0 && strings.Contains(os.Args[0], "go-build") {
		return "go run ."
	}
	return "mimc-bridge"
}

// lockedWriter serializes writes from the demo's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// demoTracker matches outcomes to the sample events by source offset.
type demoTracker struct {
	mu       sync.Mutex
	samples  []demo.Sample
	bySource map[srcKey]int
	sentAt   []time.Time
	got      []*event.Outcome
	early    map[srcKey]*event.Outcome // arrived before their produce call returned
	allIn    bool
	n        int
	counts   statusCounts
	complete chan struct{}
}

type srcKey struct {
	partition int
	offset    int64
}

func newDemoTracker(samples []demo.Sample) *demoTracker {
	return &demoTracker{
		samples: samples, bySource: map[srcKey]int{}, sentAt: make([]time.Time, len(samples)),
		got: make([]*event.Outcome, len(samples)), early: map[srcKey]*event.Outcome{},
		counts: statusCounts{}, complete: make(chan struct{}),
	}
}

// produced records that samples idx were written to partition from offset
// base on.
func (t *demoTracker) produced(partition int, base int64, idx []int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for j, i := range idx {
		k := srcKey{partition, base + int64(j)}
		t.bySource[k] = i
		t.sentAt[i] = at
		if o, ok := t.early[k]; ok {
			delete(t.early, k)
			t.record(i, o)
		}
	}
}

func (t *demoTracker) allProduced() {
	t.mu.Lock()
	t.allIn = true
	t.mu.Unlock()
}

// outcome records o and reports whether it belongs to a sample (or may).
func (t *demoTracker) outcome(o *event.Outcome) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := srcKey{o.Source.Partition, o.Source.Offset}
	i, ok := t.bySource[k]
	if !ok {
		if t.allIn {
			return false
		}
		t.early[k] = o
		return true
	}
	t.record(i, o)
	return true
}

// flushEarly hands over the outcomes that turned out not to be samples'.
func (t *demoTracker) flushEarly(fn func(*event.Outcome)) {
	t.mu.Lock()
	early := t.early
	t.early = map[srcKey]*event.Outcome{}
	t.mu.Unlock()
	for _, o := range early {
		fn(o)
	}
}

func (t *demoTracker) record(i int, o *event.Outcome) {
	if t.got[i] != nil {
		return // a repeat (at-least-once)
	}
	t.got[i] = o
	t.n++
	t.counts.add(o.Status)
	if t.n == len(t.samples) {
		close(t.complete)
	}
}

func (t *demoTracker) received() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *demoTracker) progress() (n, total int, counts statusCounts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	counts = statusCounts{}
	for k, v := range t.counts {
		counts[k] = v
	}
	return t.n, len(t.samples), counts
}

// examples returns the first outcome of each status and kind, in sample
// order.
func (t *demoTracker) examples() []*event.Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[string]bool{}
	var out []*event.Outcome
	for _, o := range t.got {
		if o == nil || seen[o.Status+o.Kind] {
			continue
		}
		seen[o.Status+o.Kind] = true
		out = append(out, o)
	}
	return out
}

type demoSummary struct {
	total                int
	byStatus, want       statusCounts
	unexpected           int
	retried, maxAttempts int
	p50, p99, max        time.Duration
}

func (t *demoTracker) summary() demoSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := demoSummary{total: len(t.samples), byStatus: statusCounts{}, want: statusCounts{}}
	var lat []time.Duration
	for i, o := range t.got {
		s.want.add(t.samples[i].Want)
		if o == nil {
			continue
		}
		s.byStatus.add(o.Status)
		if o.Status != t.samples[i].Want {
			s.unexpected++
		}
		if o.Attempts > 1 {
			s.retried++
		}
		s.maxAttempts = max(s.maxAttempts, o.Attempts)
		lat = append(lat, max(0, o.CompletedAt.Sub(t.sentAt[i])))
	}
	s.p50, s.p99 = demo.Percentile(lat, 50), demo.Percentile(lat, 99)
	if len(lat) > 0 {
		s.max = lat[len(lat)-1] // Percentile sorted lat
	}
	return s
}
