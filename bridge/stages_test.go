package bridge

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// Each stage alone, on its fakes and a recording observer; pipeline_test.go
// and the others test them together.

// recordingObserver counts what the stages report, by name.
type recordingObserver struct {
	mu     sync.Mutex
	counts map[string]float64
	// stalled is the last progress report.
	stalled bool
}

var (
	_ fetchObserver    = (*recordingObserver)(nil)
	_ batchObserver    = (*recordingObserver)(nil)
	_ sendObserver     = (*recordingObserver)(nil)
	_ writeObserver    = (*recordingObserver)(nil)
	_ progressObserver = (*recordingObserver)(nil)
	_ waitsObserver    = (*recordingObserver)(nil)
)

func newRecordingObserver() *recordingObserver {
	return &recordingObserver{counts: map[string]float64{}}
}

func (o *recordingObserver) add(name string, n float64) {
	o.mu.Lock()
	o.counts[name] += n
	o.mu.Unlock()
}

func (o *recordingObserver) get(name string) float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[name]
}

// recordedCount is one named count of a recordingObserver.
type recordedCount struct {
	o    *recordingObserver
	name string
}

func (c recordedCount) Inc()          { c.o.add(c.name, 1) }
func (c recordedCount) Dec()          { c.o.add(c.name, -1) }
func (c recordedCount) Add(n float64) { c.o.add(c.name, n) }
func (c recordedCount) Sub(n float64) { c.o.add(c.name, -n) }

func (o *recordingObserver) partition(topic string, prio priority) fetchCounts {
	c := func(what string) recordedCount { return recordedCount{o, what + "/" + topic} }
	return fetchCounts{consumed: c("consumed"), skipped: c("skipped"), rejected: c("rejected"), ahead: c("ahead"),
		pending: recordedCount{o, "pending/" + prio.String()}}
}

func (o *recordingObserver) cut(r batching.Reason) { o.add("cut/"+r.String(), 1) }
func (o *recordingObserver) quotaWaiting(kind message.Kind) level {
	return recordedCount{o, "quota_waiting/" + string(kind)}
}
func (o *recordingObserver) calling(int) { o.add("calling", 1) }
func (o *recordingObserver) called()     { o.add("called", 1) }
func (o *recordingObserver) sendWait(prio priority, _ time.Duration) {
	o.add("send_wait/"+prio.String(), 1)
}
func (o *recordingObserver) written() { o.add("written", 1) }
func (o *recordingObserver) outcomes(prio priority, status string, n int) {
	o.add("outcomes/"+prio.String()+"/"+status, float64(n))
}
func (o *recordingObserver) freed(prio priority, n int) { o.add("pending/"+prio.String(), -float64(n)) }
func (o *recordingObserver) committed(offsets map[TopicPartition]int64) {
	o.add("commits", 1)
}
func (o *recordingObserver) commitFailed() { o.add("commit_errors", 1) }
func (o *recordingObserver) progress(stalled bool, _ time.Duration) {
	o.mu.Lock()
	o.stalled = stalled
	o.mu.Unlock()
}
func (o *recordingObserver) lag(tp TopicPartition, n int64) {
	o.add("lag/"+tp.String(), float64(n))
}
func (o *recordingObserver) orderWaiting(delta int)    { o.add("order_waiting", float64(delta)) }
func (o *recordingObserver) orderWaited(time.Duration) {}
func (o *recordingObserver) dedupWaiting(delta int)    { o.add("dedup_waiting", float64(delta)) }
func (o *recordingObserver) dedupEvicted(n int)        { o.add("dedup_evicted", float64(n)) }
func (o *recordingObserver) dedupIDs(int)              {}

// testFetchConfig is the fetch settings of the default configuration.
func testFetchConfig() fetchConfig {
	return fetchConfig{limits: event.Limits{MaxMsgBytes: 10240, MaxIDBytes: 256, MaxRecipients: 1000}}
}

// fetched decodes value as the record at offset off of partition 0.
func fetched(t *testing.T, off int64, value string) *record {
	t.Helper()
	cfg := testFetchConfig()
	m := Record{Topic: topic, Offset: off, Value: []byte(value), Time: time.Now()}
	return newRecord(tp(0), &m, &cfg, normal, nil)
}

// testRooms is room for max events in each lane.
func testRooms(max int) [priorities]*room {
	return [priorities]*room{newRoom(max, 1<<30), newRoom(max, 1<<30)}
}

// testLanes is both lanes with batchers of calls of at most perCall
// recipients that linger an hour.
func testLanes(t *testing.T, perCall int) [priorities]*lane {
	t.Helper()
	var lanes [priorities]*lane
	rooms := testRooms(100)
	for prio := range lanes {
		b, err := batching.New(batching.Config[*record]{MaxRecipients: perCall, Linger: time.Hour, MaxPendingEvents: 100})
		if err != nil {
			t.Fatal(err)
		}
		lanes[prio] = &lane{prio: priority(prio), room: rooms[prio], batcher: b}
	}
	return lanes
}

func TestTheFetchStageDecodesEachRecordIntoItsLaneAndSettlesThoseThatNeedNoCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSource()
		src.produce(0, ev("a", "alice"), "not json", ev("done-before", "bob"), ev("b", "carol"))
		src.produce(1, ev("c", "dan"))
		obs := newRecordingObserver()
		tracker := NewTracker()
		cfg := testFetchConfig()
		cfg.urgent = map[string]bool{topic: true}
		as := []Assignment{{TopicPartition: tp(0)}, {TopicPartition: tp(1)}}
		rooms := testRooms(10)
		s := &fetchStage{cfg: &cfg, source: src, tracker: tracker,
			done:  DoneOf(map[TopicPartition][]int64{tp(0): {2}}),
			rooms: rooms, lag: newBacklog(as), waits: newWaits(nil, obs), log: zap.NewNop(), obs: obs}
		ctx, cancel := context.WithCancel(context.Background())
		out := s.run(ctx, as)
		synctest.Wait()
		cancel()
		var got []string
		for rec := range out[urgent] {
			switch {
			case rec.settled != nil:
				got = append(got, fmt.Sprintf("%s@%d %s", rec.tp, rec.offset, rec.settled.status))
			case rec.batch.Data != rec:
				t.Errorf("record %s@%d: the batcher's part does not lead back to it", rec.tp, rec.offset)
			default:
				got = append(got, fmt.Sprintf("%s@%d %s", rec.tp, rec.offset, rec.ev.ID))
			}
		}
		for rec := range out[normal] {
			t.Errorf("record %s@%d of an urgent topic in the normal lane", rec.tp, rec.offset)
		}
		sort.Strings(got)
		want := []string{"push/0@0 a", "push/0@1 rejected", "push/0@3 b", "push/1@0 c"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("records %v, want %v", got, want)
		}
		if obs.get("consumed/push") != 5 || obs.get("skipped/push") != 1 || obs.get("rejected/push") != 1 || obs.get("pending/urgent") != 4 {
			t.Errorf("counts %v, want 5 consumed, 1 skipped, 1 rejected, 4 pending", obs.counts)
		}
		if n := rooms[urgent].held(); n != 4 {
			t.Errorf("%d events hold room, want 4 (the skipped record takes none)", n)
		}
		// The skipped record is done at once, the others are in flight.
		tracker.Done(tp(0), 0)
		tracker.Done(tp(0), 1)
		if off := tracker.Committable()[tp(0)]; off != 3 {
			t.Errorf("committable at %d once offsets 0 and 1 are done, want 3 (2 was skipped as done)", off)
		}
	})
}

func TestTheBatchStageCutsCallsAndPassesSettledRecordsBy(t *testing.T) {
	obs := newRecordingObserver()
	s := &batchStage{lanes: testLanes(t, 2), senders: [priorities]int{1, 1}, waits: newWaits(nil, obs),
		abandon: context.Background(), log: zap.NewNop(), obs: obs}
	var events [priorities]chan *record
	var in [priorities]<-chan *record
	for prio := range events {
		events[prio] = make(chan *record, 10)
		in[prio] = events[prio]
	}
	calls, settled := s.run(in)
	events[normal] <- fetched(t, 0, ev("a", "alice"))
	events[normal] <- fetched(t, 1, "not json")
	events[normal] <- fetched(t, 2, ev("b", "bob"))
	events[normal] <- fetched(t, 3, ev("c", "carol"))
	full := <-calls[normal]
	if got := full.Recipients.ToAccounts; fmt.Sprint(got) != "[alice bob]" || full.Reason() != batching.ReasonFull {
		t.Errorf("first call to %v (%s), want alice and bob, full", got, full.Reason())
	}
	if it := <-settled; it.offset != 1 || it.status != event.Rejected {
		t.Errorf("settled %d %s, want the rejected record 1", it.offset, it.status)
	}
	for _, ch := range events {
		close(ch)
	}
	flushed := <-calls[normal]
	if got := flushed.Recipients.ToAccounts; fmt.Sprint(got) != "[carol]" || flushed.Reason() != batching.ReasonFlush {
		t.Errorf("last call to %v (%s), want carol, flushed", got, flushed.Reason())
	}
	for c := range calls[normal] {
		t.Errorf("an extra call to %v", c.Recipients)
	}
	for c := range calls[urgent] {
		t.Errorf("a call to %v in the urgent lane", c.Recipients)
	}
	for it := range settled {
		t.Errorf("an extra settled record %d", it.offset)
	}
	if obs.get("cut/full") != 1 || obs.get("cut/flush") != 1 || obs.get("cut/linger") != 0 {
		t.Errorf("cuts %v, want one full and one flush", obs.counts)
	}
}

func TestTheSendStageTurnsMIMCsAnswersIntoOutcomes(t *testing.T) {
	obs := newRecordingObserver()
	push := pushFunc(func(_ context.Context, call mimc.Call) (mimc.Result, error) {
		switch call.FromAccount {
		case "busy":
			return mimc.Result{}, &mimc.Error{HTTPStatus: 429, Message: "too many requests", Attempts: 3}
		case "down":
			return mimc.Result{}, errors.New("connection refused")
		}
		return answer(call)
	})
	lanes := testLanes(t, 10)
	var ready []*call
	for i, from := range []string{"shop", "busy", "down"} {
		rec := fetched(t, int64(i), evFrom("e-"+from, from, "alice"))
		var err error
		if ready, err = lanes[normal].batcher.Add(&rec.batch, &rec.ev.Content, rec.ev.Recipients, ready); err != nil {
			t.Fatal(err)
		}
	}
	ready = lanes[normal].batcher.Flush(ready)
	var in [priorities]<-chan *call
	for prio := range in {
		ch := make(chan *call, len(ready))
		if priority(prio) == normal {
			for _, c := range ready {
				ch <- c
			}
		}
		close(ch)
		in[prio] = ch
	}
	s := &sendStage{senders: [priorities]int{2, 1}, pusher: push, waits: newWaits(nil, obs), abandon: context.Background(), obs: obs}
	got := map[string]event.Outcome{}
	for it := range s.run(in) {
		out, err := event.ParseOutcome(it.value)
		if err != nil {
			t.Fatal(err)
		}
		got[out.ID] = out
	}
	if o := got["e-shop"]; o.Status != event.Delivered || o.Recipients[0].PacketID == "" {
		t.Errorf("the accepted call's outcome %+v, want delivered with a packet id", o)
	}
	if o := got["e-busy"]; o.Status != event.Failed || o.Attempts != 3 || o.Recipients[0].Code != 429 {
		t.Errorf("the throttled call's outcome %+v, want failed after 3 attempts with code 429", o)
	}
	if o := got["e-down"]; o.Status != event.Failed || o.Error != "connection refused" {
		t.Errorf("the unanswered call's outcome %+v, want failed with the error", o)
	}
	if obs.get("calling") != 3 || obs.get("called") != 3 {
		t.Errorf("counts %v, want 3 calls started and ended", obs.counts)
	}
}

// writeInput is three outcomes of partition 0, in flight: 0 and 2 sent, 1
// settled.
func writeInput(t *testing.T, tracker *Tracker, rooms [priorities]*room) (sent, settled chan outItem) {
	t.Helper()
	sent, settled = make(chan outItem, 3), make(chan outItem, 3)
	now := time.Now()
	for off := range int64(3) {
		tracker.Add(tp(0), off, now)
		rooms[normal].take(context.Background(), 0)
		rec := fetched(t, off, ev(fmt.Sprint("e", off), "alice"))
		if off == 1 {
			out := event.NewExpired(&rec.ev, event.Source{Topic: topic, Offset: off}, now, now, now)
			settled <- *settle(rec, &out)
			continue
		}
		out := outcomeOf(rec, now, nil)
		out.Status = event.Delivered
		sent <- completed(rec, now, &out)
	}
	close(sent)
	close(settled)
	return sent, settled
}

// newTestWriteStage returns a write stage whose publisher refuses until
// told otherwise, with its tracker, rooms and observer.
func newTestWriteStage(abandon context.Context) (*writeStage, *fakePublisher, *recordingObserver) {
	obs := newRecordingObserver()
	pub := &fakePublisher{}
	pub.setFailing(true)
	s := &writeStage{cfg: writeConfig{linger: 5 * time.Millisecond, maxBatch: 100}, pub: pub, tracker: NewTracker(), rooms: testRooms(10),
		progress: newProgressClock(time.Now()), abandon: abandon, obs: obs}
	return s, pub, obs
}

func TestTheWriteStageMarksRecordsDoneOnlyOnceTheirOutcomesAreAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, pub, obs := newTestWriteStage(context.Background())
		tracker, rooms := s.tracker, s.rooms
		written := s.run(writeInput(t, tracker, rooms))
		time.Sleep(time.Second)
		synctest.Wait()
		if off, ok := tracker.Committable()[tp(0)]; ok || rooms[normal].held() != 3 {
			t.Fatalf("committable at %d, %d events pending while the results topic refuses the outcomes: want nothing done", off, rooms[normal].held())
		}
		pub.setFailing(false)
		<-written
		var offs []int64
		for _, o := range pub.all() {
			offs = append(offs, o.Source.Offset)
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		if fmt.Sprint(offs) != "[0 1 2]" {
			t.Errorf("outcomes of offsets %v, want 0, 1 and 2", offs)
		}
		if off := tracker.Committable()[tp(0)]; off != 3 {
			t.Errorf("committable at %d, want 3", off)
		}
		if n := rooms[normal].held(); n != 0 {
			t.Errorf("%d events still hold room", n)
		}
		if obs.get("outcomes/normal/delivered") != 2 || obs.get("outcomes/normal/expired") != 1 || obs.get("pending/normal") != -3 {
			t.Errorf("counts %v, want 2 delivered, 1 expired, 3 freed", obs.counts)
		}
		if s.progress.since(time.Now()) != 0 {
			t.Errorf("the progress clock is %s old after a write, want marked at it", s.progress.since(time.Now()))
		}
	})
}

func TestTheWriteStageDropsWhatItHoldsWhenTheGenerationAbandonsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		abandonCtx, abandon := context.WithCancel(context.Background())
		s, pub, obs := newTestWriteStage(abandonCtx)
		tracker, rooms := s.tracker, s.rooms
		written := s.run(writeInput(t, tracker, rooms))
		time.Sleep(time.Second)
		abandon()
		<-written
		if n := len(pub.all()); n != 0 {
			t.Errorf("%d outcomes written", n)
		}
		if off, ok := tracker.Committable()[tp(0)]; ok {
			t.Errorf("committable at %d: an abandoned outcome counts as written", off)
		}
		if obs.get("written") != 0 {
			t.Errorf("counts %v, want nothing written", obs.counts)
		}
	})
}

// commitLog is a Committer that keeps its commits.
type commitLog struct {
	mu      sync.Mutex
	offsets []map[TopicPartition]int64
	since   []map[TopicPartition]time.Time
}

func (c *commitLog) Commit(_ context.Context, offsets map[TopicPartition]int64, since map[TopicPartition]time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offsets = append(c.offsets, offsets)
	c.since = append(c.since, since)
	return nil
}

func (c *commitLog) last() (map[TopicPartition]int64, map[TopicPartition]time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.offsets) == 0 {
		return nil, nil
	}
	return c.offsets[len(c.offsets)-1], c.since[len(c.since)-1]
}

func TestTheProgressStageCommitsWhatHasOutcomesWithTheBoundOfWhatIsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		obs := newRecordingObserver()
		tracker := NewTracker()
		rooms := testRooms(10)
		cfg := progressConfig{every: 250 * time.Millisecond, lagEvery: 5, stallAfter: 2 * time.Second,
			clockSkew: 10 * time.Second, boundRefresh: time.Minute}
		as := []Assignment{{TopicPartition: tp(0), Offset: -2}}
		commits := &commitLog{}
		s := &progressStage{cfg: cfg, committer: commits, assignments: as, tracker: tracker, bounds: newCommitBounds(as, cfg),
			rooms: rooms, progress: newProgressClock(time.Now()), log: zap.NewNop(), obs: obs}
		stop := s.run()
		defer stop()
		fetchedAt := time.Now()
		for off := range int64(3) {
			tracker.Add(tp(0), off, fetchedAt)
			rooms[normal].take(context.Background(), 0)
		}
		// 10ms past the ticks: what the test does never coincides with one.
		time.Sleep(time.Second + 10*time.Millisecond)
		if offs, _ := commits.last(); offs != nil {
			t.Fatalf("committed %v with no outcome written", offs)
		}
		tracker.Done(tp(0), 0)
		tracker.Done(tp(0), 2)
		time.Sleep(250 * time.Millisecond)
		offs, since := commits.last()
		if offs[tp(0)] != 1 || !since[tp(0)].Equal(fetchedAt.Add(-cfg.clockSkew)) {
			t.Errorf("committed %v since %v, want offset 1 with the fetch time of offset 1 less the skew (%v)",
				offs, since, fetchedAt.Add(-cfg.clockSkew))
		}
		// Offset 1 has no outcome for longer than the stall timeout.
		time.Sleep(2 * time.Second)
		obs.mu.Lock()
		stalled := obs.stalled
		obs.mu.Unlock()
		if !stalled {
			t.Error("not stalled with events pending and no outcome written for longer than the stall timeout")
		}
		tracker.Done(tp(0), 1)
		s.progress.mark(time.Now())
		time.Sleep(250 * time.Millisecond)
		if offs, since := commits.last(); offs[tp(0)] != 3 || !since[tp(0)].Equal(time.Now().Add(-10*time.Millisecond-cfg.clockSkew)) {
			t.Errorf("committed %v since %v, want offset 3 bounded by the tick's time less the skew", offs, since)
		}
		if n := obs.get("commits"); n != 2 {
			t.Errorf("%v commits counted, want 2", n)
		}
	})
}
