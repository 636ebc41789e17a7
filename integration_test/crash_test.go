package integration_test

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// crashSetup is a slow enough stream that a process can be stopped in the
// middle of it.
func crashSetup(t *testing.T, events int) (*cluster, *mimctest.Server, config.Config, []string) {
	t.Helper()
	c := newCluster(t)
	in := c.topic(t, "push", 4)
	results := c.topic(t, "results", 2)
	group := fmt.Sprintf("group-%d", rand.Int63())
	fake, url := fakeMIMC(t)
	fake.SetFaults(mimctest.Faults{Latency: 25 * time.Millisecond})
	values, ids := uniqueEvents(t, events, fmt.Sprintf("crash%d", rand.Intn(1000)))
	c.produce(t, in, values...)
	cfg := settings(t, c, url, in, results, group)
	cfg.BatchMaxRecipients = 5
	cfg.MaxConcurrentCalls = 4
	cfg.BatchLinger = 20 * time.Millisecond
	// Few events in flight, so that a stop lands mid-stream: a graceful
	// drain sends everything fetched.
	cfg.MaxPendingEvents = 200
	return c, fake, cfg, ids
}

// allCommitted waits until the group has committed every input record.
func allCommitted(t *testing.T, c *cluster, cfg config.Config, within time.Duration) {
	t.Helper()
	in := cfg.KafkaTopics[0]
	end := c.endOffsets(t, in)
	waitFor(t, within, "every record committed", func() bool {
		got := c.committed(t, cfg.KafkaGroupID, in, len(end))
		for p, e := range end {
			if got[p] != e {
				return false
			}
		}
		return true
	})
}

// report checks that every event has an outcome and counts repeats: repeated
// outcomes per id and repeated pushes per (message, recipient).
func report(t *testing.T, c *cluster, fake *mimctest.Server, cfg config.Config, ids []string) (dupOutcomes, dupPushes int) {
	t.Helper()
	outs := c.outcomes(t, cfg.ResultsTopic)
	seen := map[string]int{}
	for _, o := range outs {
		seen[o.ID]++
		if o.Status != event.Delivered {
			t.Errorf("event %s: status %s (%s)", o.ID, o.Status, o.Error)
		}
		if strings.Contains(string(o.raw), appSecret) {
			t.Errorf("the app secret appears in an outcome")
		}
	}
	for _, id := range ids {
		switch n := seen[id]; {
		case n == 0:
			t.Errorf("event %s was lost: no outcome", id)
		case n > 1:
			dupOutcomes += n - 1
		}
	}
	counts := pushCounts(fake)
	for _, n := range counts {
		if n > 1 {
			dupPushes += n - 1
		}
	}
	if len(counts) != len(ids) {
		t.Errorf("%d distinct recipients pushed for %d events", len(counts), len(ids))
	}
	return dupOutcomes, dupPushes
}

// life is when one process ran: the MIMC calls that arrived and the outcomes
// completed in it are that process's.
type life struct{ from, to time.Time }

func (l life) holds(at time.Time) bool { return !at.Before(l.from) && !at.After(l.to) }

// killFigures are what a SIGKILL left behind.
type killFigures struct {
	calls            int // MIMC calls the killed process made
	cutShort         int // of them, cut short by the kill: MIMC never answered
	pushedNoOutcome  int // recipients MIMC accepted whose outcome the process had not written: in flight at the kill
	repeatedPushes   int // recipients the process pushed that were pushed again after the kill
	repeatedFinished int // of those, recipients whose outcome the process had written (the next owner skips them: 0)
	dupOutcomes      int // events the process wrote an outcome for that got another after the kill
}

func (f killFigures) String() string {
	return fmt.Sprintf("%d calls, %d cut short by the kill; %d recipients pushed without their outcome written (in flight at the kill); "+
		"%d pushed again after it (%d of them with their outcome written); %d duplicate outcomes",
		f.calls, f.cutShort, f.pushedNoOutcome, f.repeatedPushes, f.repeatedFinished, f.dupOutcomes)
}

// perKill attributes the repeats of a crash test to the kills: for each
// killed process, what it pushed and wrote, and what was done again after.
func perKill(t *testing.T, c *cluster, fake *mimctest.Server, cfg config.Config, killed []life) []killFigures {
	t.Helper()
	outs := c.outcomes(t, cfg.ResultsTopic)
	recipientOf := func(r event.Recipient) string {
		if r.ToAccount != "" {
			return "p2p:" + r.ToAccount
		}
		return "p2t:" + r.TopicID
	}
	// Per event (its one recipient): when its outcomes were completed.
	written := map[string][]time.Time{}
	for _, o := range outs {
		for _, r := range o.Recipients {
			written[recipientOf(r)] = append(written[recipientOf(r)], o.CompletedAt)
		}
	}
	type push struct {
		at       time.Time
		answered bool
	}
	pushes := map[string][]time.Time{}
	var calls []push
	for _, call := range fake.Calls() {
		calls = append(calls, push{at: call.At, answered: call.HTTPStatus != 0})
		if call.PacketIDs == nil {
			continue
		}
		for _, a := range call.ToAccounts {
			pushes["p2p:"+a] = append(pushes["p2p:"+a], call.At)
		}
		for _, id := range call.TopicIDs {
			pushes[fmt.Sprintf("p2t:%d", id)] = append(pushes[fmt.Sprintf("p2t:%d", id)], call.At)
		}
	}
	figs := make([]killFigures, len(killed))
	for i, l := range killed {
		f := &figs[i]
		for _, cl := range calls {
			if l.holds(cl.at) {
				f.calls++
				if !cl.answered {
					f.cutShort++
				}
			}
		}
		for rcpt, ats := range pushes {
			if !slices.ContainsFunc(ats, l.holds) {
				continue
			}
			finished := slices.ContainsFunc(written[rcpt], l.holds)
			if !finished {
				f.pushedNoOutcome++
			}
			if slices.ContainsFunc(ats, func(at time.Time) bool { return at.After(l.to) }) {
				f.repeatedPushes++
				if finished {
					f.repeatedFinished++
				}
			}
		}
		for _, ats := range written {
			if slices.ContainsFunc(ats, l.holds) && slices.ContainsFunc(ats, func(at time.Time) bool { return at.After(l.to) }) {
				f.dupOutcomes++
			}
		}
	}
	return figs
}

// Three SIGKILLs mid-stream: nothing is lost, no event gets a second
// outcome, and a push is repeated only if it was in flight at a kill (MIMC
// accepted it, its outcome was not yet written). Each kill's figures are
// logged:
//
//	go test ./integration_test/ -run TestSIGKILLThreeTimes -v | grep -E 'kill|SIGKILL'
func TestSIGKILLThreeTimesLosesNothing(t *testing.T) {
	c, fake, cfg, ids := crashSetup(t, 3000)
	var killed []life
	for i := 0; i < 3; i++ {
		from := time.Now()
		p := startProc(t, cfg)
		before := len(fake.Calls())
		waitFor(t, 60*time.Second, "the bridge to make progress", func() bool { return len(fake.Calls()) > before+40 })
		time.Sleep(time.Duration(200+rand.Intn(400)) * time.Millisecond)
		to := time.Now()
		p.kill(t)

		killed = append(killed, life{from: from, to: to})
	}
	p := startProc(t, cfg)
	allCommitted(t, c, cfg, 120*time.Second)
	if code := p.term(t); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	dupOutcomes, dupPushes := report(t, c, fake, cfg, ids)
	for i, f := range perKill(t, c, fake, cfg, killed) {
		t.Logf("kill %d: %s", i+1, f)
		if f.repeatedFinished != 0 {
			t.Errorf("kill %d: %d recipients whose outcome was written were pushed again", i+1, f.repeatedFinished)
		}
	}
	t.Logf("SIGKILL x3: %d events, %d duplicate outcomes, %d duplicate pushes", len(ids), dupOutcomes, dupPushes)
	if dupOutcomes != 0 {
		t.Errorf("%d duplicate outcomes after the kills, want 0: the next owner skips what the results topic holds", dupOutcomes)
	}
	if !strings.Contains(p.output.String(), "outcomes already written: their records are skipped") {
		t.Errorf("the last process did not log what it skipped")
	}
}

func TestSIGTERMDrainsAndRestartsWithoutDuplicates(t *testing.T) {
	c, fake, cfg, ids := crashSetup(t, 2000)
	p := startProc(t, cfg)
	waitFor(t, 60*time.Second, "the bridge to make progress", func() bool { return len(fake.Calls()) > 60 })
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, tail(p.output.String(), 30))
	}
	mid := len(fake.Calls())
	p = startProc(t, cfg)
	allCommitted(t, c, cfg, 120*time.Second)
	if code := p.term(t); code != 0 {
		t.Errorf("exit code %d after the second SIGTERM, want 0", code)
	}
	dupOutcomes, dupPushes := report(t, c, fake, cfg, ids)
	t.Logf("SIGTERM at %d of %d calls: %d duplicate outcomes, %d duplicate pushes", mid, len(fake.Calls()), dupOutcomes, dupPushes)
	if dupOutcomes != 0 || dupPushes != 0 {
		t.Errorf("a graceful stop repeated %d outcomes and %d pushes, want none", dupOutcomes, dupPushes)
	}
}

func TestMembersJoiningAndLeavingLoseNothingAndCommitsNeverMoveBack(t *testing.T) {
	c, fake, cfg, ids := crashSetup(t, 4000)
	in := cfg.KafkaTopics[0]

	// Watch the group's committed offsets throughout.
	stop := make(chan struct{})
	var watch sync.WaitGroup
	var backwards []string
	watch.Add(1)
	go func() {
		defer watch.Done()
		last := map[int]int64{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for p, off := range c.committed(t, cfg.KafkaGroupID, in, 4) {
				prev, seen := last[p]
				if seen && off < prev {
					backwards = append(backwards, fmt.Sprintf("partition %d: %d after %d", p, off, prev))
				}
				if !seen || off > prev {
					last[p] = off
				}
			}
		}
	}()

	a := startProc(t, cfg)
	cfgB := cfg
	cfgB.HTTPAddr = "127.0.0.1:0"
	b := startProc(t, cfgB)
	waitFor(t, 60*time.Second, "progress with two members", func() bool { return len(fake.Calls()) > 100 })
	joiner := startProc(t, cfg)
	waitFor(t, 60*time.Second, "progress after a join", func() bool { return len(fake.Calls()) > 250 })
	if code := joiner.term(t); code != 0 {
		t.Errorf("the leaving member exited %d, want 0", code)
	}
	allCommitted(t, c, cfg, 180*time.Second)
	for _, p := range []*proc{a, b} {
		if code := p.term(t); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	}
	close(stop)
	watch.Wait()
	for _, s := range backwards {
		t.Errorf("committed offset moved backwards: %s", s)
	}
	dupOutcomes, dupPushes := report(t, c, fake, cfg, ids)
	t.Logf("join and leave: %d events, %d duplicate outcomes, %d duplicate pushes", len(ids), dupOutcomes, dupPushes)
}
