package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mimc-bridge/mimc-bridge/bridge"
	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/kafka"
)

// replayStatuses are the statuses replayed by default: those whose outcome
// carries the event with its undelivered recipients.
const replayStatuses = "failed,partial,expired"

// progressEvery is how often a long replay reports its progress on stderr.
var progressEvery = 2 * time.Second

// replayCommand produces again the event of chosen outcomes, each to the
// topic its input record came from (source.topic; --topic overrides), keyed
// by its id, with acks=all, so the bridge sends it again as it would any
// event: an urgent event stays urgent, and its time to live starts again
// from the new record's timestamp.
//
// It reads the results topic from its first offset to the end offsets taken
// at start, with the reader of outcomes. Only the latest outcome of an id
// counts: an outcome followed by another of the same id (a replay that was
// delivered, a repeat after a crash) is superseded and not replayed, so
// running replay twice does not push twice. Outcomes without an event
// (rejected, and delivered when asked for) are counted and skipped, never
// produced.
func replayCommand(ctx context.Context, args []string, s Streams) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	statuses := fs.String("status", replayStatuses, "only these statuses: comma-separated "+strings.Join(event.Statuses, ", ")+" (those without an event are counted and skipped)")
	var ids repeatedFlag // an event id may hold a comma, as in outcomes
	fs.Var(&ids, "id", "only this event id, taken as it is (repeat the flag for several)")
	since := fs.String("since", "", "only outcomes completed at or after this time: RFC 3339 (2026-11-25T10:00:00Z) or a duration before now (90m)")
	until := fs.String("until", "", "only outcomes completed before this time: RFC 3339 or a duration before now")
	toTopic := fs.String("topic", "", "produce every event to this topic instead of the topic its record came from")
	dryRun := fs.Bool("dry-run", false, "print the events that would be produced, as JSON lines, and produce nothing")
	ld := config.Register(fs, getenv)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	pick, err := newReplayFilter(*statuses, ids, *since, *until, time.Now())
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge replay: %v\n", err)
		return ExitUsage
	}
	res, code := openResults(ctx, "replay", ld, s)
	if code != 0 {
		return code
	}
	defer res.ad.Close()
	cfg, ad, first, end := res.cfg, res.ad, res.first, res.end
	if *toTopic != "" && *toTopic == cfg.ResultsTopic {
		fmt.Fprintf(s.Err, "mimc-bridge replay: --topic %s is the results topic: events go to an input topic\nsee 'mimc-bridge replay --help'\n", *toTopic)
		return ExitUsage
	}

	total := int64(0)
	for p, e := range end {
		total += e - first[p]
	}
	prog := newProgress(s.Err)
	sel := newReplaySelection(pick)
	read := int64(0)
	err = readOutcomes(ctx, ad, cfg.ResultsTopic, first, end, "replay", s.Err, func(o *event.Outcome, r kafka.RangeRecord) error {
		read++
		prog.report("read %d of %d outcomes", read, total)
		switch {
		case r.Group != "" && r.Group != cfg.KafkaGroupID:
			// Another deployment sharing the results topic: its events
			// are not this group's to replay.
			sel.otherGroups++
		case !slices.Contains(event.Statuses, o.Status):
			// JSON that is no outcome (an event produced to the results
			// topic by mistake) must not count as an id's latest outcome.
			sel.notOutcomes++
		default:
			sel.add(o)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge replay: reading %s: %v\n", cfg.ResultsTopic, err)
		return ExitFailed
	}
	plan := sel.plan(*toTopic)

	if *dryRun {
		for _, o := range plan.events {
			fmt.Fprintf(s.Out, "%s\n", o.Event.AppendJSON(nil))
		}
		fmt.Fprintln(s.Err, plan.summary(len(plan.events), true))
		return ExitOK
	}
	if len(plan.events) > 0 {
		if err := probe(ctx, ad, plan.topics()...); err != nil {
			fmt.Fprintf(s.Err, "mimc-bridge replay: %v\nnothing was produced\n", err)
			return ExitFailed
		}
	}
	produced, err := produceEvents(ctx, ad, plan.events, func(n int) {
		prog.report("produced %d of %d events", int64(n), int64(len(plan.events)))
	})
	if err != nil {
		fmt.Fprintf(s.Err, "mimc-bridge replay: %v\n%s\n", err, plan.summary(produced, false))
		return ExitFailed
	}
	fmt.Fprintln(s.Out, plan.summary(produced, false))
	return ExitOK
}

// replayFilter chooses outcomes by status, id and completion time.
type replayFilter struct {
	status       map[string]bool
	id           map[string]bool // empty: every id
	since, until time.Time       // zero: unbounded
}

func newReplayFilter(statuses string, ids []string, since, until string, now time.Time) (replayFilter, error) {
	f := replayFilter{id: map[string]bool{}}
	var err error
	if f.status, err = parseStatuses(statuses); err != nil {
		return f, fmt.Errorf("--status: %w", err)
	}
	if len(f.status) == 0 {
		return f, fmt.Errorf("--status: no status given (default %s)", replayStatuses)
	}
	for _, id := range ids {
		f.id[id] = true
	}
	if f.since, err = parseWhen(since, now); err != nil {
		return f, fmt.Errorf("--since: %w", err)
	}
	if f.until, err = parseWhen(until, now); err != nil {
		return f, fmt.Errorf("--until: %w", err)
	}
	if !f.since.IsZero() && !f.until.IsZero() && !f.since.Before(f.until) {
		return f, fmt.Errorf("--since %s is not before --until %s", f.since.Format(time.RFC3339), f.until.Format(time.RFC3339))
	}
	return f, nil
}

// parseWhen reads an RFC 3339 time, or a duration before now; "" is zero.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-25T10:00:00Z) nor a duration before now (90m)", v)
}

// match reports whether o is chosen. Rejected outcomes are chosen whatever
// --status says, to be counted as skipped: the operator learns that some
// events cannot be replayed and must be fixed and sent again.
func (f replayFilter) match(o *event.Outcome) bool {
	return (f.status[o.Status] || o.Status == event.Rejected) &&
		(len(f.id) == 0 || f.id[o.ID]) &&
		(f.since.IsZero() || !o.CompletedAt.Before(f.since)) &&
		(f.until.IsZero() || o.CompletedAt.Before(f.until))
}

// replaySelection keeps, per id, the latest outcome when it matches the
// filter. Outcomes are keyed by id, so every outcome of an id is in one
// partition, read in the order it was written.
type replaySelection struct {
	filter     replayFilter
	picked     map[string]*pickedOutcome
	seq        int
	superseded int // matching outcomes followed by a later one of the same id
	// delivered holds every id with a delivered (or duplicate: delivered
	// before) outcome: such an id is never replayed, whatever came after.
	delivered   map[string]bool
	otherGroups int // records of other groups, ignored
	notOutcomes int // records that are not outcomes, ignored
}

type pickedOutcome struct {
	seq int
	o   event.Outcome
}

func newReplaySelection(f replayFilter) *replaySelection {
	return &replaySelection{filter: f, picked: map[string]*pickedOutcome{}, delivered: map[string]bool{}}
}

func (r *replaySelection) add(o *event.Outcome) {
	if o.Status == event.Delivered || o.Status == event.Duplicate {
		r.delivered[o.ID] = true
	}
	if _, ok := r.picked[o.ID]; ok {
		r.superseded++
		delete(r.picked, o.ID)
	}
	if r.filter.match(o) {
		r.seq++
		r.picked[o.ID] = &pickedOutcome{seq: r.seq, o: *o}
	}
}

// replayPlan is what a replay produces, and what it skips.
type replayPlan struct {
	events     []*event.Outcome // to produce, in the order they were read; Source.Topic is the target
	byStatus   statusCounts     // of events
	byTopic    statusCounts     // of events, by target topic
	skipped    statusCounts     // matching outcomes without an event
	superseded int
	// alreadyDelivered counts outcomes left out because their id has a
	// delivered outcome; otherGroups and notOutcomes the records ignored.
	alreadyDelivered, otherGroups, notOutcomes int
}

// plan orders the picked outcomes as they were read and sets each one's
// target topic: override, or the topic its record came from.
func (r *replaySelection) plan(override string) replayPlan {
	all := make([]*pickedOutcome, 0, len(r.picked))
	for _, p := range r.picked {
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b *pickedOutcome) int { return a.seq - b.seq })
	p := replayPlan{byStatus: statusCounts{}, byTopic: statusCounts{}, skipped: statusCounts{}, superseded: r.superseded,
		otherGroups: r.otherGroups, notOutcomes: r.notOutcomes}
	for _, po := range all {
		o := &po.o
		if r.delivered[o.ID] {
			p.alreadyDelivered++
			continue
		}
		if o.Event == nil {
			p.skipped.add(o.Status)
			continue
		}
		if override != "" {
			o.Source.Topic = override
		}
		p.events = append(p.events, o)
		p.byStatus.add(o.Status)
		p.byTopic.add(o.Source.Topic)
	}
	return p
}

// topics returns the target topics.
func (p *replayPlan) topics() []string {
	var ts []string
	for t := range p.byTopic {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// summary says what was (or would be) produced, by status and topic, and
// what was skipped.
func (p *replayPlan) summary(produced int, dryRun bool) string {
	var b strings.Builder
	verb := "replayed"
	if dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(&b, "%s %d of %d events", verb, produced, len(p.events))
	if len(p.events) > 0 {
		var st, tp []string
		for _, s := range orderedStatuses(p.byStatus) {
			st = append(st, fmt.Sprintf("%s %d", s, p.byStatus[s]))
		}
		for _, t := range p.topics() {
			tp = append(tp, fmt.Sprintf("%s %d", t, p.byTopic[t]))
		}
		fmt.Fprintf(&b, ": %s; to %s", strings.Join(st, ", "), strings.Join(tp, ", "))
	}
	// Delivered outcomes carry no event and are never replayed: saying so
	// apart keeps them from reading as rejected ones.
	var sk, done []string
	var nSkipped, nDone int
	for _, s := range orderedStatuses(p.skipped) {
		if s == event.Delivered || s == event.Duplicate {
			done = append(done, fmt.Sprintf("%s %d", s, p.skipped[s]))
			nDone += p.skipped[s]
			continue
		}
		sk = append(sk, fmt.Sprintf("%s %d", s, p.skipped[s]))
		nSkipped += p.skipped[s]
	}
	if nDone > 0 {
		fmt.Fprintf(&b, "\nleft out %d outcomes of events already pushed (delivered and duplicate outcomes are never replayed): %s", nDone, strings.Join(done, ", "))
	}
	if nSkipped > 0 {
		fmt.Fprintf(&b, "\nskipped %d outcomes without an event (a rejected event must be fixed and sent again): %s", nSkipped, strings.Join(sk, ", "))
	}
	if p.superseded > 0 {
		fmt.Fprintf(&b, "\nleft out %d outcomes followed by a later outcome of the same id", p.superseded)
	}
	if p.alreadyDelivered > 0 {
		fmt.Fprintf(&b, "\nleft out %d outcomes whose id was delivered (delivered events are never replayed: a replay would push them twice)", p.alreadyDelivered)
	}
	if p.otherGroups > 0 {
		fmt.Fprintf(&b, "\nignored %d outcomes of other consumer groups (--kafka-group-id chooses the group)", p.otherGroups)
	}
	if p.notOutcomes > 0 {
		fmt.Fprintf(&b, "\nignored %d records of the results topic that are not outcomes", p.notOutcomes)
	}
	if dryRun {
		b.WriteString("\nnothing was produced (--dry-run)")
	}
	return b.String()
}

// produceEvents produces the events of outs to their Source.Topic, keyed by
// id, with acks=all, in batches per partition (the key's partition, as the
// Java client and the bridge's publisher choose it). It returns how many
// were acknowledged; done is called after every batch.
func produceEvents(ctx context.Context, ad *kafka.Admin, outs []*event.Outcome, done func(int)) (int, error) {
	const maxBatch, maxBatchBytes = 500, 1 << 20
	type tp struct {
		topic     string
		partition int
	}
	parts := map[string][]int{}
	batches := map[tp][]bridge.Message{}
	var order []tp
	for _, o := range outs {
		topic := o.Source.Topic
		ps, ok := parts[topic]
		if !ok {
			var err error
			if ps, err = ad.Partitions(ctx, topic); err != nil {
				return 0, err
			}
			if len(ps) == 0 {
				return 0, fmt.Errorf("topic %s has no partitions", topic)
			}
			parts[topic] = ps
		}
		key := []byte(o.Event.ID)
		k := tp{topic, kafka.KeyPartition(key, ps)}
		if _, ok := batches[k]; !ok {
			order = append(order, k)
		}
		batches[k] = append(batches[k], bridge.Message{Key: key, Value: o.Event.AppendJSON(nil)})
	}
	produced := 0
	for _, k := range order {
		msgs := batches[k]
		for len(msgs) > 0 {
			n, size := 0, 0
			for n < len(msgs) && n < maxBatch && (n == 0 || size+len(msgs[n].Value) <= maxBatchBytes) {
				size += len(msgs[n].Value)
				n++
			}
			if _, err := ad.Produce(ctx, k.topic, k.partition, msgs[:n]); err != nil {
				return produced, err
			}
			produced += n
			msgs = msgs[n:]
			done(produced)
		}
	}
	return produced, nil
}

// progress writes a line on w at most every progressEvery, and only once a
// run has lasted that long, so short runs stay quiet.
type progress struct {
	w    io.Writer
	last time.Time
}

func newProgress(w io.Writer) *progress { return &progress{w: w, last: time.Now()} }

func (p *progress) report(format string, a, b int64) {
	if time.Since(p.last) < progressEvery {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "mimc-bridge replay: "+format+"\n", a, b)
}
