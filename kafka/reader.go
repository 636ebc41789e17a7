package kafka

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// PartitionReader reads one assigned partition from the generation's start
// offset. It keeps no group state: the generation commits offsets.
type PartitionReader struct {
	r *kafkago.Reader
}

// NewPartitionReader returns a reader of a.TopicPartition starting at
// a.Offset (FirstOffset when the group has none). It dials lazily: errors
// reaching the broker come from Next.
func NewPartitionReader(conn Conn, a bridge.Assignment, log *zap.Logger) (*PartitionReader, error) {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:        conn.Brokers,
		Dialer:         conn.Dialer(),
		Topic:          a.Topic,
		Partition:      a.Partition,
		MinBytes:       1,
		MaxBytes:       4 << 20,
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  256,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		ErrorLogger:    kafkago.LoggerFunc(func(f string, args ...any) { log.Sugar().Warnf(f, args...) }),
	})
	if err := r.SetOffset(a.Offset); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("reading %s from offset %d: %w", a.TopicPartition, a.Offset, err)
	}
	return &PartitionReader{r: r}, nil
}

// fetchErrorWait is the pause after a failed fetch. The reader backs off
// between failed fetches itself and queues their errors with the messages:
// a long wait per error would delay the messages behind them by a second per
// error queued (26s after a 3s fault), so wait only its minimum.
const fetchErrorWait = 50 * time.Millisecond

// Next blocks until the next record of the partition, in offset order, or
// until ctx ends (then it returns ctx's error). Any other error is
// transient: it is returned after a short pause, and Next may be called
// again. One goroutine calls Next.
func (r *PartitionReader) Next(ctx context.Context) (bridge.Record, error) {
	m, err := r.r.FetchMessage(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return bridge.Record{}, ctx.Err()
		}
		t := time.NewTimer(fetchErrorWait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return bridge.Record{}, fmt.Errorf("fetching from %s/%d: %w", r.r.Config().Topic, r.r.Config().Partition, err)
	}
	rec := bridge.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time,
		HighWaterMark: m.HighWaterMark}
	for _, h := range m.Headers {
		switch h.Key {
		case bridge.HeaderTraceParent:
			rec.TraceParent = h.Value
		case bridge.HeaderTraceState:
			rec.TraceState = h.Value
		}
	}
	return rec, nil
}

// Close releases the reader's connections.
func (r *PartitionReader) Close() error { return r.r.Close() }
