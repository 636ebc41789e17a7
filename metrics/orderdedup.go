package metrics

import "github.com/prometheus/client_golang/prometheus"

// newOrderDedup creates the collectors of the order per key
// (ORDERED_TOPICS) and of the dedup window (DEDUP_WINDOW).
func (m *Metrics) newOrderDedup(register func(prometheus.Collector)) {
	m.OrderWaitingEvents = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_order_waiting_events", Help: "Events of ORDERED_TOPICS waiting for an earlier event of their key (same partition and record key) to get its outcome."})
	m.OrderWaitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mimc_bridge_order_wait_seconds", Help: "How long an event of ORDERED_TOPICS waited for the earlier event of its key (events that did not wait are not counted).", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)})
	m.DedupIds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_dedup_ids", Help: "Delivered ids the dedup window remembers (at most DEDUP_MAX_IDS)."})
	m.DedupEvicted = prometheus.NewCounter(prometheus.CounterOpts{Name: "mimc_bridge_dedup_evicted_total", Help: "Delivered ids forgotten before their window ended because DEDUP_MAX_IDS was reached: a copy of one of them is pushed again."})
	m.DedupWaitingEvents = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_dedup_waiting_events", Help: "Events waiting for the outcome of an earlier copy of their id that is in flight."})
	m.DedupLoadSeconds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_dedup_load_seconds", Help: "How long the last generation start took to read the delivered ids of the window from the results topic."})
	m.DedupLoadedIds = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_dedup_loaded_ids", Help: "Delivered ids the last generation start read from the results topic (new to this member or not)."})
	for _, c := range []prometheus.Collector{m.OrderWaitingEvents, m.OrderWaitSeconds, m.DedupIds, m.DedupEvicted, m.DedupWaitingEvents, m.DedupLoadSeconds, m.DedupLoadedIds} {
		register(c)
	}
}
