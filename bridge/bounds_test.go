package bridge

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// fakeScanner answers a scan with what it was given.
type fakeScanner struct {
	mu      sync.Mutex
	done    Done
	ignored int // records whose signature did not check
	err     error
	calls   int
}

func (s *fakeScanner) Scan(_ context.Context, as []Assignment) (Done, ScanStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	stats := ScanStats{Partitions: 1, Read: 42, Ignored: s.ignored, Took: 3 * time.Millisecond}
	for _, a := range as {
		if !a.OutcomesSince.IsZero() && (stats.Since.IsZero() || a.OutcomesSince.Before(stats.Since)) {
			stats.Since = a.OutcomesSince
		}
	}
	if s.err != nil {
		return Done{}, stats, s.err
	}
	return s.done, stats, nil
}

// FirstOffsets answers that every partition starts at 0.
func (s *fakeScanner) FirstOffsets(_ context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	out := map[TopicPartition]int64{}
	for _, tp := range tps {
		out[tp] = 0
	}
	return out, nil
}

func (s *fakeScanner) scans() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// pushLog records the recipients MIMC was asked to push to; calls from
// "stuck" never end until their context does.
type pushLog struct {
	mu   sync.Mutex
	sent map[string]int
}

func (l *pushLog) Push(ctx context.Context, call mimc.Call) (mimc.Result, error) {
	if call.FromAccount == "stuck" {
		<-ctx.Done()
		return mimc.Result{}, ctx.Err()
	}
	l.mu.Lock()
	if l.sent == nil {
		l.sent = map[string]int{}
	}
	for _, a := range call.ToAccounts {
		l.sent[a]++
	}
	l.mu.Unlock()
	return answer(call)
}

func (l *pushLog) count(account string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[account]
}

// written marks outcomes as already on the results topic (written by an
// earlier owner), as the fake committer's checks need.
func (p *fakePublisher) markWritten(at TopicPartition, offs ...int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.written == nil {
		p.written = map[TopicPartition]map[int64]bool{}
	}
	if p.written[at] == nil {
		p.written[at] = map[int64]bool{}
	}
	for _, o := range offs {
		p.written[at][o] = true
	}
}

func TestResultsRecordsTheScanIgnoredAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, &pushLog{}, nil)
		h.p.scanner = &fakeScanner{ignored: 3}
		h.assign = []Assignment{{TopicPartition: tp(0), Offset: 0, OutcomesSince: time.Now().Add(-time.Minute)}}
		h.start()
		h.src.produce(0, ev("e0", "alice"))
		for h.com.committed(0) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		h.stop()
		if got := counter(h.p.met.ResultsScanIgnored); got != 3 {
			t.Errorf("mimc_bridge_results_scan_ignored_total %v, want 3", got)
		}
	})
}

func TestRecordsWhoseOutcomeIsAlreadyWrittenAreSkippedAndCountAsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		push := &pushLog{}
		h := newHarness(t, 2, push, nil)
		scan := &fakeScanner{done: DoneOf(map[TopicPartition][]int64{tp(0): {1, 2}})}
		h.p.scanner = scan
		since := time.Now().Add(-time.Minute)
		h.assign = []Assignment{
			{TopicPartition: tp(0), Offset: 0, OutcomesSince: since},
			{TopicPartition: tp(1), Offset: 0, OutcomesSince: since},
		}
		h.pub.markWritten(tp(0), 1, 2) // by the owner before a crash
		h.start()
		h.src.produce(0, ev("e0", "alice"), ev("e1", "bob"), ev("e2", "carol"), ev("e3", "dave"))
		h.src.produce(1, ev("f0", "erin"))
		for h.com.committed(0) < 4 || h.com.committed(1) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		h.stop()

		got := h.byOffset()
		for _, off := range []int64{1, 2} {
			if o, ok := got[tp(0)][off]; ok {
				t.Errorf("offset %d got a second outcome (%s)", off, o.ID)
			}
		}
		for _, off := range []int64{0, 3} {
			if _, ok := got[tp(0)][off]; !ok {
				t.Errorf("offset %d has no outcome", off)
			}
		}
		for acc, want := range map[string]int{"alice": 1, "bob": 0, "carol": 0, "dave": 1, "erin": 1} {
			if n := push.count(acc); n != want {
				t.Errorf("%s pushed %d times, want %d", acc, n, want)
			}
		}
		if n := counter(h.p.met.EventsSkipped.WithLabelValues(topic)); n != 2 {
			t.Errorf("events skipped %v, want 2", n)
		}
		if n := gauge(h.p.met.ResultsScanRecords); n != 42 {
			t.Errorf("results scan records %v, want the scan's 42", n)
		}
		if n := h.logged("outcomes already written: their records are skipped"); n != 1 {
			t.Errorf("the skip was logged %d times, want once per generation start", n)
		}
		if scan.scans() != 1 {
			t.Errorf("%d scans, want 1", scan.scans())
		}
	})
}

// A commit's bound is when its partition's oldest record in flight was
// fetched, less the clock skew allowed: every outcome at or after the
// committed offset was written after it.
func TestACommitCarriesTheFetchTimeOfTheOldestRecordInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, &pushLog{}, nil)
		h.start()
		fetched := time.Now()
		h.src.produce(0, ev("e0", "alice"), evFrom("e1", "stuck", "bob"))
		for h.com.committed(0) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(time.Second) // later commits keep the bound of the record still in flight
		if got, want := h.com.bound(0), fetched.Add(-h.p.cfg.progress.clockSkew); !got.Equal(want) {
			t.Errorf("commit bound %v, want the fetch time of offset 1 less the skew: %v", got, want)
		}
		h.stop()
	})
}

// Records skipped as done had their outcomes written before this
// generation fetched anything: while they lie at or after the committed
// offset, the commit keeps the bound the previous commit had.
func TestACommitKeepsThePreviousBoundWhileSkippedRecordsLieAfterIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, &pushLog{}, nil)
		h.p.scanner = &fakeScanner{done: DoneOf(map[TopicPartition][]int64{tp(0): {2}})}
		prev := time.Now().Add(-time.Hour)
		h.assign = []Assignment{{TopicPartition: tp(0), Offset: 0, OutcomesSince: prev}}
		h.pub.markWritten(tp(0), 2)
		h.start()
		h.src.produce(0, ev("e0", "alice"), evFrom("e1", "stuck", "bob"), ev("e2", "carol"), ev("e3", "dave"))
		for h.com.committed(0) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(time.Second)
		if got := h.com.bound(0); !got.Equal(prev) {
			t.Errorf("commit at %d carries bound %v, want the previous commit's %v: offset 2 was skipped", h.com.committed(0), got, prev)
		}
		h.stop()
	})
}

func TestAFailedScanSkipsNothingAndCommitsKeepTheBoundTheyCameWith(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		push := &pushLog{}
		h := newHarness(t, 1, push, nil)
		h.p.scanner = &fakeScanner{err: errors.New("broker gone")}
		prev := time.Now().Add(-time.Minute)
		h.assign = []Assignment{{TopicPartition: tp(0), Offset: 0, OutcomesSince: prev}}
		h.start()
		h.src.produce(0, ev("e0", "alice"), ev("e1", "bob"))
		for h.com.committed(0) < 2 {
			time.Sleep(250 * time.Millisecond)
		}
		time.Sleep(2 * h.p.cfg.progress.boundRefresh)
		h.stop()
		if got := h.com.bound(0); !got.Equal(prev) {
			t.Errorf("commits carry bound %v, want the one the generation came with (%v): the outcomes not found are still to be looked for", got, prev)
		}
		if push.count("alice") != 1 || push.count("bob") != 1 {
			t.Errorf("pushes alice %d bob %d, want each once", push.count("alice"), push.count("bob"))
		}
		if n := h.logged("outcomes already written: looking for them failed, nothing is skipped (work done before may be done again)"); n != 1 {
			t.Errorf("the failed scan was logged %d times, want once", n)
		}
	})
}

// A commit without a bound (none yet, a tool's, an older version's) is not
// scanned from; the generation commits the same offset again with a bound
// before it fetches (a partition with no commit: its first offset), so that
// a crash from then on leaves one.
func TestStartOffsetsWithoutABoundAreNotScannedAndGetOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 3, &pushLog{}, nil)
		scan := &fakeScanner{}
		h.p.scanner = scan
		h.assign = []Assignment{
			{TopicPartition: tp(0), Offset: 5, BoundKnown: true},
			{TopicPartition: tp(1), Offset: -2, BoundKnown: true},
			{TopicPartition: tp(2), Offset: 3}, // reading its commit failed: it may carry a bound
		}
		h.pub.markWritten(tp(0), 0, 1, 2, 3, 4)
		start := time.Now()
		h.start()
		synctest.Wait()
		if scan.scans() != 0 {
			t.Errorf("%d scans, want none: no commit carries a bound", scan.scans())
		}
		if n := h.logged("outcomes already written: not looked for, the commits of these partitions carry no bound (none yet, or made by another tool)"); n != 1 {
			t.Errorf("the missing bound was logged %d times, want once", n)
		}
		if got, want := h.com.bound(0), start.Add(-h.p.cfg.progress.clockSkew); h.com.committed(0) != 5 || !got.Equal(want) {
			t.Errorf("start commit at %d with bound %v, want 5 with %v", h.com.committed(0), got, want)
		}
		if got, want := h.com.bound(1), start.Add(-h.p.cfg.progress.clockSkew); !got.Equal(want) {
			t.Errorf("a partition with no commit got bound %v at its first offset, want %v", got, want)
		}
		time.Sleep(30 * time.Second)
		if got := h.com.bound(2); !got.IsZero() {
			t.Errorf("a partition whose commit could not be read was committed again with bound %v: that may lose its own", got)
		}
		h.stop()
	})
}

// An idle partition's commit is sent again now and then with a fresh bound:
// otherwise the next owner would read everything written to the results
// topic since its last record.
func TestAnIdlePartitionsBoundIsRefreshed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1, &pushLog{}, nil)
		h.start()
		h.src.produce(0, ev("e0", "alice"))
		for h.com.committed(0) < 1 {
			time.Sleep(250 * time.Millisecond)
		}
		first, commits := h.com.bound(0), h.com.commits()
		time.Sleep(5 * time.Minute)
		refresh := h.p.cfg.progress.boundRefresh
		if got := h.com.bound(0); got.Sub(first) < 4*refresh {
			t.Errorf("after 5 idle minutes the bound is %v, %v after the first: not refreshed every %v", got, got.Sub(first), refresh)
		}
		if n := h.com.commits() - commits; n > 6 {
			t.Errorf("%d commits in 5 idle minutes, want about one per %v", n, refresh)
		}
		h.stop()
	})
}
