package kafka

import (
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// Source opens partition readers on the brokers of one Conn: the bridge's
// Source.
type Source struct {
	conn Conn
	log  *zap.Logger
}

// NewSource returns a Source of the brokers of conn; its readers log
// through log.
func NewSource(conn Conn, log *zap.Logger) Source { return Source{conn: conn, log: log} }

// Open returns a reader of a.TopicPartition from a.Offset.
func (s Source) Open(a bridge.Assignment) (bridge.PartitionReader, error) {
	r, err := NewPartitionReader(s.conn, a, s.log)
	if err != nil {
		return nil, err
	}
	return r, nil
}
