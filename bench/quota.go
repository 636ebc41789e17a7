package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// The quota workload: several bridge processes of one group against one
// sandbox that counts an app-wide quota, as production MIMC does, on a
// backlog of both kinds. A member joins a third of the way through and one
// leaves at two thirds. It reports how much of the quota the group used
// (recipients accepted over the quota times the span) and the share of
// calls refused with 429.

// quotaResult is the quota workload's figures.
type quotaResult struct {
	Members       int     `json:"members"` // at the start; one joins, one leaves
	Partitions    int     `json:"partitions"`
	Quota         float64 `json:"quotaPerKind"` // recipients per second, each kind
	MIMCLatencyMs float64 `json:"mimcLatencyMs"`
	SplitKinds    bool    `json:"splitKinds"` // p2p on even partitions, p2t on odd ones
	Events        int     `json:"events"`
	Seconds       float64 `json:"seconds"` // first to last accepted call
	UseP2P        float64 `json:"useP2P"`  // accepted recipients / (quota × seconds)
	UseP2T        float64 `json:"useP2T"`
	Calls         int64   `json:"calls"`
	Refused       int64   `json:"refusedCalls"`
	RefusedShare  float64 `json:"refusedShare"`
	Abandoned     int     `json:"drainsAbandoned"` // "drain deadline passed" in the members' logs
	Error         string  `json:"error,omitempty"`
}

// quotaEvent is event i of the quota workload: p2p or p2t (see quotaP2P),
// 1 to 5 recipients, 200 campaigns so that calls fill.
func quotaEvent(dst []byte, i, events int, split bool) []byte {
	p2p := quotaP2P(i, split)
	// Both events of a pair have as many recipients, one of each kind:
	// the kinds weigh the same.
	n := 1 + int(mix(uint64(i/2))%5)
	dst = append(dst, `{"id":"q`...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `","fromAccount":"shop","fromResource":"campaigns",`...)
	if p2p {
		dst = append(dst, `"toAccounts":[`...)
	} else {
		dst = append(dst, `"topicIds":[`...)
	}
	for j := 0; j < n; j++ {
		if j > 0 {
			dst = append(dst, ',')
		}
		if p2p {
			dst = append(dst, `"u`...)
			dst = strconv.AppendInt(dst, int64(i), 10)
			dst = append(dst, 'x')
			dst = strconv.AppendInt(dst, int64(j), 10)
			dst = append(dst, '"')
		} else {
			dst = strconv.AppendInt(dst, int64(i)*8+int64(j)+1, 10)
		}
	}
	dst = append(dst, `],"msg":"Campaign `...)
	dst = strconv.AppendInt(dst, int64(i)*heavyMessages/int64(events), 10)
	dst = append(dst, campaignText...)
	dst = append(dst, `"}`...)
	return dst
}

// quotaRun runs the quota workload.
func (e *env) quotaRun(ctx context.Context) *quotaResult {
	o := e.o
	r := &quotaResult{Members: o.quotaMembers, Partitions: o.quotaPartitions, Quota: o.quotaRate, MIMCLatencyMs: ms(o.mimcLatency), SplitKinds: o.quotaSplitKinds}
	// Three recipients an event on average, half of each kind.
	r.Events = int(o.quotaSecs * 2 * o.quotaRate / 3)
	fail := func(err error) *quotaResult {
		r.Error = shorten(err.Error())
		logf("quota: %s", r.Error)
		return r
	}
	topic, results, group := e.name("in-quota"), e.name("out"), e.name("group")
	for _, t := range []string{topic, results} {
		if err := e.createTopicN(ctx, t, o.quotaPartitions); err != nil {
			return fail(err)
		}
	}
	e.sandboxCalls(o.mimcLatency)
	e.sandbox.SetQuota(mimctest.Quota{P2P: o.quotaRate, P2T: o.quotaRate})
	defer e.sandbox.SetQuota(mimctest.Quota{})

	// Each member runs until its context ends (SIGTERM: a graceful leave).
	type member struct {
		cancel context.CancelFunc
		done   chan error
	}
	var mu sync.Mutex
	abandoned := 0
	start := func(i int) member {
		mctx, cancel := context.WithCancel(ctx)
		m := member{cancel: cancel, done: make(chan error, 1)}
		spec := childSpec{Mode: "bridge", Label: fmt.Sprintf("quota/member%d", i), Topic: topic, Results: results, Group: group,
			UntilSignal: true, RateP2P: o.quotaRate, RateP2T: o.quotaRate, SessionTimeout: quotaSession}
		go func() {
			res, err := e.child(mctx, spec, nil)
			if res != nil {
				mu.Lock()
				abandoned += res.DrainsAbandoned
				mu.Unlock()
			}
			m.done <- err
		}()
		return m
	}
	var members []member
	for i := range o.quotaMembers {
		members = append(members, start(i+1))
	}
	stopAll := func() {
		for _, m := range members {
			m.cancel()
		}
		for i, m := range members {
			if err := <-m.done; err != nil {
				logf("quota: member %d ended: %v", i, err)
			}
		}
	}
	// The backlog comes once the group has formed, so that it is shared
	// from the start.
	if err := e.waitMembers(ctx, group, o.quotaMembers); err != nil {
		stopAll()
		return fail(err)
	}
	logf("quota: %d members joined; producing %d events (%.0fs at %.0f recipients/s per kind) to %s",
		o.quotaMembers, r.Events, o.quotaSecs, o.quotaRate, topic)
	pw := e.producer(topic)
	msgs := make([]kafka.Message, 0, r.Events)
	for i := 0; i < r.Events; i++ {
		msgs = append(msgs, kafka.Message{Value: quotaEvent(nil, i, r.Events, o.quotaSplitKinds)})
	}
	err := pw.WriteMessages(ctx, msgs...)
	pw.Close()
	if err != nil {
		stopAll()
		return fail(err)
	}
	accepted := func() int64 {
		st := e.sandbox.QuotaStats()
		return st.P2P.AcceptedRecipients + st.P2T.AcceptedRecipients
	}
	total := int64(0)
	for _, m := range msgs {
		total += int64(recipientsOf(m.Value))
	}
	waitAccepted := func(n int64) error {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for accepted() < n {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
		return nil
	}
	// A member joins a third of the way, one leaves at two thirds.
	if err := waitAccepted(total / 3); err != nil {
		stopAll()
		return fail(err)
	}
	logf("quota: a third sent; member %d joins", o.quotaMembers+1)
	members = append(members, start(o.quotaMembers+1))
	if err := waitAccepted(2 * total / 3); err != nil {
		stopAll()
		return fail(err)
	}
	logf("quota: two thirds sent; member 1 leaves")
	members[0].cancel()
	if err := <-members[0].done; err != nil {
		logf("quota: member 1: %v", err)
	}
	members = members[1:]
	// Done once every recipient is accepted and the group committed it.
	waitErr := waitAccepted(total)
	for waitErr == nil && !e.allCommitted(ctx, group, topic) {
		select {
		case <-ctx.Done():
			waitErr = ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	stopAll()
	if waitErr != nil {
		return fail(waitErr)
	}

	var first, last time.Time
	for _, c := range e.sandbox.Calls() {
		r.Calls++
		if c.Fault == mimctest.FaultQuota {
			r.Refused++
			continue
		}
		if c.PacketIDs == nil {
			continue
		}
		if first.IsZero() || c.At.Before(first) {
			first = c.At
		}
		if c.At.After(last) {
			last = c.At
		}
	}
	st := e.sandbox.QuotaStats()
	// The span runs from the first accepted call to the last. (The
	// sandbox's bucket starts full, the members' empty: none spends the
	// second of quota it held at the start.)
	span := last.Sub(first)
	r.Seconds = span.Seconds()
	r.UseP2P = st.P2P.Use(o.quotaRate, span)
	r.UseP2T = st.P2T.Use(o.quotaRate, span)
	if r.Calls > 0 {
		r.RefusedShare = float64(r.Refused) / float64(r.Calls)
	}
	r.Abandoned = abandoned
	e.sandboxCalls(0)
	logf("quota: %d events in %.1fs: quota use p2p %.1f%%, p2t %.1f%%; %d of %d calls refused (%.2f%%); %d drains abandoned",
		r.Events, r.Seconds, 100*r.UseP2P, 100*r.UseP2T, r.Refused, r.Calls, 100*r.RefusedShare, r.Abandoned)
	return r
}

// quotaSession is the members' KAFKA_SESSION_TIMEOUT (the broker's least):
// a join or a leave rebalances within a second or two.
const quotaSession = 6 * time.Second

// waitMembers waits until the group is stable with n members.
func (e *env) waitMembers(ctx context.Context, group string, n int) error {
	for {
		resp, err := e.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
		if err == nil && len(resp.Groups) == 1 && resp.Groups[0].GroupState == "Stable" && len(resp.Groups[0].Members) == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d members in group %s: %w", n, group, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// recipientsOf counts the recipients of a quota event: its commas inside
// the list plus one.
func recipientsOf(v []byte) int {
	n, in := 0, false
	for _, b := range v {
		switch {
		case b == '[':
			in, n = true, 1
		case b == ']':
			return n
		case in && b == ',':
			n++
		}
	}
	return n
}

func (r *quotaResult) print(w io.Writer) {
	fmt.Fprintf(w, "\nquota: %d bridge processes (one joins at a third, one leaves at two thirds), %d partitions, quota %.0f recipients/s per kind, MIMC %gms:\n\n",
		r.Members, r.Partitions, r.Quota, r.MIMCLatencyMs)
	if r.SplitKinds {
		fmt.Fprintf(w, "(kinds split: p2p on even partitions, p2t on odd ones)\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "events\tseconds\tuse p2p\tuse p2t\tcalls\trefused\trefused %\tdrains abandoned\t")
	fmt.Fprintf(tw, "%d\t%.1f\t%.1f%%\t%.1f%%\t%d\t%d\t%.2f%%\t%d\t\n", r.Events, r.Seconds, 100*r.UseP2P, 100*r.UseP2T, r.Calls, r.Refused, 100*r.RefusedShare, r.Abandoned)
	tw.Flush()
}

// quotaP2P reports whether event i of the quota workload is p2p. Events go
// in pairs, one of each kind: with split, the even one is p2p, which the
// round-robin producer puts on even partitions (and p2t on odd ones); each
// member then holds its own mix of the kinds while its share of each kind
// is the same, so the members holding fewer partitions of a kind run dry of
// it and leave their share of it idle. Otherwise which one of a pair is p2p
// is drawn, so that every partition holds both kinds.
func quotaP2P(i int, split bool) bool {
	even := i%2 == 0
	if split {
		return even
	}
	return even != (mix(uint64(i/2)^0x2545f491)&1 == 1)
}
