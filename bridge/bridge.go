// Package bridge runs the pipeline: a consumer group generation feeds
// decoded events to the batcher, senders push the batched calls to MIMC, and
// one outcome per event goes to the results topic before its offset is
// committed.
//
//	fetchers ──► batcher loop ──► senders (N) ──► outcome writer ──► tracker ──► committer
//	    │ rejected ─────────────────────────────────────┘
//
// Every stage owns the channel it writes and closes it; a generation is
// drained (fetching stops, pending calls go out, outcomes are written, offsets
// committed) before the group may rejoin, so no commit ever belongs to an
// ended generation.
package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/consumer"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
)

// Bridge is one member of the consumer group.
type Bridge struct {
	cfg    config.Config
	log    *zap.Logger
	conn   consumer.Conn
	client *mimc.Client
	pub    *consumer.Publisher
	met    *metrics.Metrics
	limits event.Limits
	health *Health

	// drainTimeout bounds a revocation: past it, in-flight work is
	// abandoned (left uncommitted for the next owner) so that this member
	// rejoins before the group gives up on it.
	drainTimeout  time.Duration
	commitEvery   time.Duration
	stallAfter    time.Duration
	sessionTimout time.Duration
}

// New builds a bridge from validated settings.
func New(cfg config.Config, log *zap.Logger, met *metrics.Metrics) (*Bridge, error) {
	if err := cfg.Validate(true); err != nil {
		return nil, err
	}
	conn, err := consumer.NewConn(consumer.ConnConfig{
		Brokers: cfg.KafkaBrokers, TLS: cfg.KafkaTLS, TLSCAFile: cfg.KafkaTLSCAFile,
		SASLMechanism: cfg.KafkaSASLMechanism, SASLUsername: cfg.KafkaSASLUsername, SASLPassword: cfg.KafkaSASLPassword,
	})
	if err != nil {
		return nil, err
	}
	health := newHealth()
	client, err := mimc.New(mimc.Config{
		BaseURL:     cfg.MIMCURL,
		Credentials: mimc.Credentials{AppID: cfg.MIMCAppID, AppKey: cfg.MIMCAppKey, AppSecret: cfg.MIMCAppSecret},
		HTTPTimeout: cfg.HTTPTimeout,
		Retry: mimc.RetryPolicy{
			HTTPStatuses: cfg.RetryHTTPStatuses,
			Codes:        cfg.RetryCodes,
			MaxElapsed:   cfg.RetryMaxElapsed,
		},
		MaxConcurrentCalls: cfg.MaxConcurrentCalls,
		RateP2P:            cfg.RateP2P,
		RateP2T:            cfg.RateP2T,
		Observer:           observer{met: met, health: health},
	}, log.With(zap.String("component", "mimc")))
	if err != nil {
		return nil, fmt.Errorf("creating the MIMC client: %w", err)
	}
	pub, err := consumer.NewPublisher(consumer.PublisherConfig{
		Conn:    conn,
		Topic:   cfg.ResultsTopic,
		OnError: func(error) { met.OutcomeErrors.Inc(); health.writerFailed() },
	}, log.With(zap.String("component", "publisher")))
	if err != nil {
		return nil, err
	}
	drain := cfg.ShutdownTimeout
	session := cfg.KafkaSessionTimeout
	// A revocation must end well inside the session timeout: heartbeats
	// stop while the generation drains.
	if drain > session*2/3 {
		drain = session * 2 / 3
	}
	return &Bridge{
		cfg: cfg, log: log, conn: conn, client: client, pub: pub, met: met, health: health,
		limits: event.Limits{
			MaxMsgBytes:         cfg.MaxMsgBytes,
			MaxIDBytes:          256,
			MaxRecipients:       cfg.MaxEventRecipients,
			DefaultFromResource: cfg.FromResource,
		},
		drainTimeout:  drain,
		commitEvery:   250 * time.Millisecond,
		stallAfter:    stallAfter(cfg),
		sessionTimout: session,
	}, nil
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
func (b *Bridge) Health() *Health { return b.health }

// Probe checks the brokers, TLS/SASL and topics, bounded in time.
func (b *Bridge) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	topics := append(append([]string(nil), b.cfg.KafkaTopics...), b.cfg.ResultsTopic)
	return b.conn.Probe(ctx, topics...)
}

// Run probes the brokers, then consumes until ctx ends, and returns after the
// last generation is drained and committed.
func (b *Bridge) Run(ctx context.Context) error {
	if err := b.Probe(ctx); err != nil {
		return err
	}
	defer b.client.Close()
	defer b.pub.Close()
	b.log.Info("joining the consumer group",
		zap.String("group", b.cfg.KafkaGroupID), zap.Strings("topics", b.cfg.KafkaTopics),
		zap.String("results_topic", b.cfg.ResultsTopic))
	err := consumer.RunGroup(ctx, consumer.GroupConfig{
		Conn:              b.conn,
		GroupID:           b.cfg.KafkaGroupID,
		Topics:            b.cfg.KafkaTopics,
		SessionTimeout:    b.sessionTimout,
		RebalanceTimeout:  b.sessionTimout,
		HeartbeatInterval: b.sessionTimout / 10,
		LeaveTimeout:      b.drainTimeout + 10*time.Second,
	}, b.log.With(zap.String("component", "group")), b.runGeneration, func(error) { b.met.GroupErrors.Inc() })
	b.health.setJoined(false)
	return err
}

// Health holds what /readyz reports.
type Health struct {
	joined         atomic.Bool
	writerFailedAt atomic.Int64 // unix nanos of the last failure, 0 when the last write worked
	mimcFailedAt   atomic.Int64 // unix nanos since MIMC has answered nothing, 0 when it answers
	stalled        atomic.Bool
}

func newHealth() *Health { return &Health{} }

func (h *Health) setJoined(v bool) { h.joined.Store(v) }

func (h *Health) writerFailed() { h.writerFailedAt.CompareAndSwap(0, time.Now().UnixNano()) }
func (h *Health) writerOK()     { h.writerFailedAt.Store(0) }

// Ready reports whether the process is fit for traffic, and why not.
func (h *Health) Ready(now time.Time) error {
	const grace = 30 * time.Second
	var errs []error
	if !h.joined.Load() {
		errs = append(errs, errors.New("not a member of the consumer group yet"))
	}
	if t := h.writerFailedAt.Load(); t != 0 && now.Sub(time.Unix(0, t)) > grace {
		errs = append(errs, fmt.Errorf("writing outcomes has failed since %s", time.Unix(0, t).UTC().Format(time.RFC3339)))
	}
	if t := h.mimcFailedAt.Load(); t != 0 && now.Sub(time.Unix(0, t)) > grace {
		errs = append(errs, fmt.Errorf("MIMC has not answered since %s", time.Unix(0, t).UTC().Format(time.RFC3339)))
	}
	if h.stalled.Load() {
		errs = append(errs, errors.New("work has stalled: events are pending and no outcome was written for longer than STALL_TIMEOUT"))
	}
	return errors.Join(errs...)
}

type observer struct {
	met    *metrics.Metrics
	health *Health
}

func (o observer) Attempt(endpoint string, httpStatus, code, recipients int, err error, elapsed time.Duration) {
	o.met.Attempt(endpoint, httpStatus, code, recipients, err, elapsed)
	if httpStatus != 0 {
		o.health.mimcFailedAt.Store(0)
	} else if err != nil {
		o.health.mimcFailedAt.CompareAndSwap(0, time.Now().UnixNano())
	}
}

func (o observer) Retry(endpoint string) { o.met.Retry(endpoint) }
