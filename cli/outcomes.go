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

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/event"
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
	var ids listFlag
	fs.Var(&ids, "id", "only these event ids (repeatable or comma-separated)")
	follow := fs.Bool("follow", false, "keep reading new outcomes until interrupted (Ctrl-C)")
	fromBeginning := fs.Bool("from-beginning", false, "with --follow: start at the first offset instead of the end (without --follow reading always starts at the first offset)")
	ld := config.Register(fs, getenv)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	want, err := parseStatuses(*statuses)
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge outcomes: --status: %v\n", err)
		return ExitUsage
	}
	wantID := map[string]bool{}
	for _, id := range ids {
		wantID[id] = true
	}
	cfg, conn, code := kafkaSettings("outcomes", ld, s)
	if code != 0 {
		return code
	}
	if err := probe(ctx, conn, cfg.ResultsTopic); err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge outcomes: %v\n", err)
		return ExitFailed
	}
	tr := conn.Transport()
	defer tr.CloseIdleConnections()
	first, end, err := topicOffsets(ctx, conn, tr, cfg.ResultsTopic)
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge outcomes: %v\n", err)
		return ExitFailed
	}
	start, stop := first, end
	if *follow {
		stop = nil
		if !*fromBeginning {
			start = end
		}
	}

	p := newOutcomePrinter(s.Out, *asJSON)
	counts := statusCounts{}
	err = readTopic(ctx, conn, cfg.ResultsTopic, start, stop, func(r topicRecord) error {
		o, err := event.ParseOutcome(r.Value)
		if err != nil {
			fmt.Fprintf(s.Err, "mimc-bridge outcomes: %s/%d/%d: %v\n", cfg.ResultsTopic, r.Partition, r.Offset, err)
			return nil
		}
		if len(want) > 0 && !want[o.Status] || len(wantID) > 0 && !wantID[o.ID] {
			return nil
		}
		counts.add(o.Status)
		p.print(&o, r.Value)
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

// outcomePrinter writes outcomes as table rows or JSON lines.
type outcomePrinter struct {
	w      io.Writer
	json   bool
	header bool
}

func newOutcomePrinter(w io.Writer, asJSON bool) *outcomePrinter {
	return &outcomePrinter{w: w, json: asJSON}
}

const outcomeRowFormat = "%-30s %-9s %-4s %-10s %-8s %9s  %s\n"

func (p *outcomePrinter) print(o *event.Outcome, raw []byte) {
	if p.json {
		fmt.Fprintf(p.w, "%s\n", raw)
		return
	}
	if !p.header {
		p.header = true
		fmt.Fprintf(p.w, outcomeRowFormat, "ID", "STATUS", "KIND", "RECIPIENTS", "ATTEMPTS", "LATENCY", "ERROR")
	}
	fmt.Fprintf(p.w, outcomeRowFormat, o.ID, o.Status, dash(o.Kind), recipientsCell(o),
		fmt.Sprint(o.Attempts), latencyCell(o), dash(strings.ReplaceAll(o.Error, "\n", " ")))
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
		parts = append(parts, fmt.Sprintf("%s %d", st, c[st]))
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

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// kafkaSettings loads and checks the settings of a command that only talks to
// Kafka (no MIMC credentials needed) and builds the connection.
func kafkaSettings(cmd string, ld *config.Loader, s Streams) (config.Config, consumer.Conn, int) {
	cfg, err := ld.Config()
	if err == nil {
		err = cfg.Validate(false)
	}
	if err == nil && len(cfg.KafkaBrokers) == 0 {
		err = &config.Error{Name: "KAFKA_BROKERS", Msg: "required: comma-separated host:port"}
	}
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge %s: invalid settings:\n%s\n", cmd, indent(err.Error()))
		return cfg, consumer.Conn{}, ExitUsage
	}
	conn, err := consumer.NewConn(consumer.ConnConfig{
		Brokers: cfg.KafkaBrokers, TLS: cfg.KafkaTLS, TLSCAFile: cfg.KafkaTLSCAFile,
		SASLMechanism: cfg.KafkaSASLMechanism, SASLUsername: cfg.KafkaSASLUsername, SASLPassword: cfg.KafkaSASLPassword,
	})
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge %s: %v\n", cmd, err)
		return cfg, consumer.Conn{}, ExitUsage
	}
	return cfg, conn, 0
}

// probe checks, bounded in time, that the brokers answer and topic exists.
func probe(ctx context.Context, conn consumer.Conn, topics ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return conn.Probe(ctx, topics...)
}

func kafkaClient(conn consumer.Conn, tr *kafka.Transport) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(conn.Brokers...), Transport: tr, Timeout: 10 * time.Second}
}

// topicOffsets returns the first and the end offset of every partition of
// topic.
func topicOffsets(ctx context.Context, conn consumer.Conn, tr *kafka.Transport, topic string) (first, end map[int]int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cl := kafkaClient(conn, tr)
	ps, err := consumer.Partitions(ctx, cl, topic)
	if err != nil {
		return nil, nil, err
	}
	if first, err = consumer.FirstOffsets(ctx, cl, topic, ps); err != nil {
		return nil, nil, err
	}
	if end, err = consumer.EndOffsets(ctx, cl, topic, ps); err != nil {
		return nil, nil, err
	}
	return first, end, nil
}

// topicRecord is one record read by readTopic.
type topicRecord struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Time      time.Time
}

// readTopic reads the partitions named in start, each from its start offset,
// and calls fn for every record from a single goroutine. With a nil end it
// follows until ctx ends (and returns ctx's error); otherwise it stops
// reading a partition at its end offset (exclusive) and returns nil once
// every partition is read. An error from fn stops the reading.
func readTopic(ctx context.Context, conn consumer.Conn, topic string, start, end map[int]int64, fn func(topicRecord) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(rctx)
	recs := make(chan topicRecord, 256)
	for p, from := range start {
		if end != nil && end[p] <= from {
			continue
		}
		g.Go(func() error {
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers: conn.Brokers, Topic: topic, Partition: p, Dialer: conn.Dialer(),
				MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond,
			})
			defer r.Close()
			if err := r.SetOffset(from); err != nil {
				return fmt.Errorf("partition %d: %w", p, err)
			}
			for {
				m, err := r.ReadMessage(gctx)
				if err != nil {
					return fmt.Errorf("partition %d: %w", p, err)
				}
				select {
				case recs <- topicRecord{Partition: p, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}:
				case <-gctx.Done():
					return gctx.Err()
				}
				if end != nil && m.Offset+1 >= end[p] {
					return nil
				}
			}
		})
	}
	done := make(chan error, 1)
	go func() {
		err := g.Wait()
		close(recs)
		done <- err
	}()
	var fnErr error
	for r := range recs {
		if fnErr != nil {
			continue // draining after an error
		}
		if fnErr = fn(r); fnErr != nil {
			cancel()
		}
	}
	err := <-done
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}
