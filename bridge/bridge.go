// Package bridge runs the pipeline: a consumer group generation feeds
// decoded events to the batcher, senders push the batched calls to MIMC, and
// one outcome per event goes to the results topic before its offset is
// committed.
//
//	fetch (per partition) ──► batch ──► send (N) ──► write ──► tracker ──► commit
//	                            │ rejected ────────────┘
//
// One file per stage: fetch.go, batch.go, send.go, write.go, progress.go
// (commits, lag, stall), with outcome.go building and encoding outcomes. A
// stage is a struct of its explicit inputs: its channels, the one interface
// it needs (Source, Pusher, Publisher, Committer), the few shared objects it
// touches (the tracker, the lanes' rooms, the waits of order.go, the send
// budget), and an observer of what it reports (observer.go); no stage reads
// another's state, and each is tested alone (stages_test.go). generation.go
// builds the stages of one generation, connects them and drains them. Every
// stage owns the channels it writes and closes them: a record rejected at
// fetch passes through the batch stage, which hands it to the writer on a
// channel of its own. A generation is drained (fetching
// stops, pending calls go out, outcomes are written, offsets committed)
// before the group may rejoin, so no commit ever belongs to an ended
// generation.
//
// The stages reach Kafka and MIMC only through the interfaces in
// interfaces.go, which speak in the types of records.go; the bridge builds
// none of the parts behind them: New takes them as Deps, and the
// composition root (cli.Build) builds them. The kafka package depends on
// this one, not the other way round.
package bridge

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/batching"
	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/quota"
)

// Bridge is one member of the consumer group.
type Bridge struct {
	cfg     config.Config
	log     *zap.Logger
	group   Group
	brokers Brokers
	pipe    *pipeline
	close   func() // releases what deps.Close releases
}

// pipeline is what every generation of one member shares: the stage
// settings and the parts the stages talk to.
type pipeline struct {
	cfg     pipelineConfig
	source  Source
	pusher  Pusher
	pub     Publisher
	offsets EndOffsets // nil: no lag gauges
	// quota holds this member to its share of the group's MIMC quota (nil:
	// none); partitions counts the input partitions the share divides.
	quota           *quota.Limiter
	partitions      PartitionCounter
	totalPartitions int     // the last count; generations run one at a time
	scanner         Scanner // nil: outcomes already written are not looked for
	// window remembers the ids delivered within DEDUP_WINDOW (nil: off),
	// for every generation of this member; delivered reads the group's
	// delivered ids from the results topic into it (nil: not read).
	window    *dedupWindow
	delivered DeliveredReader
	// windowFrom is where the last read of each results partition ended.
	windowFrom map[int]int64
	log        *zap.Logger
	met        *metrics.Metrics
	health     *Health
	// tracer starts the spans of events and calls; nil when traces are off.
	tracer trace.Tracer
	group  string // KAFKA_GROUP_ID, an attribute of the event spans
}

// pipelineConfig holds the settings of every stage.
type pipelineConfig struct {
	fetch    fetchConfig
	batch    batching.Config[*record] // MaxPendingEvents is set per lane
	lanes    [priorities]laneConfig
	write    writeConfig
	progress progressConfig
	topics   []string // the input topics (KAFKA_TOPICS)
	// dedupWindow is DEDUP_WINDOW: how far back the delivered ids are read.
	dedupWindow time.Duration
	// drain bounds the end of a generation: past it, in-flight work is
	// abandoned (left uncommitted for the next owner) so that this member
	// rejoins before the group gives up on it.
	drain time.Duration
}

// New builds a bridge from settings that passed cfg.Validate(true) and the
// parts deps holds (the composition root, cli.Build, builds them). It dials
// nothing: Probe checks the brokers.
func New(cfg config.Config, deps Deps, log *zap.Logger, met *metrics.Metrics) *Bridge {
	health := deps.Health
	if health == nil {
		health = NewHealth()
	}
	settings := pipelineSettings(cfg)
	if s, ok := deps.Pusher.(bodySizer); ok {
		// The batcher cuts calls by what this client's request bodies weigh.
		settings.batch.Size = s.BodySize()
	}
	pipe := &pipeline{
		cfg:    settings,
		source: deps.Source, pusher: deps.Pusher, pub: deps.Publisher, offsets: deps.Offsets, scanner: deps.Scanner,
		log: log, met: met, health: health, tracer: deps.Tracer,
		group: cfg.KafkaGroupID,
	}
	pipe.setQuota(cfg, deps.Quota, deps.Partitions)
	if pipe.window = newDedupWindow(cfg.DedupWindow, cfg.DedupMaxIDs); pipe.window != nil {
		pipe.delivered = deps.Delivered
	}
	closeDeps := deps.Close
	if closeDeps == nil {
		closeDeps = func() {}
	}
	return &Bridge{cfg: cfg, log: log, group: deps.Group, brokers: deps.Brokers, pipe: pipe, close: closeDeps}
}

// setQuota holds the member to its share of the group's quota when RATE_P2P
// or RATE_P2T is set, and warns about a rate too low to drain in time.
func (p *pipeline) setQuota(cfg config.Config, q *quota.Limiter, partitions PartitionCounter) {
	for _, w := range slowQuotaWarnings(cfg) {
		p.log.Warn(w.msg, w.fields...)
	}
	if q == nil || cfg.RateP2P <= 0 && cfg.RateP2T <= 0 {
		return
	}
	// No share until the first generation: tokens saved up before it would
	// be a burst into quota the other members are spending.
	q.SetShare(0)
	for kind, r := range map[message.Kind]float64{message.P2P: cfg.RateP2P, message.P2T: cfg.RateP2T} {
		if r > 0 {
			p.met.QuotaGroupRate.WithLabelValues(string(kind)).Set(r)
		}
	}
	p.quota, p.partitions = q, partitions
}

// bodySizer is a Pusher that tells how its request bodies weigh (the MIMC
// client).
type bodySizer interface{ BodySize() mimc.BodySize }

// pipelineSettings derives every stage's settings from the bridge's.
func pipelineSettings(cfg config.Config) pipelineConfig {
	urgentTopics := map[string]bool{}
	for _, t := range cfg.UrgentTopics {
		urgentTopics[t] = true
	}
	orderedTopics := map[string]bool{}
	for _, t := range cfg.OrderedTopics {
		orderedTopics[t] = true
	}
	return pipelineConfig{
		fetch: fetchConfig{
			limits: event.Limits{
				MaxMsgBytes:         cfg.MaxMsgBytes,
				MaxIDBytes:          256,
				MaxRecipients:       cfg.MaxEventRecipients,
				DefaultFromResource: cfg.FromResource,
			},
			urgent:     urgentTopics,
			ordered:    orderedTopics,
			defaultTTL: cfg.EventTTL,
		},
		batch: batching.Config[*record]{
			MaxRecipients:    cfg.BatchMaxRecipients,
			Linger:           linger(cfg.BatchLinger),
			MaxPendingEvents: cfg.MaxPendingEvents,
			// Every event is event.Decode's (fetch.go), whose recipients
			// are distinct: the batcher need not look for repeats again.
			DistinctRecipients: true,
		},
		lanes: withBytes(lanes(cfg.MaxPendingEvents, cfg.MaxConcurrentCalls, len(urgentTopics) > 0), cfg.MaxPendingBytes, len(urgentTopics) > 0),
		write: writeConfig{linger: 5 * time.Millisecond, maxBatch: 2000},
		progress: progressConfig{every: 250 * time.Millisecond, lagEvery: 5, stallAfter: stallAfter(cfg),
			clockSkew: 10 * time.Second, boundRefresh: time.Minute},
		drain:       DrainTimeout(cfg),
		topics:      cfg.KafkaTopics,
		dedupWindow: cfg.DedupWindow,
	}
}

// DrainTimeout bounds the drain of a generation: heartbeats stop while it
// drains, so a revocation must end well inside the session timeout.
func DrainTimeout(cfg config.Config) time.Duration {
	return min(cfg.ShutdownTimeout, cfg.KafkaSessionTimeout*2/3)
}

// linger maps BATCH_LINGER=0 (send at once) onto the batcher, which reads a
// zero linger as "use the default".
func linger(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}

// stallAfter is STALL_TIMEOUT, or by default longer than any event can
// legitimately take: its retries, one more call, and a margin.
func stallAfter(cfg config.Config) time.Duration {
	if cfg.StallTimeout > 0 {
		return cfg.StallTimeout
	}
	return cfg.RetryMaxElapsed + cfg.HTTPTimeout + time.Minute
}

// Health reports readiness for /readyz.
func (b *Bridge) Health() *Health { return b.pipe.health }

// Probe checks the brokers, TLS/SASL and topics, bounded in time, so that
// wrong settings fail at start-up with one clear message.
func (b *Bridge) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	topics := append(append([]string(nil), b.cfg.KafkaTopics...), b.cfg.ResultsTopic)
	if err := b.brokers.Probe(ctx, topics...); err != nil {
		return err
	}
	b.checkResultsCleanup(ctx)
	return nil
}

// checkResultsCleanup warns about a results topic whose broker-side
// cleanup works against the crash skip: it finds the outcomes written after
// the last commit on the results topic, as far back as a commit can be.
// Nothing is refused: operators may have reasons, and an outcome that is
// gone only means its record is pushed again.
func (b *Bridge) checkResultsCleanup(ctx context.Context) {
	tc, err := b.brokers.TopicCleanup(ctx, b.cfg.ResultsTopic)
	if err != nil {
		// An ACL may deny DescribeConfigs; the bridge does not need it.
		b.log.Debug("cannot read the results topic's cleanup settings", zap.String("topic", b.cfg.ResultsTopic), zap.Error(err))
		return
	}
	if tc.Retention >= 0 && tc.Retention < OffsetsRetention {
		b.log.Warn("the results topic keeps outcomes for less time than the group keeps its commits: "+
			"after a crash, records whose outcomes were already deleted are pushed again; set its retention.ms to at least 7 days",
			zap.String("topic", b.cfg.ResultsTopic), zap.Duration("retention", tc.Retention),
			zap.Duration("commits_kept", OffsetsRetention))
	}
	if tc.Compacts() {
		b.log.Warn("the results topic is compacted (cleanup.policy "+tc.Policy+"): only each id's latest outcome survives, "+
			"so `outcomes` cannot show an id's history, and after a crash a record whose outcome was compacted away is pushed again",
			zap.String("topic", b.cfg.ResultsTopic), zap.String("cleanup_policy", tc.Policy))
	}
}

// Run consumes until ctx ends, and returns after the last generation is
// drained and committed. It retries joining the group for as long as ctx
// lasts: call Probe first to fail fast.
func (b *Bridge) Run(ctx context.Context) error {
	defer b.close()
	b.log.Info("joining the consumer group",
		zap.String("group", b.cfg.KafkaGroupID), zap.Strings("topics", b.cfg.KafkaTopics),
		zap.String("results_topic", b.cfg.ResultsTopic))
	err := b.group.Run(ctx, b.pipe.run)
	b.pipe.health.setJoined(false)
	return err
}
