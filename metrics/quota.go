package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// newQuota creates the collectors of the quota and of the calls in flight.
func (m *Metrics) newQuota(register func(prometheus.Collector)) {
	kind := []string{"kind"}
	m.QuotaShare = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimc_bridge_quota_share", Help: "This member's share of the group's MIMC quota: the input partitions it holds over all of them (1 when alone), by kind."}, kind)
	m.QuotaRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimc_bridge_quota_rate", Help: "Recipients per second this member may send now: the group's quota times its share, less while it recovers from 429s, by kind."}, kind)
	m.QuotaGroupRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimc_bridge_quota_group_rate", Help: "The group's MIMC quota in recipients per second (RATE_P2P, RATE_P2T), by kind; absent when the kind has none."}, kind)
	m.QuotaRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_quota_refusals_total", Help: "MIMC answers 429 (HTTP or envelope), by kind: each lowers the member's rate."}, kind)
	m.QuotaPauses = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_quota_pauses_total", Help: "Pauses of every send of a kind for a Retry-After, by kind."}, kind)
	m.QuotaPausedSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimc_bridge_quota_paused_seconds_total", Help: "Seconds of those pauses, by kind."}, kind)
	m.QuotaWaitingEvents = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimc_bridge_quota_waiting_events", Help: "Events fetched that wait for their kind's quota before they are batched (pending events too), by kind: the read-ahead of a kind over its quota."}, kind)
	m.MIMCConcurrencyLimit = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mimc_bridge_mimc_concurrency_limit", Help: "The current bound of MIMC calls in flight, adapted to MIMC's latency and answers within MAX_CONCURRENT_CALLS."})
	for _, c := range []prometheus.Collector{m.QuotaShare, m.QuotaRate, m.QuotaGroupRate, m.QuotaRefusals, m.QuotaPauses, m.QuotaPausedSeconds, m.QuotaWaitingEvents, m.MIMCConcurrencyLimit} {
		register(c)
	}
}

// QuotaObserver reports a quota.Limiter's state on m's collectors.
func (m *Metrics) QuotaObserver() QuotaObserver { return QuotaObserver{m: m} }

// QuotaObserver implements quota.Observer.
type QuotaObserver struct{ m *Metrics }

// Share implements quota.Observer.
func (o QuotaObserver) Share(kind message.Kind, share float64) {
	o.m.QuotaShare.WithLabelValues(string(kind)).Set(share)
}

// Rate implements quota.Observer.
func (o QuotaObserver) Rate(kind message.Kind, perSecond float64) {
	o.m.QuotaRate.WithLabelValues(string(kind)).Set(perSecond)
}

// TooMany implements quota.Observer.
func (o QuotaObserver) TooMany(kind message.Kind) {
	o.m.QuotaRefusals.WithLabelValues(string(kind)).Inc()
}

// Paused implements quota.Observer.
func (o QuotaObserver) Paused(kind message.Kind, d time.Duration) {
	o.m.QuotaPauses.WithLabelValues(string(kind)).Inc()
	o.m.QuotaPausedSeconds.WithLabelValues(string(kind)).Add(d.Seconds())
}
