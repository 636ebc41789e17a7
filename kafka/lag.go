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
	tr *kafkago.Transport
}

// NewOffsetClient returns a client of the brokers of conn; Close releases
// its connections.
func NewOffsetClient(conn Conn) *OffsetClient {
	tr := conn.Transport()
	return &OffsetClient{cl: &kafkago.Client{Addr: kafkago.TCP(conn.Brokers...), Transport: tr, Timeout: 5 * time.Second}, tr: tr}
}

// EndOffsets returns the end offset (the next offset to be written) of each
// partition, in one request.
func (c *OffsetClient) EndOffsets(ctx context.Context, tps []bridge.TopicPartition) (map[bridge.TopicPartition]int64, error) {
	want := make(map[string][]int)
	for _, tp := range tps {
		want[tp.Topic] = append(want[tp.Topic], tp.Partition)
	}
	return listOffsets(ctx, c.cl, want, kafkago.LastOffsetOf, func(p kafkago.PartitionOffsets) int64 { return p.LastOffset })
}

// Close releases the client's idle connections.
func (c *OffsetClient) Close() { c.tr.CloseIdleConnections() }
