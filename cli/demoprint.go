package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mimc-bridge/mimc-bridge/demo"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/termtext"
	"github.com/mimc-bridge/mimc-bridge/mimc/mimctest"
)

func runPrefix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	n := time.Now().UnixNano()
	b := []byte("demo-0000")
	for i := len(b) - 1; i >= 5; i-- {
		b[i] = letters[n%int64(len(letters))]
		n /= int64(len(letters))
	}
	return string(b)
}

func (d *demoRun) printHeader() {
	c, realMIMC := d.cfg, d.realMIMC()
	d.printf("mimc-bridge demo: an embedded Kafka broker, %s and the bridge, all in this process\n",
		map[bool]string{true: "the real MIMC", false: "a MIMC sandbox"}[realMIMC])
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	store := "in memory"
	if d.opts.dataDir != "" {
		store = "data in " + d.opts.dataDir
	}
	fmt.Fprintf(tw, "  Kafka broker\t%s (kfake, %s); topics %s -> %s\n", c.KafkaBrokers[0], store, strings.Join(c.KafkaTopics, ","), c.ResultsTopic)
	if realMIMC {
		fmt.Fprintf(tw, "  MIMC\t%s, app id %s: the sample pushes go to made-up accounts and topics\n", c.MIMCURL, c.MIMCAppID)
	} else {
		fmt.Fprintf(tw, "  MIMC sandbox\t%s (refuses fromAccount %s with code %d; 3%% HTTP 500 and 2%% envelope 500 to show retries)\n",
			c.MIMCURL, demo.RefusedAccount, demo.RefusedCode)
		if q := d.opts.mimcQuota; q > 0 {
			fmt.Fprintf(tw, "  MIMC quota\t%g recipients/s of each kind for the app, code 429 past it; RATE_P2P=%g RATE_P2T=%g\n", q, c.RateP2P, c.RateP2T)
		}
	}
	if base := d.httpBase(); base != "" {
		fmt.Fprintf(tw, "  bridge\tgroup %s; %s/metrics, /healthz, /readyz\n", c.KafkaGroupID, base)
	} else {
		fmt.Fprintf(tw, "  bridge\tgroup %s; no HTTP server (HTTP_ADDR is empty)\n", c.KafkaGroupID)
	}
	fmt.Fprintf(tw, "  bridge logs\t%s\n", d.logPath)
	if len(c.UrgentTopics) > 0 {
		fmt.Fprintf(tw, "  urgent\tURGENT_TOPICS=%s: their events have their own room, batcher and senders, and take the quota first\n", strings.Join(c.UrgentTopics, ","))
	}
	fmt.Fprintf(tw, "  expiry\tsome samples have a ttl that ran out before they were produced: they end expired, never sent\n")
	if len(c.OrderedTopics) > 0 {
		fmt.Fprintf(tw, "  order\tORDERED_TOPICS=%s: %d support chats keyed by conversation; a message waits for the one before it in its conversation\n",
			strings.Join(c.OrderedTopics, ","), demo.Conversations)
	}
	if c.DedupWindow > 0 {
		fmt.Fprintf(tw, "  once\tDEDUP_WINDOW=%s: some samples are a copy of an earlier one (same id, a producer's retry): they end duplicate, not pushed again\n", c.DedupWindow)
	}
	fmt.Fprintf(tw, "  batching\tBATCH_LINGER=%s BATCH_MAX_RECIPIENTS=%d MAX_CONCURRENT_CALLS=%d\n", c.BatchLinger, c.BatchMaxRecipients, c.MaxConcurrentCalls)
	_ = tw.Flush()
}

func (d *demoRun) printProgress(elapsed time.Duration) {
	n, total, counts := d.track.progress()
	line := fmt.Sprintf("  %5.1fs  outcomes %*d/%d", elapsed.Seconds(), len(strconv.Itoa(total)), n, total)
	for _, st := range orderedStatuses(counts) {
		line += fmt.Sprintf("  %s %d", termtext.Escape(st), counts[st])
	}
	d.printf("%s\n", line)
}

func (d *demoRun) printSummary(elapsed time.Duration) {
	sum := d.track.summary()
	d.printf("\nall %d outcomes arrived in %s\n\n", sum.total, fmtDuration(elapsed))
	row := "  %-10s %7v %9v\n"
	d.printf(row, "status", "events", "expected")
	all := statusCounts{}
	for st, n := range sum.byStatus {
		all[st] += n
	}
	for st, n := range sum.want {
		all[st] += n
	}
	for _, st := range orderedStatuses(all) {
		d.printf(row, termtext.Escape(st), sum.byStatus[st], sum.want[st])
	}
	d.printf(row, "total", sum.total, sum.total)
	if sum.unexpected > 0 {
		d.printf("  (%d events ended with another status than expected)\n", sum.unexpected)
	}
	d.printf("\n")
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  MIMC calls\t%s\n", d.callStats())
	fmt.Fprintf(tw, "  retried events\t%d needed more than one attempt (max attempts %d)\n", sum.retried, sum.maxAttempts)
	fmt.Fprintf(tw, "  produce -> outcome\tp50 %s, p99 %s, max %s (from producing the record to the outcome's completedAt)\n",
		fmtDuration(sum.p50), fmtDuration(sum.p99), fmtDuration(sum.max))
	if line := d.orderLine(); line != "" {
		fmt.Fprintf(tw, "  conversations\t%s\n", line)
	}
	if line := d.duplicateLine(); line != "" {
		fmt.Fprintf(tw, "  duplicates\t%s\n", line)
	}
	if sum.urgent > 0 {
		fmt.Fprintf(tw, "  urgent events	p50 %s, p99 %s produce -> outcome for the %d on %s (URGENT_TOPICS: they go ahead of the others)\n",
			fmtDuration(sum.urgentP50), fmtDuration(sum.urgentP99), sum.urgent, strings.Join(d.cfg.UrgentTopics, ","))
	}
	_ = tw.Flush()
}

// orderLine says whether the sample conversations reached MIMC in order,
// from the sandbox's record of the calls ("" without chats or sandbox).
func (d *demoRun) orderLine() string {
	if d.sandbox == nil {
		return ""
	}
	chats, turns := 0, 0
	for _, s := range d.track.samples {
		if s.Turn > 0 {
			chats++
			turns = max(turns, s.Turn)
		}
	}
	if chats == 0 {
		return ""
	}
	seen := map[string][]int{} // per chat recipient, the turn of every attempt, as MIMC saw them
	chat := map[string]bool{}
	for c := range demo.Conversations {
		chat[demo.ChatAccount(c)] = true
	}
	for _, c := range d.sandbox.Calls() {
		var turn int
		if _, err := fmt.Sscanf(c.Msg, "Support chat, message %d", &turn); err != nil {
			continue
		}
		for _, a := range c.ToAccounts {
			if chat[a] {
				seen[a] = append(seen[a], turn)
			}
		}
	}
	outOfOrder := 0
	for _, s := range seen {
		for i := 1; i < len(s); i++ {
			if s[i] < s[i-1] {
				outOfOrder++
			}
		}
	}
	how := "in order"
	if outOfOrder > 0 {
		how = fmt.Sprintf("OUT OF ORDER: %d pairs", outOfOrder)
	}
	ordered := "ORDERED_TOPICS=" + strings.Join(d.cfg.OrderedTopics, ",")
	if len(d.cfg.OrderedTopics) == 0 {
		ordered = "no ORDERED_TOPICS"
	}
	return fmt.Sprintf("%d chat messages in %d conversations (up to %d each) reached MIMC %s, retries included (%s)",
		chats, min(chats, demo.Conversations), turns, how, ordered)
}

// duplicateLine says what became of the copies of delivered ids and how
// often MIMC received their events ("" without copies).
func (d *demoRun) duplicateLine() string {
	copies, dups := 0, 0
	originals := map[string]bool{}
	for i, s := range d.track.samples {
		if s.Want != event.Duplicate {
			continue
		}
		copies++
		if o := d.track.outcomeOf(i); o != nil && o.Status == event.Duplicate {
			dups++
		}
		if i >= 2 {
			var ev struct {
				ToAccount string `json:"toAccount"`
			}
			if json.Unmarshal(d.track.samples[i-2].Value, &ev) == nil {
				originals[ev.ToAccount] = true
			}
		}
	}
	if copies == 0 {
		return ""
	}
	line := fmt.Sprintf("%d copies of a delivered id (a producer's retry): %d ended duplicate (DEDUP_WINDOW=%s)", copies, dups, d.cfg.DedupWindow)
	if d.sandbox == nil {
		return line
	}
	pushes := 0
	for _, c := range d.sandbox.Calls() {
		if c.Msg != demo.ShippedMsg || c.PacketIDs == nil {
			continue
		}
		for _, a := range c.ToAccounts {
			if originals[a] {
				pushes++
			}
		}
	}
	if pushes == len(originals) {
		return line + ", each id pushed once"
	}
	return line + fmt.Sprintf(", but MIMC received %d pushes for %d ids", pushes, len(originals))
}

// printExamples shows a few outcomes as `outcomes` prints them: the first
// of each status and kind.
func (d *demoRun) printExamples() {
	d.printf("\nA few of the outcomes (`outcomes` reads them all):\n")
	p := newOutcomePrinter(d.out, false)
	for _, o := range d.track.examples() {
		p.print(o, nil)
	}
}

// callStats describes the MIMC calls: from the sandbox's record, or from
// the bridge's own counters, read in process, with the real MIMC.
func (d *demoRun) callStats() string {
	if d.sandbox == nil {
		calls, recipients, err := callCounters(d.bridge.met.Registry)
		if err != nil {
			return "not counted: " + err.Error()
		}
		avg := 0.0
		if calls > 0 {
			avg = recipients / calls
		}
		return fmt.Sprintf("%.0f attempts (bridge metrics); recipients per call avg %.1f", calls, avg)
	}
	calls := d.sandbox.Calls()
	byEndpoint := map[string]int{}
	faults, recipients, maxR := 0, 0, 0
	for _, c := range calls {
		byEndpoint[strings.TrimPrefix(c.Endpoint, "/api/push/")]++
		if c.Fault != "" && c.Fault != mimctest.FaultFinal {
			faults++
		}
		r := len(c.ToAccounts) + len(c.TopicIDs)
		recipients += r
		maxR = max(maxR, r)
	}
	var parts []string
	for _, ep := range []string{"p2p/", "p2p/more", "p2t/", "p2t/more"} {
		parts = append(parts, fmt.Sprintf("%s %d", ep, byEndpoint[ep]))
	}
	avg := 0.0
	if len(calls) > 0 {
		avg = float64(recipients) / float64(len(calls))
	}
	out := fmt.Sprintf("%d (%s); %d answered with an injected fault and retried\n  recipients per call\tavg %.1f, max %d",
		len(calls), strings.Join(parts, ", "), faults, avg, maxR)
	if d.opts.mimcQuota > 0 {
		st := d.sandbox.QuotaStats()
		out += fmt.Sprintf("\n  quota\tp2p %d recipients accepted, %d calls refused; p2t %d accepted, %d refused (code 429)",
			st.P2P.AcceptedRecipients, st.P2P.RefusedCalls, st.P2T.AcceptedRecipients, st.P2T.RefusedCalls)
	}
	return out
}

// callCounters sums the bridge's MIMC attempt and recipient counters over
// every endpoint and answer code.
func callCounters(g prometheus.Gatherer) (calls, recipients float64, err error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, 0, err
	}
	for _, mf := range mfs {
		var sum *float64
		switch mf.GetName() {
		case "mimc_bridge_mimc_calls_total":
			sum = &calls
		case "mimc_bridge_mimc_recipients_total":
			sum = &recipients
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			*sum += m.GetCounter().GetValue()
		}
	}
	return calls, recipients, nil
}

// printLive prints the outcome of an event that is not a sample (--keep).
func (d *demoRun) printLive(o *event.Outcome) {
	line := fmt.Sprintf("outcome: %s %s", termtext.Escape(o.ID), termtext.Escape(o.Status))
	if o.Kind != "" {
		line += " " + termtext.Escape(string(o.Kind))
	}
	if r := recipientsCell(o); r != "-" {
		line += " recipients " + r
	}
	if o.Error != "" {
		line += ": " + termtext.Escape(o.Error)
	}
	d.printf("%s\n", line)
}

func (d *demoRun) printKeep() {
	c := d.cfg
	addr := c.KafkaBrokers[0]
	in := c.KafkaTopics[0]
	prog := progName(os.Args[0])
	var extra string
	if in != "mimc.push" {
		extra += " --kafka-topics " + in
	}
	if c.ResultsTopic != "mimc.push.results" {
		extra += " --results-topic " + c.ResultsTopic
	}
	d.printf("\nEverything keeps running until Ctrl-C. The broker is at %s; outcomes of new events show here.\n\n", addr)
	d.printf("Produce an event with kcat:\n")
	d.printf("  echo '{\"id\":\"hello-1\",\"fromAccount\":\"shop\",\"toAccount\":\"alice\",\"msg\":\"Hello from kcat\"}' | kcat -P -b %s -t %s -k hello-1\n", addr, in)
	if len(c.UrgentTopics) > 0 {
		d.printf("An urgent event with a lifetime of 30 seconds (URGENT_TOPICS, ttl):\n")
		d.printf("  echo '{\"id\":\"otp-1\",\"fromAccount\":\"auth\",\"toAccount\":\"alice\",\"msg\":\"Your code is 4711\",\"ttl\":30}' | kcat -P -b %s -t %s -k otp-1\n", addr, c.UrgentTopics[0])
	}
	d.printf("Read the outcomes with kcat:\n")
	d.printf("  kcat -C -b %s -t %s -o beginning -e\n", addr, c.ResultsTopic)
	d.printf("The same with mimc-bridge:\n")
	d.printf("  %s send --kafka-brokers %s%s --id hello-2 --from-account shop --to-account alice --msg 'Hello from send'\n", prog, addr, extra)
	d.printf("  %s outcomes --kafka-brokers %s%s\n", prog, addr, extra)
	if base := d.httpBase(); base != "" {
		d.printf("Metrics: curl -s %s/metrics | grep ^mimc_bridge_\n", base)
	}
}

// progName is how the user runs this program, to paste into a command:
// "go run ." when arg0 is a binary built by go run, else arg0 as given (a
// path when it was run by its path, its name when found on PATH). go run
// builds into a temporary go-build*/b001/exe/ directory, or runs a binary
// it cached earlier from GOCACHE (go-build/xx/<hash>-d/, since Go 1.24).
func progName(arg0 string) string {
	if arg0 == "" {
		return "mimc-bridge"
	}
	if dir := filepath.Base(filepath.Dir(arg0)); strings.Contains(filepath.ToSlash(arg0), "/go-build") &&
		(dir == "exe" || strings.HasSuffix(dir, "-d")) {
		return "go run ."
	}
	return arg0
}

// lockedWriter serializes writes from the demo's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
