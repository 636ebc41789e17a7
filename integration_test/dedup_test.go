package integration_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/internal/retention"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// The next owner of a partition skips the records whose outcome the results
// topic already holds (written after the partition's last commit). These
// tests set a group's commits as a crash, a tool or retention would leave
// them and check what a restarted bridge does again.

// dedupRun is a group that has done every event once.
type dedupRun struct {
	c       *cluster
	fake    *mimctest.Server
	cfg     config.Config
	ids     []string
	started time.Time // before the first outcome was written
}

// doneOnce produces n events to one input partition and runs a bridge of a
// new group until every one is committed.
func doneOnce(t *testing.T, n, resultParts int) *dedupRun {
	t.Helper()
	c := newCluster(t)
	in := c.topic(t, "push", 1)
	results := c.topic(t, "results", resultParts)
	fake, url := fakeMIMC(t)
	values, ids := uniqueEvents(t, n, fmt.Sprintf("dedup%d", rand.Intn(1000)))
	c.produce(t, in, values...)
	r := &dedupRun{c: c, fake: fake, cfg: settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63())), ids: ids, started: time.Now()}
	r.run(t)
	return r
}

// run runs a bridge of r's group until every input record is committed.
func (r *dedupRun) run(t *testing.T) *bridgeProc {
	t.Helper()
	b := startBridge(t, r.cfg)
	allCommitted(t, r.c, r.cfg, 60*time.Second)
	if err := b.stop(t); err != nil {
		t.Fatalf("the bridge stopped with %v", err)
	}
	return b
}

// setCommit sets r's group's commit of the input partition, as a tool would
// (the group has no member), with metadata md.
func (r *dedupRun) setCommit(t *testing.T, offset int64, md string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		err := r.tryCommit(ctx, offset, md)
		var ke kafkago.Error
		if err == nil {
			return
		}
		// Apache Kafka answers NOT_COORDINATOR for a moment for a group it
		// has never seen; kfake never does.
		if !errors.As(err, &ke) || !ke.Temporary() || ctx.Err() != nil {
			t.Fatalf("setting the commit of group %s: %v", r.cfg.KafkaGroupID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *dedupRun) tryCommit(ctx context.Context, offset int64, md string) error {
	resp, err := r.c.client().OffsetCommit(ctx, &kafkago.OffsetCommitRequest{
		GroupID: r.cfg.KafkaGroupID, GenerationID: -1,
		Topics: map[string][]kafkago.OffsetCommit{r.cfg.KafkaTopics[0]: {{Partition: 0, Offset: offset, Metadata: md}}},
	})
	if err != nil {
		return err
	}
	for _, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return p.Error
			}
		}
	}
	return nil
}

// outcomesPerID counts the outcomes on the results topic per event id, and
// fails the test for an event with none.
func (r *dedupRun) outcomesPerID(t *testing.T) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, o := range r.c.outcomes(t, r.cfg.ResultsTopic) {
		seen[o.ID]++
	}
	for _, id := range r.ids {
		if seen[id] == 0 {
			t.Errorf("event %s was lost: no outcome", id)
		}
	}
	return seen
}

// repeated counts the events whose recipient MIMC accepted more than once.
func (r *dedupRun) repeated() int {
	n := 0
	for _, c := range pushCounts(r.fake) {
		if c > 1 {
			n += c - 1
		}
	}
	return n
}

// Offsets moved back to the start: with the bound a bridge writes, the
// records whose outcomes are on the results topic are all skipped; without
// one (a tool's reset, a commit of an older version) nothing is looked for
// and every event is done again, as the README says: pushed again with
// DEDUP_WINDOW off, a duplicate of its first delivery with it on.
func TestACommitWithABoundSkipsWhatIsDoneAndOneWithoutRedoesIt(t *testing.T) {
	for _, tt := range []struct {
		scenario     string
		bound        bool
		wantRepeated int
		wantLog      string
		dedupOff     bool
		wantPushes   int // repeated pushes
	}{
		{"a commit with a bound skips every event whose outcome is written", true, 0, "outcomes already written: their records are skipped", false, 0},
		{"a commit without metadata means no scan: every event is done again", false, 200,
			"outcomes already written: not looked for, the commits of these partitions carry no bound (none yet, or made by another tool)", true, 200},
		{"a commit without metadata with the dedup window: every event is done again as a duplicate, none pushed", false, 200,
			"outcomes already written: not looked for, the commits of these partitions carry no bound (none yet, or made by another tool)", false, 0},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			t.Parallel()
			r := doneOnce(t, 200, 2)
			md := ""
			if tt.bound {
				md = kafka.CommitMetadata(r.started.Add(-time.Second))
			}
			r.setCommit(t, 0, md)
			if tt.dedupOff {
				r.cfg.DedupWindow = 0
			}
			b := r.run(t)
			perID := r.outcomesPerID(t)
			again := 0
			for _, id := range r.ids {
				again += perID[id] - 1
			}
			if again != tt.wantRepeated || r.repeated() != tt.wantPushes {
				t.Errorf("%d second outcomes and %d repeated pushes, want %d and %d", again, r.repeated(), tt.wantRepeated, tt.wantPushes)
			}
			if logs := b.logs.String(); !strings.Contains(logs, tt.wantLog) {
				t.Errorf("the generation start did not log %q", tt.wantLog)
			}
		})
	}
}

// Two groups share the results topic: the outcomes of one do not count for
// the other, which does every event itself.
func TestOutcomesOfAnotherGroupOnTheResultsTopicAreIgnored(t *testing.T) {
	r := doneOnce(t, 200, 2)
	other := *r
	other.cfg.KafkaGroupID = fmt.Sprintf("other-%d", rand.Int63())
	// The other group's commit at the start, bounded before the first
	// group wrote anything: its scan reads every outcome of the first.
	other.setCommit(t, 0, kafka.CommitMetadata(r.started.Add(-time.Second)))
	b := other.run(t)
	perID := r.outcomesPerID(t)
	for _, id := range r.ids {
		if perID[id] != 2 {
			t.Errorf("event %s: %d outcomes, want one per group", id, perID[id])
			break
		}
	}
	if n := r.repeated(); n != len(r.ids) {
		t.Errorf("%d events pushed again, want all %d: the other group's outcomes are not this group's", n, len(r.ids))
	}
	if logs := b.logs.String(); !strings.Contains(logs, `"skipping":0`) {
		t.Errorf("the second group skipped something:\n%s", grepLines(logs, "outcomes already written"))
	}
}

// Retention deleted the results topic's oldest outcomes: the events whose
// outcome is gone are done again, those whose outcome is left are skipped,
// and nothing is lost.
func TestAResultsTopicWhoseOldestOutcomesWereDeletedFallsBackSafely(t *testing.T) {
	r := doneOnce(t, 200, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const deleted = 80
	if err := retention.DeleteBefore(ctx, r.c.brokers, r.cfg.ResultsTopic, 0, deleted); err != nil {
		t.Fatal(err)
	}
	r.setCommit(t, 0, kafka.CommitMetadata(r.started.Add(-time.Second)))
	b := r.run(t)
	perID := r.outcomesPerID(t)
	for id, n := range perID {
		if n != 1 {
			t.Errorf("event %s has %d outcomes on the results topic, want 1", id, n)
		}
	}
	if n := r.repeated(); n != deleted {
		t.Errorf("%d events done again, want the %d whose outcome retention deleted", n, deleted)
	}
	if logs := b.logs.String(); !strings.Contains(logs, fmt.Sprintf(`"skipping":%d`, len(r.ids)-deleted)) {
		t.Errorf("the generation start did not skip the %d outcomes left:\n%s", len(r.ids)-deleted, grepLines(logs, "outcomes already written"))
	}
}

// A drain that runs out of time abandons its work: the outcomes it wrote
// past the commit are not written again by the next owner.
func TestAnAbandonedDrainLeavesNoSecondOutcome(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 1)
	results := c.topic(t, "results", 2)
	fake, url := fakeMIMC(t)
	cfg := settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63()))
	cfg.MaxConcurrentCalls = 4
	// The first call hangs far past the drain deadline (4s: two thirds of
	// the session timeout), unless the bridge gives up on it.
	cfg.HTTPTimeout = time.Minute
	fake.SetFaults(mimctest.Faults{HangFor: time.Minute})
	fake.Script(mimctest.FaultHang)
	stuckID, stuck := uniqueEvent(t, "stuck", 0)
	c.produce(t, in, stuck)
	a := startBridge(t, cfg)
	waitFor(t, 30*time.Second, "the first call to hang", func() bool { return len(fake.Calls()) == 1 })
	values, ids := uniqueEvents(t, 100, fmt.Sprintf("after%d", rand.Intn(1000)))
	c.produce(t, in, values...)
	r := &dedupRun{c: c, fake: fake, cfg: cfg, ids: append(ids, stuckID)}
	waitFor(t, 30*time.Second, "the events behind the stuck one to get outcomes", func() bool {
		return len(c.outcomes(t, results)) == len(ids)
	})
	if got := c.committed(t, cfg.KafkaGroupID, in, 1)[0]; got > 0 {
		t.Fatalf("committed at %d past the record still in flight", got)
	}
	// A second member joins: the first drains, runs out of time and
	// abandons the stuck call; one of them takes the partition over.
	cfgB := cfg
	b := startBridge(t, cfgB)
	allCommitted(t, c, cfg, 60*time.Second)
	for _, p := range []*bridgeProc{a, b} {
		if err := p.stop(t); err != nil {
			t.Errorf("stopping: %v", err)
		}
	}
	if logs := a.logs.String(); !strings.Contains(logs, "drain deadline passed") {
		t.Errorf("the first member's drain did not run out of time:\n%s", grepLines(logs, "drain"))
	}
	perID := r.outcomesPerID(t)
	for id, n := range perID {
		if n != 1 {
			t.Errorf("event %s has %d outcomes, want 1", id, n)
		}
	}
	if n := r.repeated(); n != 0 {
		t.Errorf("%d pushes repeated, want none: the stuck call never got an answer, the others had their outcomes written", n)
	}
	logs := a.logs.String() + b.logs.String()
	if !strings.Contains(logs, fmt.Sprintf(`"skipping":%d`, len(ids))) {
		t.Errorf("the next owner did not skip the %d outcomes written:\n%s", len(ids), grepLines(logs, "outcomes already written"))
	}
}

// grepLines returns the lines of logs that contain s.
func grepLines(logs, s string) string {
	var out []string
	for l := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Someone who can write to the results topic but does not hold the app
// secret forges outcomes for every record of a new group's partition (this
// group's header, a source topic, partition and offset): the bridge must
// not take them for outcomes already written. Every event is pushed and
// gets its own outcome, and the forged records are logged as ignored.
func TestForgedOutcomesOnTheResultsTopicSkipNothing(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 1)
	results := c.topic(t, "results", 2)
	fake, url := fakeMIMC(t)
	values, ids := uniqueEvents(t, 50, fmt.Sprintf("forged%d", rand.Intn(1000)))
	c.produce(t, in, values...)
	r := &dedupRun{c: c, fake: fake, cfg: settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63())), ids: ids}

	// The forger copies the headers the bridge writes, with no signature
	// and with made-up ones.
	var forged []kafkago.Message
	for off := range int64(len(ids)) {
		hs := []kafkago.Header{
			{Key: kafka.HeaderGroup, Value: []byte(r.cfg.KafkaGroupID)},
			{Key: kafka.HeaderSourceTopic, Value: []byte(in)},
			{Key: kafka.HeaderSourcePartition, Value: []byte("0")},
			{Key: kafka.HeaderSourceOffset, Value: fmt.Appendf(nil, "%d", off)},
			{Key: kafka.HeaderStatus, Value: []byte("delivered")},
		}
		if off%2 == 1 {
			hs = append(hs, kafkago.Header{Key: kafka.HeaderSignature, Value: []byte(strings.Repeat("ab", 32))})
		}
		forged = append(forged, kafkago.Message{Key: []byte(ids[off]), Value: fmt.Appendf(nil, `{"id":%q,"status":"delivered"}`, ids[off]), Headers: hs})
	}
	before := time.Now().Add(-time.Second)
	w := &kafkago.Writer{Addr: kafkago.TCP(c.brokers...), Topic: results, RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), forged...); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	// A commit at the start whose bound is before the forgery, as a crash
	// of the group's previous member would leave.
	r.setCommit(t, 0, kafka.CommitMetadata(before))

	b := r.run(t)
	written := map[string]int{} // the bridge's outcomes (the forged ones name no source)
	for _, o := range c.outcomes(t, results) {
		if o.Source.Topic == in {
			written[o.ID]++
		}
	}
	for _, id := range ids {
		if written[id] != 1 {
			t.Errorf("event %s has %d outcomes from the bridge, want 1: a forged record made it skip", id, written[id])
		}
	}
	if counts := pushCounts(fake); sum(counts) != len(ids) || r.repeated() != 0 {
		t.Errorf("%d recipients pushed, %d repeated; want each of the %d events pushed once", sum(counts), r.repeated(), len(ids))
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"skipping":0`) || !strings.Contains(logs, fmt.Sprintf(`"ignored":%d`, len(ids))) ||
		!strings.Contains(logs, fmt.Sprintf(`"unsigned":%d`, len(ids)/2)) {
		t.Errorf("the generation start did not ignore the %d forged records:\n%s", len(ids), grepLines(logs, "outcomes already written"))
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
