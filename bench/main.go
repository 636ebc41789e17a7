// Command bench is the load tool of mimc-bridge. In one run, on one embedded
// Kafka broker (kfake) and one MIMC sandbox (mimctest), with the same records
// for every mode, it measures:
//
//   - bare:   kafka-go consume in a group → produce one small outcome each,
//     no decoding, no HTTP (the ceiling for this client and broker);
//   - naive:  one synchronous MIMC call per recipient, one synchronous
//     outcome write and one commit per record (an afternoon's bridge);
//   - bridge: the bridge (cli.Build + Run) at 0ms and at 20ms MIMC latency.
//
// Each mode runs in a child process (this binary re-executed with --child)
// that connects to the parent's broker and sandbox over loopback TCP, so its
// peak RSS, heap and CPU time are its own. The parent hosts the broker, the
// sandbox, the producer and, for latency runs, the outcome reader.
//
// Usage:
//
//	go run ./bench                 # the full run: a few minutes
//	go run ./bench --quick         # smaller sizes: about a minute
//	go run ./bench --json          # the report as JSON on stdout
//	go run ./bench --profile /tmp/prof --modes bridge --workloads heavy
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/mimc-bridge/mimc-bridge/cli"
)

type options struct {
	events        int
	naiveEvents   int
	backlog       int
	smallBacklog  int
	partitions    int
	modes         []string
	workloads     []string
	latencySecs   float64
	mimcLatency   time.Duration
	linger        time.Duration
	maxRecipients int
	jsonOut       bool
	profile       string
	timeout       time.Duration
	runSecs       float64
	repeat        int
	latencyRate   float64
	maxCalls      int
	maxPending    int
	maxPendingB   int // MAX_PENDING_BYTES (0: the bridge's default)
	latencyRead   bool
	brokers       []string // an external cluster (e.g. real Apache Kafka); none: an embedded kfake broker

	quotaRate       float64 // recipients per second per kind
	quotaSecs       float64 // backlog, in seconds at the quota
	quotaMembers    int
	quotaPartitions int
	quotaSplitKinds bool // p2p on even partitions, p2t on odd ones

	urgentQuota   float64 // recipients per second per kind
	urgentBacklog float64 // the normal backlog, in seconds of the quota
	urgentRate    float64 // urgent events per second
	urgentSecs    float64 // seconds of urgent traffic

	orderedKeys int // record keys of the ordered workload
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "--child" {
		// Every mode runs with the collector setting of the bridge's
		// binary, so the ratios compare the code, not the GC.
		cli.TuneGC()
		os.Exit(runChild(os.Args[2]))
	}
	var o options
	var modes, workloads string
	var quick bool
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.IntVar(&o.events, "events", 200_000, "events per throughput workload (heavy, none, mixed)")
	fs.IntVar(&o.naiveEvents, "naive-events", 2_000, "events the naive bridge processes (it is slow)")
	fs.IntVar(&o.backlog, "backlog", 1_000_000, "events of the large backlog (memory)")
	fs.IntVar(&o.smallBacklog, "small-backlog", 100_000, "events of the small backlog the large one is compared with")
	fs.IntVar(&o.partitions, "partitions", 8, "partitions of the input and results topics")
	fs.StringVar(&modes, "modes", "bare,barefranz,naive,bridge,bridge20,bridge100,bridge-nodedup", "modes to run: bare (kafka-go pipe), barefranz (franz-go pipe), naive, bridge (0ms MIMC), bridge20 (--mimc-latency), bridge100 (100ms MIMC), bridge-nodedup (0ms MIMC, DEDUP_WINDOW=0: the dedup window's cost; heavy sharing only)")
	var brokers string
	fs.StringVar(&brokers, "brokers", "", "bootstrap addresses of an external cluster to run on, e.g. real Apache Kafka from `go run ./integration_test/cmd/apachekafka` (default: an embedded kfake broker)")
	fs.StringVar(&workloads, "workloads", "heavy,none,mixed,ordered,latency,backlog,quota,urgent", "workloads: heavy (200 messages, campaign after campaign), none (no sharing), mixed (300 messages interleaved at random in every partition), ordered (heavy sharing keyed by --ordered-keys conversations, the bridge without and with ORDERED_TOPICS), latency (steady rate), backlog (memory), quota (bridge processes sharing a quota'd sandbox), urgent (urgent events under a normal backlog behind a quota)")
	fs.Float64Var(&o.quotaRate, "quota-rate", 400, "quota workload: the sandbox's quota, recipients per second of each kind (RATE_P2P, RATE_P2T)")
	fs.Float64Var(&o.quotaSecs, "quota-secs", 15, "quota workload: the backlog, in seconds of sending at the quota")
	fs.IntVar(&o.quotaMembers, "quota-members", 3, "quota workload: bridge processes at the start (one more joins, one leaves)")
	fs.IntVar(&o.quotaPartitions, "quota-partitions", 12, "quota workload: partitions of its topics")
	fs.BoolVar(&o.quotaSplitKinds, "quota-split-kinds", false, "quota workload: alternate the kinds, which puts all p2p events on even partitions and all p2t on odd ones (the default mixes them in every partition)")
	fs.Float64Var(&o.urgentQuota, "urgent-quota", 400, "urgent workload: the sandbox's quota, recipients per second of each kind")
	fs.Float64Var(&o.urgentBacklog, "urgent-backlog", 20, "urgent workload: the normal backlog, in times the quota (seconds of sending)")
	fs.Float64Var(&o.urgentRate, "urgent-rate", 10, "urgent workload: urgent events per second")
	fs.Float64Var(&o.urgentSecs, "urgent-secs", 10, "urgent workload: seconds of urgent traffic")
	fs.IntVar(&o.orderedKeys, "ordered-keys", defaultOrderedKeys, "ordered workload: record keys (conversations); each holds events/keys messages")
	fs.Float64Var(&o.latencySecs, "latency-secs", 5, "seconds of steady production in a latency run")
	fs.DurationVar(&o.mimcLatency, "mimc-latency", 20*time.Millisecond, "MIMC latency of the bridge20 mode")
	fs.DurationVar(&o.linger, "linger", 50*time.Millisecond, "BATCH_LINGER of the bridge")
	fs.IntVar(&o.maxRecipients, "max-recipients", 100, "BATCH_MAX_RECIPIENTS of the bridge")
	fs.IntVar(&o.maxCalls, "concurrent-calls", 0, "MAX_CONCURRENT_CALLS of the bridge (0: its default, 256)")
	fs.IntVar(&o.maxPending, "max-pending", 0, "MAX_PENDING_EVENTS of the bridge (0: its default, 10000)")
	fs.IntVar(&o.maxPendingB, "max-pending-bytes", 0, "MAX_PENDING_BYTES of the bridge, in bytes (0: its default, 24 MiB)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON on stdout instead of tables")
	fs.StringVar(&o.profile, "profile", "", "directory for CPU and allocation profiles of every child run")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest a single run may take")
	fs.Float64Var(&o.runSecs, "run-secs", 15, "cap on one throughput run: a slow mode stops after this long and is measured on what it did")
	fs.IntVar(&o.repeat, "repeat", 2, "runs of each mode but naive on heavy sharing; the fastest is reported (other processes only slow a run)")
	fs.Float64Var(&o.latencyRate, "latency-rate", 0, "events/s of the latency runs (0: half of each mode's heavy-sharing rate)")
	fs.BoolVar(&o.latencyRead, "latency-read", false, "end latency when the parent reads the outcome (read during the run), not at the outcome record's timestamp")
	fs.BoolVar(&quick, "quick", false, "smaller sizes (events 20k, backlog 200k/20k, latency 3s, runs capped at 5s)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench [flags]\n\n"+
			"Measures the bare pipe, a naive bridge and the bridge on one embedded broker\n"+
			"and MIMC sandbox, then prints a table and the issue's targets.\n\nflags:\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("events", &o.events, 20_000)
		def("naive-events", &o.naiveEvents, 500)
		def("backlog", &o.backlog, 200_000)
		def("small-backlog", &o.smallBacklog, 20_000)
		if !set["latency-secs"] {
			o.latencySecs = 3
		}
		if !set["run-secs"] {
			o.runSecs = 5
		}
	}
	o.modes = split(modes)
	o.brokers = split(brokers)
	o.workloads = split(workloads)
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}

	// The parent hosts the broker, which holds every record in memory: a
	// lazier GC keeps its CPU out of the children's measurements.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.profile != "" {
		// The parent's own profile: broker, sandbox and harness.
		if f, err := os.Create(filepath.Join(o.profile, "parent-cpu.pprof")); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	rep, err := run(ctx, o)
	if o.profile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	for _, r := range rep.Runs {
		if r.Error != "" {
			os.Exit(1)
		}
	}
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

var started = time.Now()

// logf prints a progress line on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

// machine describes where the run happened.
type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpuModel"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	LoadStart string `json:"loadavgStart"` // /proc/loadavg: other work on the machine
	LoadEnd   string `json:"loadavgEnd"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
