// Package metrics holds the bridge's Prometheus collectors. Label values come
// from closed sets (endpoints, codes, statuses, topics, partitions), never
// from event content or credentials.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the bridge's collectors, registered on one registry. Each
// field is named after its metric: the name without "mimc_bridge_" and
// "_total", in Go's camel case ("mimc" as MIMC); a test keeps them equal.
type Metrics struct {
	Registry *prometheus.Registry

	EventsConsumed          *prometheus.CounterVec // topic
	EventsRejected          *prometheus.CounterVec // topic
	RecordTimestampsAhead   *prometheus.CounterVec // topic
	MIMCCalls               *prometheus.CounterVec // endpoint, code
	MIMCRecipients          *prometheus.CounterVec // endpoint, code
	MIMCCallDurationSeconds *prometheus.HistogramVec
	MIMCRetries             *prometheus.CounterVec // endpoint
	Outcomes                *prometheus.CounterVec // status
	OutcomeWriteErrors      prometheus.Counter
	PendingEvents           *prometheus.GaugeVec // priority
	PartitionLag            *prometheus.GaugeVec // topic, partition
	CommittedOffset         *prometheus.GaugeVec // topic, partition
	Commits                 prometheus.Counter
	CommitErrors            prometheus.Counter
	GroupErrors             prometheus.Counter
	Generations             prometheus.Counter
	AssignedPartitions      prometheus.Gauge
	OldestPendingSeconds    prometheus.Gauge
	Stalled                 prometheus.Gauge
	RecipientsPerCall       prometheus.Histogram
	MIMCCallsInFlight       prometheus.Gauge
	EventsSkipped           *prometheus.CounterVec // topic
	ResultsScanSeconds      prometheus.Gauge
	ResultsScanRecords      prometheus.Gauge
	ResultsScanIgnored      prometheus.Counter
	PriorityOutcomes        *prometheus.CounterVec   // priority, status
	SendWaitSeconds         *prometheus.HistogramVec // priority
	Batches                 *prometheus.CounterVec   // reason

	// The quota and the calls in flight (quota.go).
	QuotaShare           *prometheus.GaugeVec   // kind
	QuotaRate            *prometheus.GaugeVec   // kind
	QuotaGroupRate       *prometheus.GaugeVec   // kind
	QuotaRefusals        *prometheus.CounterVec // kind
	QuotaPauses          *prometheus.CounterVec // kind
	QuotaPausedSeconds   *prometheus.CounterVec // kind
	QuotaWaitingEvents   *prometheus.GaugeVec   // kind
	MIMCConcurrencyLimit prometheus.Gauge

	// Order per key and the dedup window (orderdedup.go).
	OrderWaitingEvents prometheus.Gauge
	OrderWaitSeconds   prometheus.Histogram
	DedupIds           prometheus.Gauge
	DedupEvicted       prometheus.Counter
	DedupWaitingEvents prometheus.Gauge
	DedupLoadSeconds   prometheus.Gauge
	DedupLoadedIds     prometheus.Gauge
}

// New creates and registers every collector on a fresh registry, together
// with the Go runtime and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{Registry: r}
	m.EventsConsumed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_events_consumed_total", Help: "Input records fetched, by topic."}, []string{"topic"})
	m.RecordTimestampsAhead = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_record_timestamps_ahead_total", Help: "Input records whose timestamp was more than a minute ahead of the bridge's clock when fetched (a producer clock running fast); their life starts when fetched, by topic."}, []string{"topic"})
	m.EventsRejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_events_rejected_total", Help: "Input records rejected as invalid, by topic."}, []string{"topic"})
	m.MIMCCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_mimc_calls_total", Help: "MIMC HTTP attempts, by endpoint and answer code (envelope code, HTTP status, or \"error\" when no answer)."}, []string{"endpoint", "code"})
	m.MIMCRecipients = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_mimc_recipients_total", Help: "Recipients named in MIMC HTTP attempts, by endpoint and answer code."}, []string{"endpoint", "code"})
	m.MIMCCallDurationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mimc_bridge_mimc_call_duration_seconds", Help: "Duration of one MIMC HTTP attempt.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"endpoint"})
	m.MIMCRetries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_mimc_retries_total", Help: "MIMC attempts that were retried, by endpoint."}, []string{"endpoint"})
	m.Outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_outcomes_total", Help: "Outcomes acknowledged by the results topic, by status."}, []string{"status"})
	m.OutcomeWriteErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_outcome_write_errors_total", Help: "Failed attempts to write outcomes (they are retried)."})
	m.PendingEvents = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimc_bridge_pending_events", Help: "Events fetched whose outcome is not yet acknowledged, by priority (urgent: URGENT_TOPICS)."}, []string{"priority"})
	m.PartitionLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimc_bridge_partition_lag", Help: "End offset minus committed offset, per assigned partition."}, []string{"topic", "partition"})
	m.CommittedOffset = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimc_bridge_committed_offset", Help: "Last committed offset, per assigned partition."}, []string{"topic", "partition"})
	m.Commits = prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_commits_total", Help: "Successful offset commits."})
	m.CommitErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_commit_errors_total", Help: "Failed offset commits."})
	m.GroupErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_group_errors_total", Help: "Errors joining or syncing the consumer group."})
	m.Generations = prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_generations_total", Help: "Consumer group generations this process took part in (rebalances)."})
	m.AssignedPartitions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_assigned_partitions", Help: "Partitions assigned to this process."})
	m.OldestPendingSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_oldest_pending_seconds", Help: "While events are pending: seconds since the last outcome was written (0 when nothing is pending)."})
	m.Stalled = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_stalled", Help: "1 when work has not progressed for longer than the stall threshold."})
	m.RecipientsPerCall = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mimc_bridge_recipients_per_call", Help: "Recipients per MIMC call.", Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}})
	m.MIMCCallsInFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_mimc_calls_in_flight", Help: "MIMC calls being sent or retried."})
	m.EventsSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_events_skipped_total", Help: "Input records skipped because the results topic already held their outcome (written before a crash or an abandoned drain), by topic."}, []string{"topic"})
	m.ResultsScanSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_results_scan_seconds", Help: "How long the last generation start took to look for outcomes already written on the results topic."})
	m.ResultsScanRecords = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_results_scan_records", Help: "Results topic records the last generation start read looking for outcomes already written."})
	m.ResultsScanIgnored = prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_results_scan_ignored_total", Help: "Results topic records naming this group and a record to skip that the scan for outcomes already written ignored because their signature is missing or does not check (forged, written by a version that did not sign, or signed with another app secret); their records are done again."})
	m.PriorityOutcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_priority_outcomes_total", Help: "Outcomes acknowledged by the results topic, by priority and status."}, []string{"priority", "status"})
	m.SendWaitSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mimc_bridge_send_wait_seconds", Help: "Time from fetching an event to the MIMC attempt that sent it (batching, senders and quota), by priority.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)}, []string{"priority"})
	m.Batches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_batches_total", Help: "MIMC calls the batcher cut, by why: full (the most recipients), size (the request body), linger, hold (held past its linger for a backlog, then sent), fullest (sent early to free the pending room) or flush (a generation ended)."}, []string{"reason"})
	for _, c := range []prometheus.Collector{m.Batches, m.EventsConsumed, m.EventsRejected, m.RecordTimestampsAhead, m.MIMCCalls, m.MIMCRecipients, m.MIMCCallDurationSeconds, m.MIMCRetries,
		m.Outcomes, m.OutcomeWriteErrors, m.PendingEvents, m.PartitionLag, m.CommittedOffset, m.Commits, m.CommitErrors, m.GroupErrors,
		m.Generations, m.AssignedPartitions, m.OldestPendingSeconds, m.Stalled, m.RecipientsPerCall, m.MIMCCallsInFlight,
		m.EventsSkipped, m.ResultsScanSeconds, m.ResultsScanRecords, m.ResultsScanIgnored, m.PriorityOutcomes, m.SendWaitSeconds} {
		f(c)
	}
	m.newQuota(f)
	m.newOrderDedup(f)
	return m
}

// Attempt implements mimc.Observer.
func (m *Metrics) Attempt(endpoint string, httpStatus, code int, recipients int, err error, elapsed time.Duration) {
	label := "error"
	switch {
	case code != 0:
		label = strconv.Itoa(code)
	case httpStatus != 0:
		label = "http_" + strconv.Itoa(httpStatus)
	case err == nil:
		label = "200"
	}
	m.MIMCCalls.WithLabelValues(endpoint, label).Inc()
	m.MIMCRecipients.WithLabelValues(endpoint, label).Add(float64(recipients))
	m.MIMCCallDurationSeconds.WithLabelValues(endpoint).Observe(elapsed.Seconds())
}

// Retry implements mimc.Observer.
func (m *Metrics) Retry(endpoint string) { m.MIMCRetries.WithLabelValues(endpoint).Inc() }

// PartitionLabel formats a partition number for a label.
func PartitionLabel(p int) string { return strconv.Itoa(p) }
