package kafka

import (
	"context"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// OffsetClient looks up the end offsets of partitions (for lag), over
// connections kept between lookups.
type OffsetClient struct {
	cl *kafkago.Client
}

// NewOffsetClient returns a client of the brokers of conn; Close releases
// its connections.
func NewOffsetClient(conn Conn) *OffsetClient {
	return &OffsetClient{cl: conn.Client(5 * time.Second)}
}

// EndOffsets returns the end offset (the next offset to be written) of each
// partition, in one request.
func (c *OffsetClient) EndOffsets(ctx context.Context, tps []bridge.TopicPartition) (map[bridge.TopicPartition]int64, error) {
	return endOffsets(ctx, c.cl, tps)
}

// Close releases the client's idle connections.
func (c *OffsetClient) Close() { closeIdle(c.cl) }
