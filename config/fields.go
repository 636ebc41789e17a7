package config

import (
	"strings"

	"go.uber.org/zap"
)

// Fields returns the effective settings as zap fields (keys are the lower-case
// names, e.g. "kafka_brokers"), secrets redacted, for a start-up log line.
func (c Config) Fields() []zap.Field {
	out := make([]zap.Field, 0, len(table))
	for _, s := range table {
		out = append(out, zap.String(strings.ToLower(s.name), s.format(&c)))
	}
	return out
}
