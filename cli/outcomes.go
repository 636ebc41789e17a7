package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/termtext"
	"github.com/mimc-bridge/mimc-bridge/kafka"
)

// outcomesCommand reads the results topic.
//
// Without --follow it reads every partition from its first offset up to the
// end offsets taken at start, then exits. With --follow it starts at the end
// (only new outcomes; --from-beginning starts at the first offset) and runs
// until interrupted. Either way it ends with the counts by status: after the
// table on stdout, or on stderr with --json so that stdout stays JSON lines.
func outcomesCommand(ctx context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("outcomes", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the raw outcome values as JSON lines instead of a table")
	statuses := fs.String("status", "", "only these statuses: comma-separated "+strings.Join(event.Statuses, ", "))
	var ids repeatedFlag
	fs.Var(&ids, "id", "only this event id, taken as it is (repeat the flag for several)")
	follow := fs.Bool("follow", false, "keep reading new outcomes until interrupted (Ctrl-C)")
	fromBeginning := fs.Bool("from-beginning", false, "with --follow: start at the first offset instead of the end (without --follow reading always starts at the first offset)")
	ld := config.RegisterOnly(fs, getenv, outcomesSettings...)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	want, err := parseStatuses(*statuses)
	if err != nil {
		return usageErr(s, "outcomes", "--status: %v", err)
	}
	filter := outcomeFilter{statuses: want, ids: map[string]bool{}}
	for _, id := range ids {
		filter.ids[id] = true
	}
	res, code := openResults(ctx, "outcomes", ld, s)
	if code != 0 {
		return code
	}
	defer res.ad.Close()
	cfg, ad, first, end := res.cfg, res.ad, res.first, res.end
	start, stop := first, end
	if *follow {
		stop = nil
		if !*fromBeginning {
			start = end
		}
	}

	p := newOutcomePrinter(s.Out, *asJSON)
	counts := statusCounts{}
	err = readOutcomes(ctx, ad, cfg.ResultsTopic, start, stop, "outcomes", s.Err, func(o *event.Outcome, r kafka.RangeRecord) error {
		if !filter.keep(o) {
			return nil
		}
		counts.add(o.Status)
		p.print(o, r.Value)
		return nil
	})
	if err != nil && !(*follow && errors.Is(err, context.Canceled)) {
		fmt.Fprintf(s.Err, "mimc-bridge outcomes: reading %s: %v\n", cfg.ResultsTopic, err)
		return ExitFailed
	}
	if *asJSON {
		fmt.Fprintln(s.Err, counts.String())
	} else {
		fmt.Fprintln(s.Out, counts.String())
	}
	return ExitOK
}

// outcomesSettings are the settings the outcomes command reads: how to
// reach the brokers, and the results topic.
var outcomesSettings = append([]string{"RESULTS_TOPIC"}, kafkaConnSettings...)

// outcomeFilter keeps the outcomes of the statuses and ids named (an empty
// set keeps all).
type outcomeFilter struct {
	statuses, ids map[string]bool
}

func (f outcomeFilter) keep(o *event.Outcome) bool {
	return (len(f.statuses) == 0 || f.statuses[o.Status]) && (len(f.ids) == 0 || f.ids[o.ID])
}

// readOutcomes reads the results topic from start to end (nil end: follow
// until ctx ends, as kafka.Admin.ReadRange does) and calls fn with every
// outcome, from one goroutine. A record that is not an outcome is skipped,
// and reported on errw (nil: not reported) as command cmd's.
func readOutcomes(ctx context.Context, ad *kafka.Admin, topic string, start, end map[int]int64, cmd string, errw io.Writer,
	fn func(o *event.Outcome, r kafka.RangeRecord) error) error {
	return ad.ReadRange(ctx, topic, start, end, func(r kafka.RangeRecord) error {
		o, err := event.ParseOutcome(r.Value)
		if err != nil {
			if errw != nil {
				fmt.Fprintf(errw, "mimc-bridge %s: %s/%d/%d is not an outcome: %s\n", cmd, topic, r.Partition, r.Offset, termtext.Escape(err.Error()))
			}
			return nil
		}
		return fn(&o, r)
	})
}

// outcomePrinter writes outcomes as table rows or JSON lines.
type outcomePrinter struct {
	w      io.Writer
	json   bool
	header bool
}

func newOutcomePrinter(w io.Writer, asJSON bool) *outcomePrinter {
	return &outcomePrinter{w: w, json: asJSON}
}

// outcomeColumns are the table's columns: title, width in terminal columns,
// and whether the cell is aligned right.
var outcomeColumns = []struct {
	title string
	width int
	right bool
}{{"ID", 30, false}, {"STATUS", 9, false}, {"KIND", 4, false}, {"RECIPIENTS", 10, false}, {"ATTEMPTS", 8, false}, {"LATENCY", 9, true}, {"ERROR", 0, false}}

// row writes one table row. Cells are padded by the columns they take on a
// terminal (a CJK character takes two), not by bytes or runes.
func (p *outcomePrinter) row(cells ...string) {
	var b strings.Builder
	for i, c := range cells {
		col := outcomeColumns[i]
		switch {
		case i == len(cells)-1:
			b.WriteString(c)
		case col.right:
			b.WriteString(termtext.PadLeft(c, col.width))
			b.WriteString("  ")
		default:
			b.WriteString(termtext.PadRight(c, col.width))
			b.WriteString(" ")
		}
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(p.w, b.String())
}

func (p *outcomePrinter) print(o *event.Outcome, raw []byte) {
	if p.json {
		fmt.Fprintf(p.w, "%s\n", raw)
		return
	}
	if !p.header {
		p.header = true
		titles := make([]string, len(outcomeColumns))
		for i, c := range outcomeColumns {
			titles[i] = c.title
		}
		p.row(titles...)
	}
	// Every cell read from the record is escaped: whoever produces an event
	// chooses its id and much of its error text.
	p.row(termtext.Escape(o.ID), termtext.Escape(o.Status), dash(termtext.Escape(string(o.Kind))), recipientsCell(o),
		fmt.Sprint(o.Attempts), latencyCell(o), dash(termtext.Escape(o.Error)))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// recipientsCell is "delivered/total", or "-" for a rejected outcome.
func recipientsCell(o *event.Outcome) string {
	if len(o.Recipients) == 0 {
		return "-"
	}
	n := 0
	for _, r := range o.Recipients {
		if r.PacketID != "" {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(o.Recipients))
}

// latencyCell is completedAt-receivedAt: the time the bridge held the event.
func latencyCell(o *event.Outcome) string {
	if o.ReceivedAt.IsZero() || o.CompletedAt.IsZero() {
		return "-"
	}
	return fmtDuration(o.CompletedAt.Sub(o.ReceivedAt))
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// statusCounts counts outcomes by status.
type statusCounts map[string]int

func (c statusCounts) add(status string) { c[status]++ }

func (c statusCounts) total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// String is "5 outcomes: delivered 3, failed 1, rejected 1", the known
// statuses first in their documented order.
func (c statusCounts) String() string {
	var parts []string
	for _, st := range orderedStatuses(c) {
		parts = append(parts, fmt.Sprintf("%s %d", termtext.Escape(st), c[st]))
	}
	s := fmt.Sprintf("%d outcomes", c.total())
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

// parseStatuses reads a comma-separated list of statuses into a set; an
// empty list gives an empty set.
func parseStatuses(list string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, st := range splitList(list) {
		if !slices.Contains(event.Statuses, st) {
			return nil, fmt.Errorf("unknown status %q (want %s)", st, strings.Join(event.Statuses, ", "))
		}
		want[st] = true
	}
	return want, nil
}

// orderedStatuses returns the statuses present in c: the documented ones in
// order, then any other in alphabetical order.
func orderedStatuses(c statusCounts) []string {
	known := event.Statuses
	var out, other []string
	for _, st := range known {
		if c[st] > 0 {
			out = append(out, st)
		}
	}
	for st, n := range c {
		if n > 0 && !slices.Contains(known, st) {
			other = append(other, st)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// repeatedFlag is a repeatable flag whose values are taken as they are: an
// event id may hold a comma.
type repeatedFlag []string

func (l *repeatedFlag) String() string { return strings.Join(*l, " ") }

func (l *repeatedFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
