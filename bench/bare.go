package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// nextGeneration joins the group, again while the coordinator is not ready:
// on a fresh Apache Kafka the first group waits for __consumer_offsets
// (GROUP_COORDINATOR_NOT_AVAILABLE), as the bridge's own RunGroup does.
func nextGeneration(ctx context.Context, cg *kafkago.ConsumerGroup) (*kafkago.Generation, error) {
	for {
		gen, err := cg.Next(ctx)
		var ke kafkago.Error
		if err == nil || !errors.As(err, &ke) || !ke.Temporary() {
			return gen, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runBare is the bare pipe: the ceiling for this client and broker. It
// consumes the records in a consumer group (ConsumerGroup/Generation and one
// Reader per partition, configured as the bridge's) and produces one small
// outcome per record (a batched Writer, acks=all), then commits; no
// decoding, no HTTP.
func runBare(ctx context.Context, spec childSpec, p *progress) error {
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID: spec.Group, Brokers: spec.Brokers, Topics: []string{spec.Topic},
		StartOffset: kafkago.FirstOffset, JoinGroupBackoff: time.Second,
	})
	if err != nil {
		return err
	}
	defer cg.Close()
	gen, err := nextGeneration(ctx, cg)
	if err != nil {
		return fmt.Errorf("joining the group: %w", err)
	}
	w := &kafkago.Writer{
		Addr: kafkago.TCP(spec.Brokers...), Topic: spec.Results, Balancer: kafkago.Murmur2Balancer{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 256, BatchBytes: 16 << 20,
		MaxAttempts: 10, WriteTimeout: 10 * time.Second,
	}
	defer w.Close()

	type item struct {
		tp     bridge.TopicPartition
		offset int64
		key    []byte
	}
	items := make(chan item, 4096)
	tracker := bridge.NewTracker()
	var fetchers sync.WaitGroup
	for topic, parts := range gen.Assignments {
		for _, a := range parts {
			fetchers.Add(1)
			gen.Start(func(gctx context.Context) {
				defer fetchers.Done()
				r := kafkago.NewReader(kafkago.ReaderConfig{
					Brokers: spec.Brokers, Topic: topic, Partition: a.ID,
					MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 256,
				})
				defer r.Close()
				if err := r.SetOffset(a.Offset); err != nil {
					return
				}
				tp := bridge.TopicPartition{Topic: topic, Partition: a.ID}
				for {
					m, err := r.FetchMessage(gctx)
					if err != nil {
						return
					}
					p.fetched()
					tracker.Add(tp, m.Offset, time.Now())
					select {
					case items <- item{tp: tp, offset: m.Offset, key: m.Key}:
					case <-gctx.Done():
						return
					}
				}
			})
		}
	}

	// The writer: drain what is queued, write it as one batch, release.
	go func() {
		const maxBatch = 2000
		batch := make([]item, 0, maxBatch)
		msgs := make([]kafkago.Message, 0, maxBatch)
		for {
			var it item
			select {
			case it = <-items:
			case <-ctx.Done():
				return
			}
			batch = append(batch[:0], it)
		fill:
			for len(batch) < maxBatch {
				select {
				case it := <-items:
					batch = append(batch, it)
				default:
					break fill
				}
			}
			msgs = msgs[:0]
			for _, it := range batch {
				v := make([]byte, 0, 128)
				v = append(v, `{"id":"`...)
				v = append(v, it.key...)
				v = append(v, `","status":"delivered","source":{"topic":"`...)
				v = append(v, it.tp.Topic...)
				v = append(v, `","partition":`...)
				v = strconv.AppendInt(v, int64(it.tp.Partition), 10)
				v = append(v, `,"offset":`...)
				v = strconv.AppendInt(v, it.offset, 10)
				v = append(v, `}}`...)
				msgs = append(msgs, kafkago.Message{Key: it.key, Value: v})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return
			}
			for _, it := range batch {
				tracker.Done(it.tp, it.offset)
			}
			p.outcomes.Add(int64(len(batch)))
		}
	}()

	commit := func() error {
		offs := tracker.Committable()
		if len(offs) == 0 {
			return nil
		}
		req := map[string]map[int]int64{}
		for tp, off := range offs {
			if req[tp.Topic] == nil {
				req[tp.Topic] = map[int]int64{}
			}
			req[tp.Topic][tp.Partition] = off
		}
		if err := gen.CommitOffsets(req); err != nil {
			return err
		}
		tracker.Committed(offs)
		return nil
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := commit(); err != nil {
				return fmt.Errorf("committing: %w", err)
			}
		case <-p.done:
			// Everything is written: commit it, then leave the group.
			return commit()
		case <-ctx.Done():
			return waitDone(ctx, p)
		}
	}
}
