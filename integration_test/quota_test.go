package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// quotaRun is a group of in-process bridges against one sandbox with an
// app-wide quota, as production MIMC counts it.
type quotaRun struct {
	c          *cluster
	fake       *mimctest.Server
	cfg        config.Config
	results    string
	ids        []string
	recipients int
}

// newQuotaRun creates the topics, a sandbox with a p2p quota of perSecond
// recipients and a backlog of events p2p events of perEvent recipients each,
// 100 recipients to a message so that calls can fill.
func newQuotaRun(t *testing.T, partitions int, perSecond float64, q mimctest.Quota, events, perEvent int) *quotaRun {
	t.Helper()
	c := newCluster(t)
	in := c.topic(t, "push", partitions)
	results := c.topic(t, "results", 4)
	fake, url := fakeMIMC(t)
	q.P2P = perSecond
	fake.SetQuota(q)
	cfg := settings(t, c, url, in, results, fmt.Sprintf("quota-%d", time.Now().UnixNano()))
	cfg.RateP2P = perSecond
	cfg.BatchMaxRecipients = 100
	cfg.BatchLinger = 20 * time.Millisecond
	cfg.LogLevel = "info"
	r := &quotaRun{c: c, fake: fake, cfg: cfg, results: results}
	values := make([][]byte, events)
	prefix := fmt.Sprintf("q%d", time.Now().UnixNano()%100000)
	for i := range values {
		id := fmt.Sprintf("%s-%d", prefix, i)
		r.ids = append(r.ids, id)
		to := make([]string, perEvent)
		for j := range to {
			to[j] = fmt.Sprintf("user-%d-%d", i, j)
		}
		r.recipients += perEvent
		values[i] = mustJSON(t, map[string]any{"id": id, "fromAccount": "shop",
			"toAccounts": to, "msg": fmt.Sprintf("%s campaign %d", prefix, i*perEvent/100)})
	}
	c.produce(t, in, values...)
	return r
}

// accepted is the recipients the sandbox's quota let through.
func (r *quotaRun) accepted() int64 { return r.fake.QuotaStats().P2P.AcceptedRecipients }

// allDelivered waits until every event has a delivered outcome, and fails
// on any other status or a missing outcome.
func (r *quotaRun) allDelivered(t *testing.T, within time.Duration) {
	t.Helper()
	waitFor(t, within, "every event's recipient accepted by the sandbox", func() bool {
		return r.accepted() >= int64(r.recipients)
	})
	want := map[string]bool{}
	for _, id := range r.ids {
		want[id] = true
	}
	waitFor(t, 30*time.Second, "every outcome", func() bool {
		seen := map[string]bool{}
		for _, o := range r.c.outcomes(t, r.results) {
			seen[o.ID] = true
		}
		return len(seen) >= len(want)
	})
	for _, o := range r.c.outcomes(t, r.results) {
		if o.Status != "delivered" {
			t.Errorf("%s: %s (%s)", o.ID, o.Status, o.Error)
		}
	}
}

// shareLog is one "quota share set" line of a bridge's log.
type shareLog struct {
	at            time.Time
	share         float64
	maxRecipients int
}

func sharesLogged(p *bridgeProc) []shareLog {
	var out []shareLog
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg   string  `json:"msg"`
			TS    float64 `json:"ts"`
			Share float64 `json:"share"`
			Max   int     `json:"max_recipients_p2p"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "quota share set" {
			continue
		}
		sec, frac := math.Modf(l.TS)
		out = append(out, shareLog{at: time.Unix(int64(sec), int64(frac*1e9)), share: l.Share, maxRecipients: l.Max})
	}
	return out
}

// lastShare is the share a bridge last logged, or -1.
func lastShare(p *bridgeProc) shareLog {
	s := sharesLogged(p)
	if len(s) == 0 {
		return shareLog{share: -1}
	}
	return s[len(s)-1]
}

// waitShares waits until every bridge has logged share as its last.
func waitShares(t *testing.T, share float64, ps ...*bridgeProc) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("every member at a share of %.3f", share), func() bool {
		for _, p := range ps {
			if math.Abs(lastShare(p).share-share) > 1e-9 {
				return false
			}
		}
		return true
	})
}

// largestCallSince is the most recipients of a call the sandbox received
// at or after from.
func (r *quotaRun) largestCallSince(from time.Time) int {
	n := 0
	for _, c := range r.fake.Calls() {
		if !c.At.Before(from) {
			n = max(n, len(c.ToAccounts))
		}
	}
	return n
}

func TestTheGroupSharesTheQuota(t *testing.T) {
	// 240 recipients a second for the group; 12 partitions; events of 100
	// recipients. Alone, a member sends full calls of 100; three members
	// hold 80/s each, four 60/s, and each sends calls of at most its
	// second of quota.
	const quota = 240
	r := newQuotaRun(t, 12, quota, mimctest.Quota{}, 30, 100)

	m1 := startBridge(t, r.cfg)
	waitShares(t, 1, m1)
	if got := lastShare(m1).maxRecipients; got != 100 {
		t.Errorf("a member alone may send calls of %d, want 100", got)
	}
	waitFor(t, 30*time.Second, "the first member sending", func() bool { return r.accepted() >= 300 })
	if n := r.largestCallSince(time.Time{}); n != 100 {
		t.Errorf("alone, the largest call had %d recipients, want full calls of 100", n)
	}

	m2, m3 := startBridge(t, r.cfg), startBridge(t, r.cfg)
	waitShares(t, 1.0/3, m1, m2, m3)
	threeAt := time.Now()
	m4 := startBridge(t, r.cfg)
	waitShares(t, 0.25, m1, m2, m3, m4)
	fourAt := time.Now()
	for i, p := range []*bridgeProc{m1, m2, m3, m4} {
		if got := lastShare(p).maxRecipients; got != 60 {
			t.Errorf("member %d of four may send calls of %d, want 60", i+1, got)
		}
	}
	waitFor(t, 30*time.Second, "calls from the four members", func() bool {
		return r.largestCallSince(fourAt) > 0
	})

	// One leaves: the three left take its share back.
	if err := m4.stop(t); err != nil {
		t.Fatalf("stopping a member: %v", err)
	}
	waitShares(t, 1.0/3, m1, m2, m3)
	r.allDelivered(t, 60*time.Second)

	if n := r.largestCallSince(threeAt); n != 80 {
		t.Errorf("once the group had three or more members, the largest call had %d recipients, want 80 (a second of a third of the quota)", n)
	}
	st := r.fake.QuotaStats().P2P
	t.Logf("sandbox: %d calls accepted (%d recipients), %d refused", st.AcceptedCalls, st.AcceptedRecipients, st.RefusedCalls)
	// The members' buckets start empty and their bursts add up to MIMC's
	// bucket: nothing should be refused; one call is left to the
	// scheduling noise of a loaded machine.
	if st.RefusedCalls > 1 {
		t.Errorf("%d calls were refused for the quota through the joins and the leave, want none", st.RefusedCalls)
	}
}

func TestA429StormSlowsTheSenders(t *testing.T) {
	// The bridge believes the quota is 2000/s; the sandbox allows 200/s.
	r := newQuotaRun(t, 4, 200, mimctest.Quota{}, 1500, 1)
	r.cfg.RateP2P = 2000
	m := startBridge(t, r.cfg)
	r.allDelivered(t, 60*time.Second)
	st := r.fake.QuotaStats().P2P
	t.Logf("sandbox: %d calls accepted, %d refused", st.AcceptedCalls, st.RefusedCalls)
	if st.RefusedCalls == 0 {
		t.Fatal("no call was refused: the storm did not happen")
	}
	// A sender that kept its rate would see nine calls in ten refused.
	if share := st.RefusedShare(); share > 0.5 {
		t.Errorf("%.0f%% of calls were refused: the sender did not slow down", 100*share)
	}
	if !strings.Contains(m.logs.String(), `"msg":"quota share set"`) {
		t.Error("the bridge logged no quota share")
	}
}

func TestARebalanceUnderAQuotaBoundBacklogDrainsInItsBudget(t *testing.T) {
	// 100 recipients a second and a backlog of 40 s. The drain budget is
	// two thirds of the 6 s session timeout: a member must hold no more
	// than it can send in a third of it, or a rebalance abandons work.
	r := newQuotaRun(t, 4, 100, mimctest.Quota{}, 4000, 1)
	m1 := startBridge(t, r.cfg)
	waitFor(t, 30*time.Second, "the first member sending", func() bool { return r.accepted() >= 200 })
	m2 := startBridge(t, r.cfg)
	waitShares(t, 0.5, m1, m2)
	logs := m1.logs.String()
	if strings.Contains(logs, "drain deadline passed") {
		t.Errorf("the first member abandoned work at the rebalance: %s", grepLines(logs, "drain"))
	}
	if !strings.Contains(logs, `"msg":"generation drained"`) {
		t.Errorf("the first member logged no drained generation")
	}
}

func TestEachKindRunsAtItsQuotaThroughAMixedBacklog(t *testing.T) {
	// 100 recipients a second of each kind; a backlog mixed in every
	// partition that needs 3 s of the p2p quota and 6 s of the p2t quota.
	// Were fetching paced by the slower kind, p2p would use half its quota.
	const perSecond = 100
	c := newCluster(t)
	in := c.topic(t, "push", 4)
	results := c.topic(t, "results", 4)
	fake, url := fakeMIMC(t)
	fake.SetQuota(mimctest.Quota{P2P: perSecond, P2T: perSecond})
	cfg := settings(t, c, url, in, results, fmt.Sprintf("kinds-%d", time.Now().UnixNano()))
	cfg.RateP2P, cfg.RateP2T = perSecond, perSecond
	cfg.BatchMaxRecipients = 100
	cfg.BatchLinger = 20 * time.Millisecond
	prefix := fmt.Sprintf("k%d", time.Now().UnixNano()%100000)
	var values [][]byte
	for i := range 90 {
		ev := map[string]any{"id": fmt.Sprintf("%s-%d", prefix, i), "fromAccount": "shop"}
		var to []any
		for j := range 10 {
			if i%3 == 0 {
				to = append(to, fmt.Sprintf("user-%d-%d", i, j))
			} else {
				to = append(to, fmt.Sprint(1000*i+j))
			}
		}
		if i%3 == 0 {
			ev["toAccounts"], ev["msg"] = to, fmt.Sprintf("%s p2p %d", prefix, i/30)
		} else {
			ev["topicIds"], ev["msg"] = to, fmt.Sprintf("%s p2t %d", prefix, i/30)
		}
		values = append(values, mustJSON(t, ev))
	}
	c.produce(t, in, values...)
	startBridge(t, cfg)
	waitFor(t, 60*time.Second, "every recipient accepted", func() bool {
		st := fake.QuotaStats()
		return st.P2P.AcceptedRecipients >= 300 && st.P2T.AcceptedRecipients >= 600
	})
	var first time.Time
	last := map[bool]time.Time{}
	for _, call := range fake.Calls() {
		if call.PacketIDs == nil {
			continue
		}
		if first.IsZero() || call.At.Before(first) {
			first = call.At
		}
		p2t := len(call.TopicIDs) > 0
		if call.At.After(last[p2t]) {
			last[p2t] = call.At
		}
	}
	st := fake.QuotaStats()
	// The bucket starts empty: the first full call goes out a second after
	// the bridge begins, the last call of a kind when its last recipient's
	// token comes. The span is the kind's sending, that second included.
	p2pSpan, p2tSpan := last[false].Sub(first)+time.Second, last[true].Sub(first)+time.Second
	p2pUse, p2tUse := st.P2P.Use(perSecond, p2pSpan), st.P2T.Use(perSecond, p2tSpan)
	t.Logf("p2p: %d recipients in %s (%.0f%% of its quota); p2t: %d in %s (%.0f%%); refused %d p2p, %d p2t calls",
		st.P2P.AcceptedRecipients, p2pSpan.Round(time.Millisecond), 100*p2pUse,
		st.P2T.AcceptedRecipients, p2tSpan.Round(time.Millisecond), 100*p2tUse,
		st.P2P.RefusedCalls, st.P2T.RefusedCalls)
	if p2pUse < 0.7 {
		t.Errorf("p2p used %.0f%% of its quota until its backlog was done, want at least 70%%", 100*p2pUse)
	}
	if p2tUse < 0.7 {
		t.Errorf("p2t used %.0f%% of its quota until its backlog was done, want at least 70%%", 100*p2tUse)
	}
}
