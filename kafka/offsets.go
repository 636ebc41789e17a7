package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// Partitions returns the partition numbers of topic.
func Partitions(ctx context.Context, cl *kafkago.Client, topic string) ([]int, error) {
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		ps := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ps[i] = p.ID
		}
		slices.Sort(ps)
		return ps, nil
	}
	return nil, fmt.Errorf("topic %s does not exist", topic)
}

// firstOffsets returns the first offset of each partition of tps, in one
// request: where a group with no commit starts reading. It is the one
// lookup of first offsets; FirstOffsets and Scanner.FirstOffsets are it
// for one topic and for the bridge.
func firstOffsets(ctx context.Context, cl *kafkago.Client, tps []bridge.TopicPartition) (map[bridge.TopicPartition]int64, error) {
	return listOffsets(ctx, cl, byTopic(tps), kafkago.FirstOffsetOf, func(p kafkago.PartitionOffsets) int64 { return p.FirstOffset })
}

// endOffsets returns the end offset (the next offset to be written) of each
// partition of tps, in one request: the one lookup of end offsets.
func endOffsets(ctx context.Context, cl *kafkago.Client, tps []bridge.TopicPartition) (map[bridge.TopicPartition]int64, error) {
	return listOffsets(ctx, cl, byTopic(tps), kafkago.LastOffsetOf, func(p kafkago.PartitionOffsets) int64 { return p.LastOffset })
}

// FirstOffsets returns the first offset of each given partition of topic.
func FirstOffsets(ctx context.Context, cl *kafkago.Client, topic string, partitions []int) (map[int]int64, error) {
	return byPartition(firstOffsets(ctx, cl, topicPartitions(topic, partitions)))
}

// EndOffsets returns the end offset (the next offset to be written) of each
// given partition of topic.
func EndOffsets(ctx context.Context, cl *kafkago.Client, topic string, partitions []int) (map[int]int64, error) {
	return byPartition(endOffsets(ctx, cl, topicPartitions(topic, partitions)))
}

func topicPartitions(topic string, partitions []int) []bridge.TopicPartition {
	tps := make([]bridge.TopicPartition, len(partitions))
	for i, p := range partitions {
		tps[i] = bridge.TopicPartition{Topic: topic, Partition: p}
	}
	return tps
}

func byTopic(tps []bridge.TopicPartition) map[string][]int {
	want := make(map[string][]int)
	for _, tp := range tps {
		want[tp.Topic] = append(want[tp.Topic], tp.Partition)
	}
	return want
}

// byPartition keys the offsets of one topic by partition.
func byPartition(offs map[bridge.TopicPartition]int64, err error) (map[int]int64, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(offs))
	for tp, o := range offs {
		out[tp.Partition] = o
	}
	return out, nil
}

// listOffsets asks for one offset (at) of every partition in want, in one
// request, and fails unless every partition answers; a partition whose
// leader is moving or not known yet is asked again.
func listOffsets(ctx context.Context, cl *kafkago.Client, want map[string][]int,
	at func(int) kafkago.OffsetRequest, pick func(kafkago.PartitionOffsets) int64) (map[bridge.TopicPartition]int64, error) {
	return retryTransient(ctx, func() (map[bridge.TopicPartition]int64, error) { return listOffsetsOnce(ctx, cl, want, at, pick) })
}

func listOffsetsOnce(ctx context.Context, cl *kafkago.Client, want map[string][]int,
	at func(int) kafkago.OffsetRequest, pick func(kafkago.PartitionOffsets) int64) (map[bridge.TopicPartition]int64, error) {
	req := &kafkago.ListOffsetsRequest{Topics: make(map[string][]kafkago.OffsetRequest, len(want))}
	n := 0
	topics := make([]string, 0, len(want))
	for topic, ps := range want {
		topics = append(topics, topic)
		for _, p := range ps {
			req.Topics[topic] = append(req.Topics[topic], at(p))
		}
		n += len(ps)
	}
	resp, err := cl.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s: %w", strings.Join(topics, ","), err)
	}
	out := make(map[bridge.TopicPartition]int64, n)
	for topic, ps := range resp.Topics {
		for _, po := range ps {
			if po.Error != nil {
				return nil, fmt.Errorf("listing offsets of %s/%d: %w", topic, po.Partition, po.Error)
			}
			out[bridge.TopicPartition{Topic: topic, Partition: po.Partition}] = pick(po)
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("listing offsets of %s: %d partitions answered, %d asked", strings.Join(topics, ","), len(out), n)
	}
	return out, nil
}

// transientWait bounds how long a request answered with a retriable Kafka
// error is asked again.
const transientWait = 10 * time.Second

// retryTransient runs f until it succeeds, fails with an error Kafka calls
// retriable no more, transientWait passes or ctx ends. Apache Kafka answers
// such errors for a moment where kfake never does: NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS after __consumer_offsets is made or a broker
// restarts, NOT_LEADER_OR_FOLLOWER or LEADER_NOT_AVAILABLE on a topic just
// created or whose leader moves.
func retryTransient[T any](ctx context.Context, f func() (T, error)) (T, error) {
	b := backoff.WithContext(backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(50*time.Millisecond), backoff.WithMaxInterval(time.Second),
		backoff.WithMaxElapsedTime(transientWait)), ctx)
	return backoff.RetryWithData(func() (T, error) {
		v, err := f()
		var ke kafkago.Error
		if err != nil && !(errors.As(err, &ke) && ke.Temporary()) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, b)
}

// CommittedOffsets returns group's committed offset of each given partition
// of topic (-1 where it has none), asking again while the coordinator moves
// or loads.
func CommittedOffsets(ctx context.Context, cl *kafkago.Client, group, topic string, partitions []int) (map[int]int64, error) {
	return retryTransient(ctx, func() (map[int]int64, error) { return committedOffsets(ctx, cl, group, topic, partitions) })
}

func committedOffsets(ctx context.Context, cl *kafkago.Client, group, topic string, partitions []int) (map[int]int64, error) {
	resp, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: partitions}})
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	out := make(map[int]int64, len(partitions))
	if errors.Is(resp.Error, kafkago.GroupIdNotFound) {
		// A group that never committed does not exist yet.
		for _, p := range partitions {
			out[p] = -1
		}
		return out, nil
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, resp.Error)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// Range returns the partition numbers 0..n-1.
func Range(n int) []int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return ps
}
