package bridge

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/metrics"
)

// Each stage tells what it does to an observer of its own: the few things
// that happen in it, not the metrics they land in. metricsObserver
// implements them all, over metrics.Metrics and the readiness the stages
// affect; a stage's test passes a recording fake.

// tally is a count a stage adds to.
type tally interface{ Inc() }

// level is a count that goes up and down.
type level interface {
	Inc()
	Dec()
	Add(float64)
	Sub(float64)
}

// fetchObserver is what the fetch stage reports.
type fetchObserver interface {
	// partition returns the counts of one partition's records, of topic,
	// fetched into lane prio. A fetcher asks once, before its first
	// record: the hot path only adds.
	partition(topic string, prio priority) fetchCounts
}

// fetchCounts are the counts of one partition's records.
type fetchCounts struct {
	consumed tally // fetched, skipped ones included
	skipped  tally // outcome already written (bounds.go)
	rejected tally // invalid
	ahead    tally // stamped more than a minute ahead of our clock
	pending  tally // its lane's events in flight; the writer takes them off (writeObserver.freed)
}

// batchObserver is what the batch stage reports.
type batchObserver interface {
	cut(batching.Reason) // the batcher emitted a call
	// quotaWaiting is the count of the events of kind that wait for room
	// in their kind's send budget (quota.go).
	quotaWaiting(kind message.Kind) level
}

// sendObserver is what the send stage reports.
type sendObserver interface {
	calling(recipients int) // a call goes to MIMC
	called()                // its push returned
	// sendWait is the time from a call's first event to the attempt that
	// sent it, in lane prio.
	sendWait(prio priority, d time.Duration)
}

// writeObserver is what the write stage reports.
type writeObserver interface {
	written()                                     // a batch of outcomes was acknowledged
	outcomes(prio priority, status string, n int) // n outcomes of status acknowledged in lane prio
	freed(prio priority, n int)                   // n events of lane prio are no longer pending
}

// progressObserver is what the progress stage reports.
type progressObserver interface {
	committed(offsets map[TopicPartition]int64) // a commit of the stage's ticks succeeded
	commitFailed()
	// progress says whether work has stalled, and for how long no
	// outcome was written while events are pending (0: none pending).
	progress(stalled bool, oldest time.Duration)
	lag(tp TopicPartition, n int64)
}

// waitsObserver is what the generation's waits (order.go) report.
type waitsObserver interface {
	orderWaiting(delta int) // events waiting for an earlier event of their key
	orderWaited(d time.Duration)
	dedupWaiting(delta int) // events waiting for a copy of their id in flight
	dedupEvicted(n int)     // ids the dedup window forgot before their time
	dedupIDs(n int)         // ids the dedup window holds
}

// metricsObserver is every stage's observer over the bridge's metrics and
// its readiness.
type metricsObserver struct {
	met    *metrics.Metrics
	health *Health
	cuts   [len(batching.Reasons) + 1]prometheus.Counter // by reason
}

var (
	_ fetchObserver    = (*metricsObserver)(nil)
	_ batchObserver    = (*metricsObserver)(nil)
	_ sendObserver     = (*metricsObserver)(nil)
	_ writeObserver    = (*metricsObserver)(nil)
	_ progressObserver = (*metricsObserver)(nil)
	_ waitsObserver    = (*metricsObserver)(nil)
)

func newMetricsObserver(met *metrics.Metrics, health *Health) *metricsObserver {
	o := &metricsObserver{met: met, health: health}
	for _, r := range batching.Reasons {
		o.cuts[r] = met.Batches.WithLabelValues(r.String())
	}
	return o
}

func (o *metricsObserver) partition(topic string, prio priority) fetchCounts {
	return fetchCounts{
		consumed: o.met.EventsConsumed.WithLabelValues(topic),
		skipped:  o.met.EventsSkipped.WithLabelValues(topic),
		rejected: o.met.EventsRejected.WithLabelValues(topic),
		ahead:    o.met.RecordTimestampsAhead.WithLabelValues(topic),
		pending:  o.met.PendingEvents.WithLabelValues(prio.String()),
	}
}

func (o *metricsObserver) cut(r batching.Reason) {
	if int(r) < len(o.cuts) && o.cuts[r] != nil {
		o.cuts[r].Inc()
	}
}

func (o *metricsObserver) quotaWaiting(kind message.Kind) level {
	return o.met.QuotaWaitingEvents.WithLabelValues(string(kind))
}

func (o *metricsObserver) calling(recipients int) {
	o.met.RecipientsPerCall.Observe(float64(recipients))
	o.met.MIMCCallsInFlight.Inc()
}

func (o *metricsObserver) called() { o.met.MIMCCallsInFlight.Dec() }

func (o *metricsObserver) sendWait(prio priority, d time.Duration) {
	o.met.SendWaitSeconds.WithLabelValues(prio.String()).Observe(d.Seconds())
}

func (o *metricsObserver) written() { o.health.writerOK() }

func (o *metricsObserver) outcomes(prio priority, status string, n int) {
	o.met.Outcomes.WithLabelValues(status).Add(float64(n))
	o.met.PriorityOutcomes.WithLabelValues(prio.String(), status).Add(float64(n))
}

func (o *metricsObserver) freed(prio priority, n int) {
	o.met.PendingEvents.WithLabelValues(prio.String()).Sub(float64(n))
}

func (o *metricsObserver) committed(offsets map[TopicPartition]int64) {
	o.met.Commits.Inc()
	for tp, off := range offsets {
		o.met.CommittedOffset.WithLabelValues(tp.Topic, metrics.PartitionLabel(tp.Partition)).Set(float64(off))
	}
}

func (o *metricsObserver) commitFailed() { o.met.CommitErrors.Inc() }

func (o *metricsObserver) progress(stalled bool, oldest time.Duration) {
	o.health.stalled.Store(stalled)
	if stalled {
		o.met.Stalled.Set(1)
	} else {
		o.met.Stalled.Set(0)
	}
	o.met.OldestPendingSeconds.Set(oldest.Seconds())
}

func (o *metricsObserver) lag(tp TopicPartition, n int64) {
	o.met.PartitionLag.WithLabelValues(tp.Topic, metrics.PartitionLabel(tp.Partition)).Set(float64(n))
}

func (o *metricsObserver) orderWaiting(delta int) { o.met.OrderWaitingEvents.Add(float64(delta)) }

func (o *metricsObserver) orderWaited(d time.Duration) { o.met.OrderWaitSeconds.Observe(d.Seconds()) }

func (o *metricsObserver) dedupWaiting(delta int) { o.met.DedupWaitingEvents.Add(float64(delta)) }

func (o *metricsObserver) dedupEvicted(n int) {
	if n > 0 {
		o.met.DedupEvicted.Add(float64(n))
	}
}

func (o *metricsObserver) dedupIDs(n int) { o.met.DedupIds.Set(float64(n)) }

// The generation's own start and end, outside the stages.

// scanned reports the look for outcomes already written (bounds.go).
func (o *metricsObserver) scanned(stats ScanStats) {
	o.met.ResultsScanSeconds.Set(stats.Took.Seconds())
	o.met.ResultsScanRecords.Set(float64(stats.Read))
	o.met.ResultsScanIgnored.Add(float64(stats.Ignored)) // the scanner logs them
}

// windowLoaded reports the read of the delivered ids (dedupwindow.go).
func (o *metricsObserver) windowLoaded(stats DeliveredStats) {
	o.met.DedupLoadSeconds.Set(stats.Took.Seconds())
	o.met.DedupLoadedIds.Set(float64(stats.Found))
}

// started reports a generation of n partitions under way.
func (o *metricsObserver) started(n int) {
	o.met.Generations.Inc()
	o.met.AssignedPartitions.Set(float64(n))
	o.health.setJoined(true)
}

// ended clears what a generation reported: its events still pending per
// lane, and its partitions' gauges (the next generation may give them to
// another member: they must not linger here).
func (o *metricsObserver) ended(assignments []Assignment, pending [priorities]int) {
	for prio, n := range pending {
		o.met.PendingEvents.WithLabelValues(priority(prio).String()).Sub(float64(n))
	}
	o.met.AssignedPartitions.Set(0)
	for _, a := range assignments {
		p := metrics.PartitionLabel(a.Partition)
		o.met.PartitionLag.DeleteLabelValues(a.Topic, p)
		o.met.CommittedOffset.DeleteLabelValues(a.Topic, p)
	}
	o.health.setJoined(false)
}
