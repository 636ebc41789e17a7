package cli

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
	"github.com/mimc-bridge/mimc-bridge/config"
	"github.com/mimc-bridge/mimc-bridge/inflight"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/metrics"
	"github.com/mimc-bridge/mimc-bridge/mimc"
	"github.com/mimc-bridge/mimc-bridge/quota"
	"github.com/mimc-bridge/mimc-bridge/tracing"
)

// Build is the composition root of the bridge: from settings that passed
// cfg.Validate(true) it builds the Kafka adapters, the MIMC client with the
// pipeline's gate and hooks, and the bridge that drives them. It dials
// nothing: Probe checks the brokers. traces (nil: off) starts the spans of
// events and MIMC calls.
func Build(cfg config.Config, log *zap.Logger, met *metrics.Metrics, traces *tracing.Provider) (*bridge.Bridge, error) {
	conn, err := kafkaConn(cfg)
	if err != nil {
		return nil, err
	}
	health := bridge.NewHealth()
	q, calls, err := limiters(cfg, log, met)
	if err != nil {
		return nil, err
	}
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
		Gate:               bridge.Gate(q, calls),
		BeforeAttempt:      bridge.BeforeAttempt(),
		Observer:           bridge.MIMCObserver(met, health),
	}, log.With(zap.String("component", "mimc")))
	if err != nil {
		return nil, fmt.Errorf("creating the MIMC client: %w", err)
	}
	// Outcomes are signed with a key derived from the app secret, and only
	// signed ones mark a record as done after a crash: a writer of the
	// results topic cannot make the bridge skip records.
	signer, err := kafka.NewSigner(cfg.MIMCAppSecret)
	if err != nil {
		client.Close()
		return nil, err
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{
		Conn:    conn,
		Topic:   cfg.ResultsTopic,
		Group:   cfg.KafkaGroupID,
		Signer:  signer,
		OnError: bridge.PublishFailed(met, health),
	}, log.With(zap.String("component", "publisher")))
	if err != nil {
		client.Close()
		return nil, err
	}
	scanner, err := kafka.NewScanner(kafka.ScannerConfig{Conn: conn, Topic: cfg.ResultsTopic, Group: cfg.KafkaGroupID, Signer: signer},
		log.With(zap.String("component", "scanner")))
	if err != nil {
		client.Close()
		_ = pub.Close()
		return nil, err
	}
	offsets := kafka.NewOffsetClient(conn)
	admin := kafka.NewAdmin(conn)
	session := cfg.KafkaSessionTimeout
	group := kafka.NewGroup(kafka.GroupConfig{
		Conn:              conn,
		GroupID:           cfg.KafkaGroupID,
		Topics:            cfg.KafkaTopics,
		SessionTimeout:    session,
		RebalanceTimeout:  session,
		HeartbeatInterval: session / 10,
		LeaveTimeout:      bridge.DrainTimeout(cfg) + 10*time.Second,
	}, log.With(zap.String("component", "group")), func(error) { met.GroupErrors.Inc() })
	deps := bridge.Deps{
		Group:      group,
		Brokers:    admin,
		Source:     kafka.NewSource(conn, log.With(zap.String("component", "reader"))),
		Pusher:     client,
		Publisher:  pub,
		Scanner:    scanner,
		Delivered:  scanner,
		Offsets:    offsets,
		Partitions: offsets,
		Quota:      q,
		Health:     health,
		Close:      func() { client.Close(); _ = pub.Close(); offsets.Close(); scanner.Close(); admin.Close() },
	}
	if traces != nil && traces.On() {
		deps.Tracer = traces.Tracer("github.com/mimc-bridge/mimc-bridge/bridge")
	}
	return bridge.New(cfg, deps, log, met), nil
}

// limiters builds the member's share of the MIMC quota and the bound of
// calls in flight, the two halves of the MIMC client's gate.
func limiters(cfg config.Config, log *zap.Logger, met *metrics.Metrics) (*quota.Limiter, *inflight.Limiter, error) {
	q, err := quota.New(quota.Config{
		RateP2P: cfg.RateP2P, RateP2T: cfg.RateP2T,
		MaxRecipients: cfg.BatchMaxRecipients,
		Observer:      met.QuotaObserver(),
	}, log.With(zap.String("component", "quota")))
	if err != nil {
		return nil, nil, err
	}
	calls, err := inflight.New(inflight.Config{
		Max:     cfg.MaxConcurrentCalls,
		OnLimit: func(n int) { met.MIMCConcurrencyLimit.Set(float64(n)) },
	}, log.With(zap.String("component", "inflight")))
	if err != nil {
		return nil, nil, err
	}
	return q, calls, nil
}

// kafkaConn is the one way from the settings (KAFKA_BROKERS, the KAFKA_TLS*
// and KAFKA_SASL_* settings) to a kafka.Conn.
func kafkaConn(cfg config.Config) (kafka.Conn, error) {
	return kafka.NewConn(kafka.ConnConfig{
		Brokers:       cfg.KafkaBrokers,
		TLS:           cfg.KafkaTLS,
		TLSCAFile:     cfg.KafkaTLSCAFile,
		SASLMechanism: cfg.KafkaSASLMechanism,
		SASLUsername:  cfg.KafkaSASLUsername,
		SASLPassword:  cfg.KafkaSASLPassword,
	})
}
