package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runBareFranz is the bare pipe with franz-go instead of kafka-go: a second
// ceiling, from the other Go client the project depends on. It consumes in
// a group (franz-go's default cooperative-sticky balancer), produces one
// small outcome per record (acks=all, idempotent), waits for the produce
// acknowledgements, then commits what was fetched. No decoding, no HTTP.
func runBareFranz(ctx context.Context, spec childSpec, p *progress) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(spec.Brokers...),
		kgo.ConsumerGroup(spec.Group),
		kgo.ConsumeTopics(spec.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.DefaultProduceTopic(spec.Results),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Polling blocks while there is nothing to fetch: the monitor's end
	// (every outcome acknowledged) must end it too.
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-pollCtx.Done():
		}
	}()
	for {
		fs := cl.PollFetches(pollCtx)
		if pollCtx.Err() != nil {
			return waitDone(ctx, p)
		}
		var ferr error
		fs.EachError(func(topic string, part int32, err error) {
			ferr = fmt.Errorf("fetching %s/%d: %w", topic, part, err)
		})
		if ferr != nil {
			return ferr
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			p.fetched()
			v := make([]byte, 0, 128)
			v = append(v, `{"id":"`...)
			v = append(v, r.Key...)
			v = append(v, `","status":"delivered","source":{"topic":"`...)
			v = append(v, r.Topic...)
			v = append(v, `","partition":`...)
			v = strconv.AppendInt(v, int64(r.Partition), 10)
			v = append(v, `,"offset":`...)
			v = strconv.AppendInt(v, r.Offset, 10)
			v = append(v, `}}`...)
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: v}, nil)
			n++
		})
		if n == 0 {
			continue
		}
		// The commit rule: outcomes acknowledged before the offsets move.
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("producing outcomes: %w", err)
		}
		p.outcomes.Add(int64(n))
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return fmt.Errorf("committing: %w", err)
		}
	}
}
