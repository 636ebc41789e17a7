package kafka

import "github.com/mimc-bridge/mimc-bridge/config"

// NewConnFromSettings is the one way from the settings (KAFKA_BROKERS, the
// KAFKA_TLS* and KAFKA_SASL_* settings) to a Conn.
func NewConnFromSettings(cfg config.Config) (Conn, error) {
	return NewConn(ConnConfig{
		Brokers:       cfg.KafkaBrokers,
		TLS:           cfg.KafkaTLS,
		TLSCAFile:     cfg.KafkaTLSCAFile,
		SASLMechanism: cfg.KafkaSASLMechanism,
		SASLUsername:  cfg.KafkaSASLUsername,
		SASLPassword:  cfg.KafkaSASLPassword,
	})
}
