package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// childSpec is what the parent asks a child process to run: one mode against
// the parent's broker and MIMC sandbox, until Expect outcomes are written.
type childSpec struct {
	Mode          string // bare, naive, bridge
	Label         string // for progress lines
	Brokers       []string
	Topic         string
	Results       string
	Group         string
	MIMCURL       string
	Expect        int           // outcomes to wait for
	Ready         bool          // print a ready line after the first outcome
	Linger        time.Duration // BATCH_LINGER
	MaxRecipients int           // BATCH_MAX_RECIPIENTS
	MaxCalls      int           // MAX_CONCURRENT_CALLS (0: the bridge's default)
	MaxPending    int           // MAX_PENDING_EVENTS (0: the bridge's default)
	MaxPendingB   int           // MAX_PENDING_BYTES (0: the bridge's default)
	Timeout       time.Duration // give up after this long
	MaxSecs       float64       // stop after this long since the first fetch, done or not (0: no cap)
	Profile       string        // path prefix for CPU and heap profiles; "" none
	// UntilSignal runs until SIGTERM (a graceful leave) instead of until
	// Expect outcomes: a member of a group does not know its part.
	UntilSignal      bool
	RateP2P, RateP2T float64       // RATE_P2P, RATE_P2T (bridge)
	SessionTimeout   time.Duration // KAFKA_SESSION_TIMEOUT (bridge; 0: its default)
	Urgent           string        // a second input topic, in URGENT_TOPICS (bridge)
	Ordered          bool          // ORDERED_TOPICS names Topic (bridge)
	NoDedup          bool          // DEDUP_WINDOW=0 (bridge)
}

// childResult is what a child reports on stdout, as one JSON line.
type childResult struct {
	Events      int   `json:"events"`
	FirstFetch  int64 `json:"firstFetchUnixNano"`  // first input record fetched
	LastOutcome int64 `json:"lastOutcomeUnixNano"` // Expect-th outcome acknowledged
	UserCPUus   int64 `json:"userCpuUs"`
	SysCPUus    int64 `json:"sysCpuUs"`
	PeakRSS     int64 `json:"peakRssBytes"`  // VmHWM
	PeakHeap    int64 `json:"peakHeapBytes"` // largest heap (objects) sampled
	NumGC       int64 `json:"numGC"`
	// DrainsAbandoned counts the bridge's "drain deadline passed" warnings.
	DrainsAbandoned int `json:"drainsAbandoned"`
	Error           string
}

// childLine is one line a child writes on stdout.
type childLine struct {
	Ready  bool         `json:"ready,omitempty"`
	Result *childResult `json:"result,omitempty"`
}

// progress is what a mode reports while it runs; the child's monitor reads it.
type progress struct {
	firstFetch atomic.Int64 // unix nanos
	outcomes   atomic.Int64 // acknowledged
	done       chan struct{}
	lastAt     atomic.Int64 // unix nanos when outcomes reached Expect
}

func (p *progress) fetched() {
	if p.firstFetch.Load() == 0 {
		p.firstFetch.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// runChild runs one mode in this process and prints its result. It exits
// non-zero when the mode failed.
func runChild(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "bench child: bad spec: %v\n", err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	emit := func(l childLine) {
		b, _ := json.Marshal(l)
		// bufio's error is sticky: Flush reports a failed Write too. A
		// parent that stopped reading has ended the run; nothing to tell.
		_, _ = out.Write(b)
		_ = out.WriteByte('\n')
		if err := out.Flush(); err != nil {
			fmt.Fprintf(os.Stderr, "bench child: writing to the parent: %v\n", err)
		}
	}
	if spec.Profile != "" {
		f, err := os.Create(spec.Profile + "-cpu.pprof")
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), spec.Timeout)
	defer cancel()
	p := &progress{done: make(chan struct{})}
	var heap heapSampler
	heap.start()

	// The monitor ends the run once every outcome is acknowledged, prints
	// progress, and sends the ready line.
	stop := make(chan struct{})
	term := make(chan os.Signal, 1)
	if spec.UntilSignal {
		signal.Notify(term, syscall.SIGTERM)
	}
	go func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		lastPrint := time.Now()
		ready := false
		for {
			select {
			case <-stop:
				return
			case <-term:
				p.lastAt.Store(time.Now().UnixNano())
				close(p.done)
				return
			case <-t.C:
			}
			n := p.outcomes.Load()
			if spec.Ready && !ready && n > 0 {
				ready = true
				emit(childLine{Ready: true})
			}
			capped := spec.MaxSecs > 0 && p.firstFetch.Load() != 0 &&
				time.Since(time.Unix(0, p.firstFetch.Load())).Seconds() >= spec.MaxSecs
			if !spec.UntilSignal && (n >= int64(spec.Expect) || capped) {
				p.lastAt.Store(time.Now().UnixNano())
				close(p.done)
				return
			}
			if time.Since(lastPrint) >= 2*time.Second {
				lastPrint = time.Now()
				fmt.Fprintf(os.Stderr, "    %s: %d/%d outcomes\n", spec.Label, n, spec.Expect)
			}
		}
	}()

	var err error
	switch spec.Mode {
	case "bare":
		err = runBare(ctx, spec, p)
	case "barefranz":
		err = runBareFranz(ctx, spec, p)
	case "naive":
		err = runNaive(ctx, spec, p)
	case "bridge":
		err = runBridge(ctx, spec, p)
	default:
		err = fmt.Errorf("unknown mode %q", spec.Mode)
	}
	close(stop)
	heap.stop()

	res := &childResult{
		DrainsAbandoned: int(drainsAbandoned.Load()),
		Events:          int(p.outcomes.Load()),
		FirstFetch:      p.firstFetch.Load(),
		LastOutcome:     p.lastAt.Load(),
		PeakHeap:        heap.peak.Load(),
	}
	if err != nil {
		res.Error = err.Error()
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.UserCPUus = ru.Utime.Sec*1e6 + ru.Utime.Usec
		res.SysCPUus = ru.Stime.Sec*1e6 + ru.Stime.Usec
	}
	res.PeakRSS = vmHWM()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.NumGC = int64(ms.NumGC)
	if spec.Profile != "" {
		if f, err := os.Create(spec.Profile + "-allocs.pprof"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	emit(childLine{Result: res})
	if err != nil {
		return 1
	}
	return 0
}

// waitDone waits until every outcome is acknowledged or ctx ends.
func waitDone(ctx context.Context, p *progress) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("timed out with %d outcomes: %w", p.outcomes.Load(), ctx.Err())
	}
}

// vmHWM returns the peak resident set size of this process, in bytes.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// heapSampler records the largest heap seen, from runtime/metrics (which
// does not stop the world), every 10ms.
type heapSampler struct {
	peak atomic.Int64
	quit chan struct{}
	done chan struct{}
}

func (h *heapSampler) start() {
	h.quit, h.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := int64(s[0].Value.Uint64()); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.quit:
				return
			case <-t.C:
			}
		}
	}()
}

func (h *heapSampler) stop() {
	close(h.quit)
	<-h.done
}
