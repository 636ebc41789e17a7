package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// ReadDelivered reads every results partition, in parallel, from the first
// record at or after since (or from[p], when later) to its end at the start
// of the read, and calls fn (one call at a time) for each outcome of the
// group whose status header says delivered and whose signature checks: the
// ids the dedup window must remember. Records other groups wrote, unsigned or
// forged ones, and other statuses are passed over. It returns, per results
// partition, the offset where the read ended: from for the next read.
func (s *Scanner) ReadDelivered(ctx context.Context, since time.Time, from map[int]int64, fn func(bridge.Delivered)) (map[int]int64, bridge.DeliveredStats, error) {
	start := s.cfg.Now()
	var stats bridge.DeliveredStats
	parts, err := Partitions(ctx, s.client, s.cfg.Topic)
	if err != nil {
		return nil, stats, fmt.Errorf("reading delivered ids: %w", err)
	}
	ends, err := EndOffsets(ctx, s.client, s.cfg.Topic, parts)
	if err != nil {
		return nil, stats, fmt.Errorf("reading delivered ids: %w", err)
	}
	starts, err := s.offsetsAt(ctx, parts, since)
	if err != nil {
		return nil, stats, fmt.Errorf("reading delivered ids: %w", err)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range parts {
		begin, ok := starts[p]
		if !ok {
			begin = ends[p] // nothing written since since
		}
		if f, ok := from[p]; ok && f > begin {
			begin = f
		}
		if begin >= ends[p] {
			continue
		}
		g.Go(func() error {
			return s.readDeliveredPartition(gctx, p, begin, ends[p], func(d bridge.Delivered, read, ignored int) {
				mu.Lock()
				defer mu.Unlock()
				stats.Read += read
				stats.Ignored += ignored
				if d.ID != "" || d.Source.Topic != "" {
					stats.Found++
					fn(d)
				}
			})
		})
	}
	err = g.Wait()
	stats.Took = s.cfg.Now().Sub(start)
	if err != nil {
		return nil, stats, fmt.Errorf("reading delivered ids: %w", err)
	}
	return ends, stats, nil
}

// readDeliveredPartition reads results partition p from begin to end and
// hands each signed delivered outcome of the group to found, with the
// records read and ignored since the last call.
func (s *Scanner) readDeliveredPartition(ctx context.Context, p int, begin, end int64, found func(d bridge.Delivered, read, ignored int)) error {
	group := s.cfg.Group
	var key []byte
	read, ignored := 0, 0
	_, err := s.readResults(ctx, p, begin, end, func(rec *kafkago.Record, src outcomeSource) {
		read++
		if !src.ok || string(src.group) != group || string(src.status) != "delivered" {
			closeBytes(rec.Key)
			return
		}
		key = readBytes(key[:0], rec.Key)
		if !src.signed(s.cfg.Signer, key) {
			ignored++
			return
		}
		found(bridge.Delivered{ID: string(key), Source: bridge.TopicPartition{Topic: string(src.topic), Partition: src.part}, Offset: src.offset, At: rec.Time}, read, ignored)
		read, ignored = 0, 0
	})
	if err != nil {
		return err
	}
	found(bridge.Delivered{}, read, ignored)
	return nil
}
