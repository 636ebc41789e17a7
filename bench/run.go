package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// env is what every run of the tool shares: the broker, the sandbox, and
// this executable.
type env struct {
	o       options
	brokers []string
	client  *kafkago.Client
	sandbox *mimctest.Server
	mimcURL string
	exe     string
	tag     string
}

// runResult is one mode on one workload.
type runResult struct {
	Workload      string  `json:"workload"`
	Mode          string  `json:"mode"`
	MIMCLatencyMs float64 `json:"mimcLatencyMs"`
	Events        int     `json:"events"`
	Recipients    int64   `json:"recipients"`
	Seconds       float64 `json:"seconds"`
	EventsPerSec  float64 `json:"eventsPerSec"`
	RecipsPerSec  float64 `json:"recipientsPerSec"`
	VsBare        float64 `json:"vsBare,omitempty"`      // events/s over the bare kafka-go pipe's on the same workload
	VsBareFranz   float64 `json:"vsBareFranz,omitempty"` // events/s over the bare franz-go pipe's on the same workload
	Calls         int64   `json:"mimcCalls"`
	IdealCalls    int64   `json:"idealCalls"`
	CallsRatio    float64 `json:"callsOverIdeal,omitempty"`
	PeakRSS       int64   `json:"peakRssBytes"`
	PeakHeap      int64   `json:"peakHeapBytes"`
	CPUPerEventUs float64 `json:"cpuUsPerEvent"`
	// BrokerCPUUs is the parent's CPU time per event during the run: the
	// broker and the MIMC sandbox (and the harness, idle meanwhile).
	BrokerCPUUs float64 `json:"brokerSandboxCpuUsPerEvent"`
	Repeats     int     `json:"repeats"` // runs made; the one reported is the fastest
	NumGC       int64   `json:"numGC"`
	Outcomes    int64   `json:"outcomeRecords"` // records in the results topic
	Committed   bool    `json:"allCommitted"`   // the group committed what it consumed
	Error       string  `json:"error,omitempty"`
}

// latencyResult is one mode under steady production at half its rate.
type latencyResult struct {
	Mode          string  `json:"mode"`
	MIMCLatencyMs float64 `json:"mimcLatencyMs"`
	Rate          float64 `json:"rateEventsPerSec"`
	Events        int     `json:"events"`
	P50Ms         float64 `json:"p50Ms"`
	P99Ms         float64 `json:"p99Ms"`
	MaxMs         float64 `json:"maxMs"`
	// Until is the end of the latency: "written", the outcome record's
	// timestamp (set when the bridge's writer sends it), or "read", when
	// the parent read it (--latency-read).
	Until    string  `json:"until"`
	BudgetMs float64 `json:"budgetMs,omitempty"` // BATCH_LINGER + 3 × MIMC latency + 50ms (bridge)
	Repeats  int     `json:"repeats"`            // runs made; the one reported has the lowest p99
	Error    string  `json:"error,omitempty"`
}

type report struct {
	Machine  machine           `json:"machine"`
	Settings map[string]string `json:"settings"`
	Runs     []runResult       `json:"runs"`
	Latency  []latencyResult   `json:"latency"`
	Quota    *quotaResult      `json:"quota,omitempty"`
	Urgent   *urgentResult     `json:"urgent,omitempty"`
	Targets  []target          `json:"targets"`
	Seconds  float64           `json:"seconds"`
}

// modeSpec names a mode as the tool runs it.
type modeSpec struct {
	name    string // as in the table: bare, naive, bridge
	child   string // child mode
	latency time.Duration
	ordered bool // ORDERED_TOPICS names the input topic
	noDedup bool // DEDUP_WINDOW=0
}

func (o options) modeSpecs() []modeSpec {
	var out []modeSpec
	for _, m := range o.modes {
		switch m {
		case "bare":
			out = append(out, modeSpec{name: "bare", child: "bare", latency: 0})
		case "barefranz":
			out = append(out, modeSpec{name: "barefranz", child: "barefranz", latency: 0})
		case "naive":
			out = append(out, modeSpec{name: "naive", child: "naive", latency: 0})
		case "bridge":
			out = append(out, modeSpec{name: "bridge", child: "bridge", latency: 0})
		case "bridge20":
			out = append(out, modeSpec{name: "bridge", child: "bridge", latency: o.mimcLatency})
		case "bridge100":
			out = append(out, modeSpec{name: "bridge", child: "bridge", latency: 100 * time.Millisecond})
		case "bridge-nodedup":
			out = append(out, modeSpec{name: "bridge-nodedup", child: "bridge", noDedup: true})
		}
	}
	return out
}

func run(ctx context.Context, o options) (*report, error) {
	for _, m := range o.modes {
		if !has([]string{"bare", "barefranz", "naive", "bridge", "bridge20", "bridge100", "bridge-nodedup"}, m) {
			return nil, fmt.Errorf("unknown mode %q", m)
		}
	}
	for _, w := range o.workloads {
		if !has([]string{"heavy", "none", "mixed", "ordered", "latency", "backlog", "quota", "urgent"}, w) {
			return nil, fmt.Errorf("unknown workload %q", w)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	brokers := o.brokers
	if len(brokers) == 0 {
		kf, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return nil, fmt.Errorf("starting kfake: %w", err)
		}
		defer kf.Close()
		brokers = kf.ListenAddrs()
	}
	sandbox := mimctest.New(mimctest.Config{AppID: benchAppID, AppKey: benchAppKey, AppSecret: benchAppSecret, Seed: 1})
	url, err := sandbox.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer sandbox.Close()
	e := &env{
		o: o, brokers: brokers, sandbox: sandbox, mimcURL: url, exe: exe,
		tag: strconv.FormatInt(time.Now().UnixNano()%1e6, 36),
	}
	e.client = kafka.Conn{Brokers: e.brokers}.Client(30 * time.Second)
	mach := describeMachine()
	logf("broker %s, MIMC sandbox %s, %d CPUs (%s), %s", strings.Join(e.brokers, ","), url, mach.CPUs, mach.CPUModel, mach.GoVersion)

	rep := &report{Machine: mach, Settings: map[string]string{
		"events": strconv.Itoa(o.events), "naiveEvents": strconv.Itoa(o.naiveEvents),
		"backlog": strconv.Itoa(o.backlog), "smallBacklog": strconv.Itoa(o.smallBacklog),
		"partitions": strconv.Itoa(o.partitions), "batchLinger": o.linger.String(),
		"batchMaxRecipients": strconv.Itoa(o.maxRecipients), "mimcLatency": o.mimcLatency.String(),
		"latencySecs": strconv.FormatFloat(o.latencySecs, 'g', -1, 64), "repeat": strconv.Itoa(o.repeat),
		"maxConcurrentCalls": strconv.Itoa(o.maxCalls), "maxPendingEvents": strconv.Itoa(o.maxPending), "maxPendingBytes": strconv.Itoa(o.maxPendingB),
		"orderedKeys": strconv.Itoa(o.orderedKeys),
	}}
	rep.Machine.LoadStart = loadavg()
	defer func() { rep.Machine.LoadEnd = loadavg() }()
	modes := o.modeSpecs()
	for _, wname := range []string{"heavy", "none", "mixed"} {
		if !has(o.workloads, wname) || ctx.Err() != nil {
			continue
		}
		w := newWorkload(wname, o.events)
		topic, err := e.prepare(ctx, w)
		if err != nil {
			return nil, err
		}
		for _, m := range modes {
			if ctx.Err() != nil {
				break
			}
			if m.noDedup && wname != "heavy" {
				continue // the dedup window's cost is measured on heavy sharing
			}
			n := o.repeat
			if m.child == "naive" || wname != "heavy" {
				// The targets' ratios are taken on heavy sharing; the
				// naive bridge is slow and runs once.
				n = 1
			}
			rep.Runs = append(rep.Runs, e.best(ctx, w, topic, m, n))
		}
		e.dropTopics(ctx, topic)
	}
	if has(o.workloads, "ordered") && ctx.Err() == nil {
		// The same keyed records, without and with ORDERED_TOPICS,
		// alternating so that the machine's noise falls on both.
		w := newWorkload("ordered", o.events)
		w.Keys = o.orderedKeys
		topic, err := e.prepare(ctx, w)
		if err != nil {
			return nil, err
		}
		unordered, ordered := modeSpec{name: "bridge", child: "bridge"}, modeSpec{name: "bridge-ordered", child: "bridge", ordered: true}
		var best [2]runResult
		for i := 0; i < max(o.repeat, 1) && ctx.Err() == nil; i++ {
			for j, m := range []modeSpec{unordered, ordered} {
				r := e.throughput(ctx, w, topic, m, true)
				if i == 0 || (r.Error == "" && (best[j].Error != "" || r.EventsPerSec > best[j].EventsPerSec)) {
					best[j] = r
				}
				best[j].Repeats = i + 1
			}
		}
		rep.Runs = append(rep.Runs, best[0], best[1])
		e.dropTopics(ctx, topic)
	}
	if has(o.workloads, "latency") && ctx.Err() == nil {
		half := func(name string, latency time.Duration) float64 {
			for _, r := range rep.Runs {
				if r.Workload == "heavy" && r.Mode == name && r.MIMCLatencyMs == ms(latency) && r.Error == "" {
					return r.EventsPerSec / 2
				}
			}
			return 0
		}
		for _, m := range modes {
			if m.noDedup {
				continue
			}
			rate := half(m.name, m.latency)
			if m.child == "bare" {
				// Half the bare pipe's rate would load the parent's
				// producer and reader past what two cores do; at the
				// bridge's rate it shows the floor of the pipe.
				if r := half("bridge", 0); r > 0 {
					rate = r
				}
			}
			if o.latencyRate > 0 {
				rate = o.latencyRate
			}
			if rate == 0 {
				logf("latency %s: skipped, no heavy-sharing throughput to take half of", label(m))
				continue
			}
			n := 1
			if m.child == "bridge" {
				n = o.repeat // the target's run: the best of repeat
			}
			var best latencyResult
			for i := 0; i < n && ctx.Err() == nil; i++ {
				lr := e.latency(ctx, m, rate)
				if i == 0 || (lr.Error == "" && (best.Error != "" || lr.P99Ms < best.P99Ms)) {
					best = lr
				}
			}
			best.Repeats = n
			rep.Latency = append(rep.Latency, best)
		}
	}
	if has(o.workloads, "backlog") && ctx.Err() == nil {
		m := modeSpec{name: "bridge", child: "bridge", latency: 0}
		for _, n := range []int{o.smallBacklog, o.backlog} {
			w := newWorkload("heavy", n)
			w.Name = "backlog-" + short(n)
			topic, err := e.prepare(ctx, w)
			if err != nil {
				return nil, err
			}
			rep.Runs = append(rep.Runs, e.throughput(ctx, w, topic, m, false))
			e.dropTopics(ctx, topic)
			if ctx.Err() != nil {
				break
			}
		}
	}
	if has(o.workloads, "quota") && ctx.Err() == nil {
		rep.Quota = e.quotaRun(ctx)
	}
	if has(o.workloads, "urgent") && ctx.Err() == nil {
		rep.Urgent = e.urgentRun(ctx)
	}
	// Ratios to the bare pipe on the same workload.
	for i := range rep.Runs {
		r := &rep.Runs[i]
		for _, b := range rep.Runs {
			if b.Workload != r.Workload || b.EventsPerSec == 0 {
				continue
			}
			switch b.Mode {
			case "bare":
				r.VsBare = r.EventsPerSec / b.EventsPerSec
			case "barefranz":
				r.VsBareFranz = r.EventsPerSec / b.EventsPerSec
			}
		}
	}
	rep.Targets = targets(o, rep)
	rep.Seconds = time.Since(started).Seconds()
	return rep, ctx.Err()
}

func short(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func label(m modeSpec) string {
	if m.child == "bridge" || m.latency > 0 {
		return fmt.Sprintf("%s@%gms", m.name, ms(m.latency))
	}
	return m.name
}

// name returns a fresh topic or group name.
func (e *env) name(kind string) string {
	return fmt.Sprintf("bench-%s-%s-%d", e.tag, kind, rand.Int64N(1e9))
}

func (e *env) createTopic(ctx context.Context, name string) error {
	return e.createTopicN(ctx, name, e.o.partitions)
}

func (e *env) createTopicN(ctx context.Context, name string, partitions int) error {
	resp, err := e.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1,
	}}})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	if err := resp.Errors[name]; err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	return nil
}

// dropTopics deletes topics the run is done with. kfake keeps every record
// in memory: without this a full run grew past the machine's 24 GiB and was
// killed in its latency workload.
func (e *env) dropTopics(ctx context.Context, names ...string) {
	ctx = context.WithoutCancel(ctx)
	resp, err := e.client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: names})
	if err == nil {
		for _, n := range names {
			if err = resp.Errors[n]; err != nil {
				break
			}
		}
	}
	if err != nil {
		logf("deleting topics %v: %v", names, err)
	}
}

func (e *env) producer(topic string) *kafkago.Writer {
	return &kafkago.Writer{
		Addr: kafkago.TCP(e.brokers...), Topic: topic, Balancer: &kafkago.RoundRobin{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 10_000, BatchBytes: 1 << 20,
		Transport: &kafkago.Transport{},
	}
}

// prepare creates the input topic of w and produces all its events, so that
// every mode consumes a backlog.
func (e *env) prepare(ctx context.Context, w workload) (string, error) {
	topic := e.name("in-" + w.Name)
	if err := e.createTopic(ctx, topic); err != nil {
		return "", err
	}
	logf("%s: producing %d events to %s", w.Name, w.Events, topic)
	pw := e.producer(topic)
	defer pw.Close()
	if w.Keys > 0 {
		// A key's records in one partition, as a keyed producer does.
		pw.Balancer = &kafkago.Hash{}
	}
	const chunk = 20_000
	msgs := make([]kafkago.Message, 0, chunk)
	buf := make([]byte, 0, chunk*300)
	last := time.Now()
	for i := 0; i < w.Events; {
		msgs, buf = msgs[:0], buf[:0]
		now := time.Now()
		for ; i < w.Events && len(msgs) < chunk; i++ {
			start := len(buf)
			var id []byte
			buf, id = w.event(buf, i, now)
			msgs = append(msgs, kafkago.Message{Key: w.key(i, id), Value: buf[start:len(buf):len(buf)]})
		}
		if err := pw.WriteMessages(ctx, msgs...); err != nil {
			return "", fmt.Errorf("producing to %s: %w", topic, err)
		}
		buf = make([]byte, 0, chunk*300) // the writer may hold the old one
		if time.Since(last) > 2*time.Second {
			last = time.Now()
			logf("%s: %d/%d produced", w.Name, i, w.Events)
		}
	}
	return topic, nil
}

// child runs one mode in a child process. onReady is called when the child
// reports its first outcome (when spec.Ready).
func (e *env) child(ctx context.Context, spec childSpec, onReady func()) (*childResult, error) {
	spec.Brokers, spec.MIMCURL = e.brokers, e.mimcURL
	spec.Linger, spec.MaxRecipients, spec.Timeout, spec.MaxCalls = e.o.linger, e.o.maxRecipients, e.o.timeout, e.o.maxCalls
	spec.MaxPending, spec.MaxPendingB = e.o.maxPending, e.o.maxPendingB
	if e.o.profile != "" {
		spec.Profile = filepath.Join(e.o.profile, strings.NewReplacer("@", "-", "/", "-").Replace(spec.Label))
	}
	b, _ := json.Marshal(spec)
	cmd := exec.CommandContext(ctx, e.exe, "--child", string(b))
	// Ending ctx asks the child to stop as an operator would: SIGTERM,
	// and a graceful shutdown.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "GOMAXPROCS=") // the child sees every core, as a deployment would
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var res *childResult
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l childLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		if l.Ready && onReady != nil {
			onReady()
		}
		if l.Result != nil {
			res = l.Result
		}
	}
	werr := cmd.Wait()
	if res == nil {
		if werr == nil {
			werr = errors.New("no result")
		}
		return nil, fmt.Errorf("child %s: %w", spec.Label, werr)
	}
	if res.Error != "" {
		return res, fmt.Errorf("child %s: %s", spec.Label, res.Error)
	}
	return res, nil
}

// sandboxCalls returns the calls and recipients the sandbox received since
// the last reset, and resets it with the given latency for the next run.
func (e *env) sandboxCalls(next time.Duration) (calls, recipients int64) {
	all := e.sandbox.Calls()
	for _, c := range all {
		calls++
		recipients += int64(len(c.ToAccounts) + len(c.TopicIDs))
	}
	if os.Getenv("BENCH_DEBUG_CALLS") != "" && len(all) > 0 {
		debugCalls(all)
	}
	e.sandbox.Reset()
	e.sandbox.SetFaults(mimctest.Faults{Latency: next})
	return calls, recipients
}

// best runs mode m n times over the same records (each in a fresh group)
// and returns the fastest run: other processes on the machine can only slow
// a run down.
func (e *env) best(ctx context.Context, w workload, topic string, m modeSpec, n int) runResult {
	var best runResult
	for i := 0; i < max(n, 1) && ctx.Err() == nil; i++ {
		r := e.throughput(ctx, w, topic, m, true)
		if i == 0 || (r.Error == "" && (best.Error != "" || r.EventsPerSec > best.EventsPerSec)) {
			best = r
		}
	}
	best.Repeats = max(n, 1)
	return best
}

// throughput runs mode m over the pre-produced topic of w, for at most
// --run-secs when capped.
func (e *env) throughput(ctx context.Context, w workload, topic string, m modeSpec, capped bool) runResult {
	r := runResult{Workload: w.Name, Mode: m.name, MIMCLatencyMs: ms(m.latency)}
	expect := w.Events
	if m.child == "naive" && e.o.naiveEvents < expect {
		expect = e.o.naiveEvents
	}
	results := e.name("out")
	group := e.name("group")
	if err := e.createTopic(ctx, results); err != nil {
		r.Error = err.Error()
		return r
	}
	defer e.dropTopics(ctx, results)
	e.sandboxCalls(m.latency)
	lbl := w.Name + "/" + label(m)
	logf("%s: running on %d events", lbl, expect)
	parent0 := cpuTime()
	spec := childSpec{Mode: m.child, Label: lbl, Topic: topic, Results: results, Group: group, Expect: expect, Ordered: m.ordered, NoDedup: m.noDedup}
	if capped {
		spec.MaxSecs = e.o.runSecs
	}
	res, err := e.child(ctx, spec, nil)
	parentCPU := cpuTime() - parent0
	calls, _ := e.sandboxCalls(0)
	if err != nil {
		r.Error = shorten(err.Error())
		logf("%s: %s", lbl, r.Error)
	}
	if res == nil {
		return r
	}
	r.Events = res.Events
	r.Seconds = float64(res.LastOutcome-res.FirstFetch) / 1e9
	r.PeakRSS, r.PeakHeap, r.NumGC = res.PeakRSS, res.PeakHeap, res.NumGC
	if r.Events > 0 {
		r.CPUPerEventUs = float64(res.UserCPUus+res.SysCPUus) / float64(r.Events)
		r.BrokerCPUUs = float64(parentCPU.Microseconds()) / float64(r.Events)
	}
	r.Calls = calls
	outs, err := e.sumEnd(ctx, results)
	if err != nil && r.Error == "" {
		r.Error = err.Error()
	}
	r.Outcomes = outs
	// The calls and the ideal cover every event with an outcome, even one
	// finished after a time cap stopped the clock.
	covered := w.Events
	if r.Events == w.Events && outs == int64(w.Events) {
		r.Recipients, r.IdealCalls = w.ideal(e.o.maxRecipients)
		r.Committed = e.allCommitted(ctx, group, topic)
	} else {
		// A partial run (naive, or stopped by --run-secs): read which
		// events it did.
		idx, err := e.outcomeIndexes(ctx, results)
		if err != nil && r.Error == "" {
			r.Error = err.Error()
		}
		r.Recipients, r.IdealCalls = w.idealOf(idx, e.o.maxRecipients)
		covered = len(idx)
		c, _ := e.sumCommitted(ctx, group, topic)
		r.Committed = c >= int64(r.Events)
	}
	if r.Seconds > 0 && covered > 0 {
		r.EventsPerSec = float64(r.Events) / r.Seconds
		r.RecipsPerSec = r.EventsPerSec * float64(r.Recipients) / float64(covered)
	}
	if m.child != "bare" && m.child != "barefranz" && r.IdealCalls > 0 {
		r.CallsRatio = float64(r.Calls) / float64(r.IdealCalls)
	}
	logf("%s: %d events in %.2fs: %.0f events/s, %.0f recipients/s, %d calls (ideal %d), peak RSS %.1f MiB, %.1f µs CPU/event (+%.1f broker and sandbox)",
		lbl, r.Events, r.Seconds, r.EventsPerSec, r.RecipsPerSec, r.Calls, r.IdealCalls, mib(r.PeakRSS), r.CPUPerEventUs, r.BrokerCPUUs)
	return r
}

// cpuTime is the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// idealOf is ideal over the events with the given indexes.
func (w workload) idealOf(idx []int, maxRecipients int) (recipients, calls int64) {
	per := make(map[int]int64)
	for _, i := range idx {
		r := int64(w.recipients(i))
		recipients += r
		per[w.message(i)] += r
	}
	for _, r := range per {
		calls += (r + int64(maxRecipients) - 1) / int64(maxRecipients)
	}
	return recipients, calls
}

func (e *env) endOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	return kafka.EndOffsets(ctx, e.client, topic, kafka.Range(e.o.partitions))
}

func (e *env) sumEnd(ctx context.Context, topic string) (int64, error) {
	end, err := e.endOffsets(ctx, topic)
	var n int64
	for _, v := range end {
		n += v
	}
	return n, err
}

func (e *env) committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	return kafka.CommittedOffsets(ctx, e.client, group, topic, kafka.Range(e.o.partitions))
}

func (e *env) sumCommitted(ctx context.Context, group, topic string) (int64, error) {
	c, err := e.committed(ctx, group, topic)
	var n int64
	for _, v := range c {
		if v > 0 {
			n += v
		}
	}
	return n, err
}

func (e *env) allCommitted(ctx context.Context, group, topic string) bool {
	end, err := e.endOffsets(ctx, topic)
	if err != nil {
		return false
	}
	c, err := e.committed(ctx, group, topic)
	if err != nil {
		return false
	}
	for p, v := range end {
		if c[p] != v {
			return false
		}
	}
	return true
}

// readOutcomes reads topic from the start until want records arrived or
// ctx ends, calling f for each with the time it was read.
func (e *env) readOutcomes(ctx context.Context, topic string, want int64, f func(m kafkago.Message, at time.Time)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := 0; p < e.o.partitions; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers: e.brokers, Topic: topic, Partition: p,
				MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond,
			})
			defer r.Close()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				at := time.Now()
				mu.Lock()
				f(m, at)
				mu.Unlock()
				if n.Add(1) >= want {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if n.Load() < want {
		return fmt.Errorf("read %d of %d outcomes from %s", n.Load(), want, topic)
	}
	return nil
}

func (e *env) outcomeIndexes(ctx context.Context, topic string) ([]int, error) {
	want, err := e.sumEnd(ctx, topic)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = e.readOutcomes(rctx, topic, want, func(m kafkago.Message, _ time.Time) {
		s := string(m.Key)
		if len(s) > 1 && s[0] == 'e' {
			if k := strings.IndexByte(s, '-'); k > 0 {
				if i, err := strconv.Atoi(s[1:k]); err == nil {
					seen[i] = true
				}
			}
		}
	})
	idx := make([]int, 0, len(seen))
	for i := range seen {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx, err
}

// latency produces heavy-sharing events at a steady rate (half of what mode
// m reached on the backlog) while m runs, and measures produce-to-outcome
// latency: the produce time is in the event id, the outcome time is when the
// parent reads it from the results topic.
func (e *env) latency(ctx context.Context, m modeSpec, rate float64) latencyResult {
	lr := latencyResult{Mode: m.name, MIMCLatencyMs: ms(m.latency), Rate: rate, Until: "written"}
	if e.o.latencyRead {
		lr.Until = "read"
	}
	if m.child == "bridge" {
		lr.BudgetMs = ms(e.o.linger) + 3*ms(m.latency) + 50
	}
	total := 1 + int(rate*e.o.latencySecs)
	lr.Events = total - 1
	w := newWorkload("heavy", total)
	topic, results, group := e.name("lat-in"), e.name("lat-out"), e.name("lat-group")
	for _, t := range []string{topic, results} {
		if err := e.createTopic(ctx, t); err != nil {
			lr.Error = err.Error()
			return lr
		}
	}
	defer e.dropTopics(ctx, topic, results)
	e.sandboxCalls(m.latency)
	lbl := "latency/" + label(m)
	logf("%s: %d events at %.0f events/s", lbl, total-1, rate)
	pw := e.producer(topic)
	pw.BatchTimeout = 200 * time.Microsecond
	defer pw.Close()

	// The priming event: the child reports ready once its outcome is
	// written, so group joining is not measured.
	buf, id := w.event(nil, 0, time.Now())
	if err := pw.WriteMessages(ctx, kafkago.Message{Key: id, Value: buf}); err != nil {
		lr.Error = err.Error()
		return lr
	}
	var lat []time.Duration
	collect := func(msg kafkago.Message, at time.Time) {
		if strings.HasPrefix(string(msg.Key), "e0-") {
			return // the priming event
		}
		if p, ok := producedAt(msg.Key); ok {
			end := msg.Time // set when the bridge's writer sent the outcome
			if e.o.latencyRead {
				end = at
			}
			lat = append(lat, end.Sub(p))
		}
	}
	readErr := make(chan error, 1)
	rctx, cancel := context.WithTimeout(ctx, e.o.timeout)
	defer cancel()
	if e.o.latencyRead {
		go func() { readErr <- e.readOutcomes(rctx, results, int64(total), collect) }()
	}
	ready := make(chan struct{})
	var once sync.Once
	childDone := make(chan error, 1)
	go func() {
		_, err := e.child(ctx, childSpec{Mode: m.child, Label: lbl, Topic: topic, Results: results, Group: group,
			Expect: total, Ready: true}, func() { once.Do(func() { close(ready) }) })
		childDone <- err
	}()
	select {
	case <-ready:
	case err := <-childDone:
		lr.Error = fmt.Sprintf("the child ended before it was ready: %v", err)
		return lr
	}
	// Steady production: every 5ms, produce what is due, as a producer
	// with a 5ms linger would (a write per millisecond costs the broker,
	// on the same cores, a request per partition each time).
	start := time.Now()
	sent := 1
	var msgs []kafkago.Message
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sent < total && ctx.Err() == nil {
		due := 1 + int(rate*time.Since(start).Seconds())
		if due > total {
			due = total
		}
		if due <= sent {
			<-tick.C
			continue
		}
		msgs = msgs[:0]
		now := time.Now()
		var vb []byte
		due = min(due, sent+2000) // a record batch stays under the broker's 1 MB
		for ; sent < due; sent++ {
			s := len(vb)
			var id []byte
			vb, id = w.event(vb, sent, now)
			msgs = append(msgs, kafkago.Message{Key: id, Value: vb[s:len(vb):len(vb)]})
		}
		if err := pw.WriteMessages(ctx, msgs...); err != nil {
			lr.Error = shorten(err.Error())
			return lr
		}
	}
	if err := <-childDone; err != nil {
		lr.Error = shorten(err.Error())
	}
	if !e.o.latencyRead {
		// Read after the run, so that reading costs the cores nothing
		// while the bridge is measured.
		readErr <- e.readOutcomes(rctx, results, int64(total), collect)
	}
	if err := <-readErr; err != nil && lr.Error == "" {
		lr.Error = shorten(err.Error())
	}
	e.sandboxCalls(0)
	lr.P50Ms, lr.P99Ms, lr.MaxMs = percentiles(lat)
	logf("%s: p50 %.1fms, p99 %.1fms, max %.1fms", lbl, lr.P50Ms, lr.P99Ms, lr.MaxMs)
	return lr
}

func percentiles(d []time.Duration) (p50, p99, max float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(d)-1) + 0.5)
		return ms(d[i])
	}
	return at(0.50), at(0.99), ms(d[len(d)-1])
}

// debugCalls prints how the calls of each message were filled.
func debugCalls(all []mimctest.Call) {
	type stat struct {
		calls, full int
		sizes       []int
		first, last time.Time
	}
	per := map[string]*stat{}
	var order []string
	for _, c := range all {
		st := per[c.Msg]
		if st == nil {
			st = &stat{first: c.At}
			per[c.Msg] = st
			order = append(order, c.Msg)
		}
		n := len(c.ToAccounts) + len(c.TopicIDs)
		st.calls++
		if n == 100 {
			st.full++
		}
		st.sizes = append(st.sizes, n)
		st.last = c.At
	}
	hist := map[int]int{}
	for i, m := range order {
		st := per[m]
		hist[st.calls-st.full]++
		if i < 12 || (i%20 == 0) {
			fmt.Fprintf(os.Stderr, "  msg %.14s: %d calls (%d full) over %s: %v\n", m, st.calls, st.full, st.last.Sub(st.first).Round(time.Millisecond), st.sizes)
		}
	}
	fmt.Fprintf(os.Stderr, "  partial calls per message: %v\n", hist)
	// Partition skew: the event index i of recipient "u<i>x<j>" was
	// produced round-robin, so it sits in partition i%8 at offset i/8.
	maxOff := map[int]int{}
	start := all[0].At
	next := start
	for _, c := range all {
		for _, a := range c.ToAccounts {
			if k := strings.IndexByte(a, 'x'); k > 1 {
				if i, err := strconv.Atoi(a[1:k]); err == nil && i/8 > maxOff[i%8] {
					maxOff[i%8] = i / 8
				}
			}
		}
		if c.At.After(next) {
			next = c.At.Add(250 * time.Millisecond)
			lo, hi := 1<<62, 0
			for p := 0; p < 8; p++ {
				lo, hi = min(lo, maxOff[p]), max(hi, maxOff[p])
			}
			fmt.Fprintf(os.Stderr, "  at %s: partition offsets sent %d..%d (skew %d)\n", c.At.Sub(start).Round(time.Millisecond), lo, hi, hi-lo)
		}
	}
}

// shorten keeps an error readable in the table (kafka-go repeats one line
// per record).
func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
