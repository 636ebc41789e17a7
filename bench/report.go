package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// target is one of the targets with what this run measured.
type target struct {
	Name     string  `json:"name"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	AtLeast  bool    `json:"atLeast"` // Measured >= Limit, else Measured <= Limit
	Unit     string  `json:"unit"`    // "×", "MiB", "ms"
	Met      bool    `json:"met"`
	Missing  bool    `json:"missing,omitempty"` // a run it needs did not happen
	Note     string  `json:"note,omitempty"`
}

func (r *report) find(workload, mode string, latencyMs float64) *runResult {
	for i := range r.Runs {
		x := &r.Runs[i]
		if x.Workload == workload && x.Mode == mode && x.MIMCLatencyMs == latencyMs && x.Error == "" {
			return x
		}
	}
	return nil
}

func targets(o options, rep *report) []target {
	var out []target
	add := func(t target, ok bool) {
		if !ok {
			t.Missing = true
		} else if t.AtLeast {
			t.Met = t.Measured >= t.Limit
		} else {
			t.Met = t.Measured <= t.Limit
		}
		out = append(out, t)
	}
	lat := ms(o.mimcLatency)
	bare := rep.find("heavy", "bare", 0)
	naive := rep.find("heavy", "naive", 0)
	b0 := rep.find("heavy", "bridge", 0)
	b20 := rep.find("heavy", "bridge", lat)
	ratio := func(a, b *runResult) (float64, bool) {
		if a == nil || b == nil || b.EventsPerSec == 0 {
			return 0, false
		}
		return a.EventsPerSec / b.EventsPerSec, true
	}
	v, ok := ratio(b0, bare)
	add(target{Name: "bridge ≥ 0.7 × bare pipe events/s (heavy sharing, MIMC 0ms)", Measured: v, Limit: 0.7, AtLeast: true, Unit: "×"}, ok)
	v, ok = ratio(b20, bare)
	add(target{Name: fmt.Sprintf("bridge at %s MIMC latency ≥ 0.5 × bare pipe (heavy sharing)", o.mimcLatency), Measured: v, Limit: 0.5, AtLeast: true, Unit: "×"}, ok)
	b100 := rep.find("heavy", "bridge", 100)
	v, ok = ratio(b100, bare)
	add(target{Name: "bridge at 100ms MIMC latency ≥ 0.4 × bare pipe (heavy sharing)", Measured: v, Limit: 0.4, AtLeast: true, Unit: "×"}, ok)
	v, ok = ratio(b0, naive)
	add(target{Name: "bridge ≥ 30 × naive bridge (heavy sharing, MIMC 0ms)", Measured: v, Limit: 30, AtLeast: true, Unit: "×"}, ok)

	// The mixed backlog: hundreds of messages interleaved in every
	// partition, against the franz-go pipe of the same run.
	franz := rep.find("mixed", "barefranz", 0)
	for _, t := range []struct {
		latency float64
		limit   float64
	}{{0, 0.40}, {lat, 0.35}, {100, 0.30}} {
		v, ok := ratio(rep.find("mixed", "bridge", t.latency), franz)
		add(target{Name: fmt.Sprintf("mixed backlog: bridge at %gms MIMC latency ≥ %.2f × bare franz-go pipe", t.latency, t.limit),
			Measured: v, Limit: t.limit, AtLeast: true, Unit: "×"}, ok)
	}
	mixedCalls, mixedRSS, mixedWhere := 0.0, 0.0, ""
	for _, r := range rep.Runs {
		if r.Workload == "mixed" && r.Mode == "bridge" && r.Error == "" {
			if r.CallsRatio > mixedCalls {
				mixedCalls, mixedWhere = r.CallsRatio, fmt.Sprintf("worst at %gms", r.MIMCLatencyMs)
			}
			mixedRSS = max(mixedRSS, mib(r.PeakRSS))
		}
	}
	add(target{Name: "mixed backlog: MIMC calls ≤ 1.3 × ideal minimum", Measured: mixedCalls, Limit: 1.3, Unit: "×", Note: mixedWhere}, mixedCalls > 0)
	add(target{Name: "mixed backlog: peak RSS ≤ 128 MiB", Measured: mixedRSS, Limit: 128, Unit: "MiB"}, mixedRSS > 0)

	worst, where := 0.0, ""
	for _, r := range rep.Runs {
		if r.Workload == "mixed" {
			continue // its own target above
		}
		if r.Mode == "bridge" && r.Error == "" && r.CallsRatio > worst {
			worst, where = r.CallsRatio, fmt.Sprintf("worst: %s at %gms", r.Workload, r.MIMCLatencyMs)
		}
	}
	add(target{Name: "MIMC calls ≤ 1.05 × ideal minimum (every bridge run but mixed)", Measured: worst, Limit: 1.05, Unit: "×", Note: where}, worst > 0)

	big := rep.find("backlog-"+short(o.backlog), "bridge", 0)
	small := rep.find("backlog-"+short(o.smallBacklog), "bridge", 0)
	if big != nil {
		add(target{Name: fmt.Sprintf("peak RSS ≤ 128 MiB with the %s backlog", short(o.backlog)), Measured: mib(big.PeakRSS), Limit: 128, Unit: "MiB"}, true)
	} else {
		add(target{Name: "peak RSS ≤ 128 MiB with the large backlog", Limit: 128, Unit: "MiB"}, false)
	}
	if big != nil && small != nil && small.PeakRSS > 0 {
		add(target{Name: fmt.Sprintf("peak RSS %s backlog ≤ 1.2 × %s backlog", short(o.backlog), short(o.smallBacklog)),
			Measured: float64(big.PeakRSS) / float64(small.PeakRSS), Limit: 1.2, Unit: "×"}, true)
	} else {
		add(target{Name: "peak RSS large backlog ≤ 1.2 × small backlog", Limit: 1.2, Unit: "×"}, false)
	}
	for _, l := range []float64{0, lat} {
		var found *latencyResult
		for i := range rep.Latency {
			x := &rep.Latency[i]
			if x.Mode == "bridge" && x.MIMCLatencyMs == l && x.Error == "" {
				found = x
			}
		}
		t := target{Name: fmt.Sprintf("p99 produce→outcome at half max rate ≤ linger + 3×%gms + 50ms (bridge, MIMC %gms)", l, l),
			Limit: ms(o.linger) + 3*l + 50, Unit: "ms"}
		if found != nil {
			t.Measured = found.P99Ms
			t.Note = fmt.Sprintf("at %.0f events/s", found.Rate)
		}
		add(t, found != nil)
	}
	// The ordered workload: the same keyed records without and with
	// ORDERED_TOPICS, and the dedup window's cost on heavy sharing.
	un, ord := rep.find("ordered", "bridge", 0), rep.find("ordered", "bridge-ordered", 0)
	v, ok = ratio(ord, un)
	add(target{Name: fmt.Sprintf("ordered: ORDERED_TOPICS ≥ 0.8 × unordered events/s (%d keys, same records)", o.orderedKeys),
		Measured: v, Limit: 0.8, AtLeast: true, Unit: "×"}, ok)
	rpc := 0.0
	if ok && un.Calls > 0 && ord.Calls > 0 {
		rpc = 100 * math.Abs(ord.perCall()/un.perCall()-1)
	}
	add(target{Name: "ordered: recipients per call within 10% of unordered", Measured: rpc, Limit: 10, Unit: "%",
		Note: pick2(ok && un.Calls > 0 && ord.Calls > 0, func() string { return fmt.Sprintf("%.1f against %.1f", ord.perCall(), un.perCall()) })},
		ok && un.Calls > 0 && ord.Calls > 0)
	nd := rep.find("heavy", "bridge-nodedup", 0)
	v, ok = ratio(b0, nd)
	add(target{Name: "dedup window (DEDUP_WINDOW=10m) costs ≤ 10% of events/s (heavy sharing, MIMC 0ms, against DEDUP_WINDOW=0)",
		Measured: 100 * (1 - v), Limit: 10, Unit: "%", Note: pick2(ok, func() string { return fmt.Sprintf("%.2f× of DEDUP_WINDOW=0", v) })}, ok)

	q := rep.Quota
	qok := q != nil && q.Error == ""
	if qok {
		note := fmt.Sprintf("%d members, one joining, one leaving; %.0f/s per kind", q.Members, q.Quota)
		add(target{Name: "quota workload: quota use ≥ 90% (p2p)", Measured: 100 * q.UseP2P, Limit: 90, AtLeast: true, Unit: "%", Note: note}, true)
		add(target{Name: "quota workload: quota use ≥ 90% (p2t)", Measured: 100 * q.UseP2T, Limit: 90, AtLeast: true, Unit: "%", Note: note}, true)
		add(target{Name: "quota workload: calls refused ≤ 1%", Measured: 100 * q.RefusedShare, Limit: 1, Unit: "%",
			Note: fmt.Sprintf("%d of %d", q.Refused, q.Calls)}, true)
	} else {
		for _, n := range []string{"quota workload: quota use ≥ 90% (p2p)", "quota workload: quota use ≥ 90% (p2t)", "quota workload: calls refused ≤ 1%"} {
			add(target{Name: n, Unit: "%"}, false)
		}
	}
	u := rep.Urgent
	uok := u != nil && u.Error == ""
	var unote string
	if uok {
		unote = fmt.Sprintf("%.0f× backlog at %.0f/s, BATCH_LINGER %gms, MIMC %gms", u.BacklogX, u.Quota, u.LingerMs, u.MIMCLatencyMs)
	}
	add(target{Name: "urgent workload: urgent p99 produce→outcome ≤ 1s", Measured: pick(uok, u, func(u *urgentResult) float64 { return u.P99Ms }), Limit: 1000, Unit: "ms", Note: unote}, uok)
	add(target{Name: "urgent workload: normal traffic uses ≥ 85% of the quota", Measured: pick(uok, u, func(u *urgentResult) float64 { return 100 * u.NormalUse }), Limit: 85, AtLeast: true, Unit: "%"}, uok)
	add(target{Name: "urgent workload: no recipient pushed after its expiry", Measured: pick(uok, u, func(u *urgentResult) float64 { return float64(u.PushedLate) }), Limit: 0, Unit: "recipients",
		Note: pickNote(uok, u)}, uok)
	return out
}

// pick2 is a note of a result that may be missing.
func pick2(ok bool, f func() string) string {
	if !ok {
		return ""
	}
	return f()
}

// perCall is the recipients per MIMC call of a run.
func (r *runResult) perCall() float64 {
	if r.Calls == 0 {
		return 0
	}
	return float64(r.Recipients) / float64(r.Calls)
}

// pick reads a figure of a result that may be missing.
func pick[T any](ok bool, r *T, f func(*T) float64) float64 {
	if !ok {
		return 0
	}
	return f(r)
}

func pickNote(ok bool, u *urgentResult) string {
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d expiring events, %d expired outcomes", u.Expiring, u.Expired)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nmachine: %d CPUs, %s, %s, %s; run took %.0fs; load average %s at the start, %s at the end\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion, r.Machine.OS, r.Seconds, r.Machine.LoadStart, r.Machine.LoadEnd)
	fmt.Fprintf(w, "settings: events=%s naive-events=%s backlog=%s/%s partitions=%s repeat=%s BATCH_LINGER=%s BATCH_MAX_RECIPIENTS=%s",
		r.Settings["events"], r.Settings["naiveEvents"], r.Settings["smallBacklog"], r.Settings["backlog"],
		r.Settings["partitions"], r.Settings["repeat"], r.Settings["batchLinger"], r.Settings["batchMaxRecipients"])
	// Shown only when set: 0 is the bridge's default.
	for _, s := range []struct{ key, name string }{{"maxConcurrentCalls", "MAX_CONCURRENT_CALLS"}, {"maxPendingEvents", "MAX_PENDING_EVENTS"}, {"maxPendingBytes", "MAX_PENDING_BYTES"}} {
		if v := r.Settings[s.key]; v != "" && v != "0" {
			fmt.Fprintf(w, " %s=%s", s.name, v)
		}
	}
	fmt.Fprint(w, "\n\n")

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tmode\tMIMC\tevents\tevents/s\trecipients/s\t× bare\t× franz\tcalls\tideal\tcalls/ideal\trecipients/call\tpeak RSS MiB\tpeak heap MiB\tCPU µs/event\tbroker+sandbox µs/event\tcommitted\t")
	for _, x := range r.Runs {
		vs, vsFranz, ratio, calls, perCall := "-", "-", "-", "-", "-"
		if x.VsBare > 0 && x.Mode != "bare" {
			vs = fmt.Sprintf("%.2f", x.VsBare)
		}
		if x.VsBareFranz > 0 && x.Mode != "barefranz" {
			vsFranz = fmt.Sprintf("%.2f", x.VsBareFranz)
		}
		if x.CallsRatio > 0 {
			ratio = fmt.Sprintf("%.3f", x.CallsRatio)
		}
		if x.Mode != "bare" && x.Mode != "barefranz" {
			calls = fmt.Sprint(x.Calls)
			if x.Calls > 0 {
				perCall = fmt.Sprintf("%.1f", x.perCall())
			}
		}
		ok := "yes"
		if !x.Committed {
			ok = "NO"
		}
		if x.Error != "" {
			ok = "ERROR"
		}
		fmt.Fprintf(tw, "%s\t%s\t%gms\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n",
			x.Workload, x.Mode, x.MIMCLatencyMs, x.Events, x.EventsPerSec, x.RecipsPerSec, vs, vsFranz, calls, x.IdealCalls, ratio, perCall,
			mib(x.PeakRSS), mib(x.PeakHeap), x.CPUPerEventUs, x.BrokerCPUUs, ok)
	}
	tw.Flush()

	if len(r.Latency) > 0 {
		until := "the outcome record's timestamp (sent by the writer)"
		if r.Latency[0].Until == "read" {
			until = "the outcome read from the results topic"
		}
		fmt.Fprintf(w, "\nlatency from the produce time in the event id to %s;\nheavy sharing at a steady half of each mode's rate (bare: at the bridge's):\n\n", until)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "mode\tMIMC\trate events/s\tevents\tp50 ms\tp99 ms\tmax ms\tbudget ms\t")
		for _, x := range r.Latency {
			budget := "-"
			if x.BudgetMs > 0 {
				budget = fmt.Sprintf("%.0f", x.BudgetMs)
			}
			p99 := fmt.Sprintf("%.1f", x.P99Ms)
			if x.Error != "" {
				p99 = "ERROR"
			}
			fmt.Fprintf(tw, "%s\t%gms\t%.0f\t%d\t%.1f\t%s\t%.1f\t%s\t\n", x.Mode, x.MIMCLatencyMs, x.Rate, x.Events, x.P50Ms, p99, x.MaxMs, budget)
		}
		tw.Flush()
	}

	if r.Quota != nil {
		r.Quota.print(w)
	}
	if r.Urgent != nil && r.Urgent.Error == "" {
		r.Urgent.print(w)
	}

	fmt.Fprintf(w, "\ntargets:\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		status := "not met"
		switch {
		case t.Missing:
			status = "not measured"
		case t.Met:
			status = "met"
		}
		meas := "-"
		if !t.Missing {
			switch t.Unit {
			case "×":
				meas = fmt.Sprintf("%.2f×", t.Measured)
			default:
				meas = fmt.Sprintf("%.1f %s", t.Measured, t.Unit)
			}
		}
		note := ""
		if t.Note != "" {
			note = "(" + t.Note + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, meas, strings.ToUpper(status[:1])+status[1:], note)
	}
	tw.Flush()
	for _, x := range r.Runs {
		if x.Error != "" {
			fmt.Fprintf(w, "\nerror in %s/%s@%gms: %s\n", x.Workload, x.Mode, x.MIMCLatencyMs, x.Error)
		}
	}
	for _, x := range r.Latency {
		if x.Error != "" {
			fmt.Fprintf(w, "\nerror in latency %s@%gms: %s\n", x.Mode, x.MIMCLatencyMs, x.Error)
		}
	}
	if r.Quota != nil && r.Quota.Error != "" {
		fmt.Fprintf(w, "\nerror in the quota workload: %s\n", r.Quota.Error)
	}
	if r.Urgent != nil && r.Urgent.Error != "" {
		fmt.Fprintf(w, "\nerror in the urgent workload: %s\n", r.Urgent.Error)
	}
}
