package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

// The urgent workload: one bridge under a quota with a backlog on its
// normal topic of --urgent-backlog times the quota (in recipients), while
// an urgent topic (URGENT_TOPICS) carries --urgent-rate login codes a
// second. It reports the urgent events' produce-to-outcome latency, the
// share of the quota the normal traffic used meanwhile, and whether any
// recipient of an expiring event (one normal event in ten has a ttl) was
// pushed after its expiry.

// urgentResult is the urgent workload's figures.
type urgentResult struct {
	Quota         float64 `json:"quotaPerKind"` // recipients per second
	BacklogX      float64 `json:"backlogTimesQuota"`
	Backlog       int     `json:"backlogRecipients"`
	MIMCLatencyMs float64 `json:"mimcLatencyMs"`
	LingerMs      float64 `json:"lingerMs"`
	Urgent        int     `json:"urgentEvents"`
	UrgentRate    float64 `json:"urgentPerSec"`
	P50Ms         float64 `json:"urgentP50Ms"` // produce to outcome written
	P99Ms         float64 `json:"urgentP99Ms"`
	MaxMs         float64 `json:"urgentMaxMs"`
	NormalUse     float64 `json:"normalQuotaUse"` // normal recipients accepted while urgent events flowed / (quota × that time)
	Expiring      int     `json:"expiringEvents"` // normal events with a ttl
	Expired       int     `json:"expiredOutcomes"`
	PushedLate    int     `json:"recipientsPushedAfterExpiry"` // accepted by the sandbox after their event expired
	MaxLateMs     float64 `json:"maxLateMs"`
	Error         string  `json:"error,omitempty"`
}

const (
	urgentTTL     = 5   // seconds: the ttl of the expiring normal events
	urgentExpires = 10  // one normal event in this many expires
	urgentPrefix  = "e" // urgent ids are "e<i>-<unix nanos>", as producedAt reads them
	normalPrefix  = "n" // normal ids are "n<i>"
	normalSender  = "shop"
)

// normalEvent is backlog event i: p2p, 1 to 5 recipients "u<i>x<j>", 200
// campaigns so that calls fill, a ttl for one in urgentExpires.
func normalEvent(dst []byte, i, events int) []byte {
	n := 1 + int(mix(uint64(i))%5)
	dst = append(dst, `{"id":"`+normalPrefix...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `","fromAccount":"`+normalSender+`","toAccounts":[`...)
	dst = appendAccounts(dst, i, n)
	dst = append(dst, `],"msg":"Campaign `...)
	dst = strconv.AppendInt(dst, int64(i)*heavyMessages/int64(events), 10)
	dst = append(dst, campaignText...)
	dst = append(dst, '"')
	if i%urgentExpires == 0 {
		dst = append(dst, `,"ttl":`...)
		dst = strconv.AppendInt(dst, urgentTTL, 10)
	}
	return append(dst, '}')
}

// urgentRun runs the urgent workload.
func (e *env) urgentRun(ctx context.Context) *urgentResult {
	o := e.o
	r := &urgentResult{Quota: o.urgentQuota, BacklogX: o.urgentBacklog, MIMCLatencyMs: ms(o.mimcLatency), LingerMs: ms(o.linger),
		UrgentRate: o.urgentRate}
	fail := func(err error) *urgentResult {
		r.Error = shorten(err.Error())
		logf("urgent: %s", r.Error)
		return r
	}
	in, urgent, results, group := e.name("in-normal"), e.name("in-urgent"), e.name("out"), e.name("group")
	for _, t := range []string{in, urgent, results} {
		if err := e.createTopic(ctx, t); err != nil {
			return fail(err)
		}
	}

	// The backlog: --urgent-backlog seconds of the quota, three recipients
	// an event on average.
	events := int(o.urgentBacklog * o.urgentQuota / 3)
	msgs := make([]kafka.Message, 0, events)
	produced := time.Now()
	for i := 0; i < events; i++ {
		v := normalEvent(nil, i, events)
		r.Backlog += recipientsOf(v)
		if i%urgentExpires == 0 {
			r.Expiring++
		}
		msgs = append(msgs, kafka.Message{Value: v, Time: produced})
	}
	logf("urgent: producing a backlog of %d events (%d recipients, %.0f× the quota of %.0f/s) to %s", events, r.Backlog, o.urgentBacklog, o.urgentQuota, in)
	pw := e.producer(in)
	err := pw.WriteMessages(ctx, msgs...)
	pw.Close()
	if err != nil {
		return fail(err)
	}

	e.sandboxCalls(o.mimcLatency)
	e.sandbox.SetQuota(mimctest.Quota{P2P: o.urgentQuota, P2T: o.urgentQuota})
	defer e.sandbox.SetQuota(mimctest.Quota{})
	cctx, stopChild := context.WithCancel(ctx)
	defer stopChild()
	childDone := make(chan error, 1)
	go func() {
		_, err := e.child(cctx, childSpec{Mode: "bridge", Label: "urgent/bridge", Topic: in, Urgent: urgent, Results: results, Group: group,
			UntilSignal: true, RateP2P: o.urgentQuota, RateP2T: o.urgentQuota}, nil)
		childDone <- err
	}()
	normalAccepted := func(from, to time.Time) int {
		n := 0
		for _, c := range e.sandbox.Calls() {
			if c.FromAccount == normalSender && c.PacketIDs != nil && !c.At.Before(from) && c.At.Before(to) {
				n += len(c.ToAccounts)
			}
		}
		return n
	}
	// Urgent traffic starts once the backlog drains at the quota.
	for normalAccepted(time.Time{}, time.Now().Add(time.Hour)) < int(2*o.urgentQuota) {
		select {
		case err := <-childDone:
			return fail(fmt.Errorf("the bridge ended before the backlog drained: %w", err))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.Urgent = int(o.urgentRate * o.urgentSecs)
	logf("urgent: the backlog drains; producing %d urgent events at %.0f/s to %s", r.Urgent, o.urgentRate, urgent)
	uw := e.producer(urgent)
	uw.Balancer = &kafka.Hash{}
	uw.BatchTimeout = 200 * time.Microsecond
	start := time.Now()
	for i := 0; i < r.Urgent && ctx.Err() == nil; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(float64(i) / o.urgentRate * float64(time.Second)))))
		now := time.Now()
		id := urgentPrefix + strconv.Itoa(i) + "-" + strconv.FormatInt(now.UnixNano(), 10)
		v := `{"id":"` + id + `","fromAccount":"auth","toAccount":"otp` + strconv.Itoa(i) + `","msg":"Your login code is 4711","ttl":60}`
		if err := uw.WriteMessages(ctx, kafka.Message{Key: []byte(id), Value: []byte(v), Time: now}); err != nil {
			uw.Close()
			stopChild()
			if cerr := <-childDone; cerr != nil {
				logf("urgent: the bridge ended: %v", cerr)
			}
			return fail(err)
		}
	}
	uw.Close()
	end := time.Now()
	time.Sleep(2 * time.Second) // the last urgent outcomes
	r.NormalUse = float64(normalAccepted(start, end)) / (o.urgentQuota * end.Sub(start).Seconds())
	calls := e.sandbox.Calls()
	stopChild()
	if err := <-childDone; err != nil {
		logf("urgent: the bridge: %v", err)
	}

	// Expiry: no recipient of an expiring event accepted after it expired.
	expiry := produced.Add(urgentTTL * time.Second)
	for _, c := range calls {
		if c.FromAccount != normalSender || c.PacketIDs == nil {
			continue
		}
		for _, a := range c.ToAccounts {
			i, err := strconv.Atoi(strings.TrimPrefix(a[:strings.IndexByte(a, 'x')], "u"))
			if err != nil || i%urgentExpires != 0 || !c.At.After(expiry) {
				continue
			}
			r.PushedLate++
			r.MaxLateMs = max(r.MaxLateMs, ms(c.At.Sub(expiry)))
		}
	}
	// Urgent latency: produce time (in the id) to the outcome record's
	// timestamp (set when the bridge's writer sent it).
	want, err := e.sumEnd(ctx, results)
	if err != nil {
		return fail(err)
	}
	var lat []time.Duration
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = e.readOutcomes(rctx, results, want, func(m kafka.Message, _ time.Time) {
		if strings.HasPrefix(string(m.Key), urgentPrefix) {
			if p, ok := producedAt(m.Key); ok {
				lat = append(lat, m.Time.Sub(p))
			}
		} else if strings.Contains(string(m.Value), `"status":"expired"`) {
			r.Expired++
		}
	})
	if err != nil {
		return fail(err)
	}
	if len(lat) < r.Urgent {
		return fail(fmt.Errorf("%d of %d urgent events have an outcome", len(lat), r.Urgent))
	}
	r.P50Ms, r.P99Ms, r.MaxMs = percentiles(lat)
	e.sandboxCalls(0)
	logf("urgent: p50 %.0fms, p99 %.0fms, max %.0fms produce→outcome; normal traffic used %.1f%% of the quota meanwhile; %d expired outcomes, %d recipients pushed after their expiry",
		r.P50Ms, r.P99Ms, r.MaxMs, 100*r.NormalUse, r.Expired, r.PushedLate)
	return r
}

func (r *urgentResult) print(w io.Writer) {
	fmt.Fprintf(w, "\nurgent: one bridge, quota %.0f recipients/s per kind, a normal backlog of %d recipients (%.0f× the quota), %d urgent events at %.0f/s, MIMC %gms, BATCH_LINGER %gms:\n\n",
		r.Quota, r.Backlog, r.BacklogX, r.Urgent, r.UrgentRate, r.MIMCLatencyMs, r.LingerMs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "urgent p50 ms\tp99 ms\tmax ms\tnormal quota use\texpiring events\texpired outcomes\tpushed after expiry\t")
	fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t%.1f%%\t%d\t%d\t%d\t\n", r.P50Ms, r.P99Ms, r.MaxMs, 100*r.NormalUse, r.Expiring, r.Expired, r.PushedLate)
	tw.Flush()
}
