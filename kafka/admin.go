package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// Admin is what the operator tools (send, outcomes, the demo) need of the
// brokers besides the consumer group: topic metadata and offsets, creating
// topics, producing records and reading a range of a topic without a group.
// It keeps its connections between calls; Close releases them.
type Admin struct {
	conn Conn
	cl   *kafkago.Client
}

// NewAdmin returns an Admin of the brokers of conn, with its TLS and SASL
// set-up.
func NewAdmin(conn Conn) *Admin {
	return &Admin{conn: conn, cl: conn.Client(10 * time.Second)}
}

// Close releases the Admin's idle connections.
func (a *Admin) Close() { closeIdle(a.cl) }

// RangeRecord is a record read by ReadRange.
type RangeRecord struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Time      time.Time // the record's timestamp
	Group     string    // the mimc-bridge.group header: the group that wrote an outcome ("" when none)
}

// Probe is Conn.Probe: it checks that the brokers answer with this TLS and
// SASL set-up and that the topics exist.
func (a *Admin) Probe(ctx context.Context, topics ...string) error {
	return a.conn.Probe(ctx, topics...)
}

// Partitions returns the partition numbers of topic, in order.
func (a *Admin) Partitions(ctx context.Context, topic string) ([]int, error) {
	return Partitions(ctx, a.cl, topic)
}

// Offsets returns the first and the end offset (the next to be written) of
// every partition of topic.
func (a *Admin) Offsets(ctx context.Context, topic string) (first, end map[int]int64, err error) {
	ps, err := a.Partitions(ctx, topic)
	if err != nil {
		return nil, nil, err
	}
	if first, err = FirstOffsets(ctx, a.cl, topic, ps); err != nil {
		return nil, nil, err
	}
	if end, err = EndOffsets(ctx, a.cl, topic, ps); err != nil {
		return nil, nil, err
	}
	return first, end, nil
}

// CreateTopics creates each topic with that many partitions (replication 1:
// it serves the demo's single broker); a topic that exists already is left
// as it is.
func (a *Admin) CreateTopics(ctx context.Context, partitions int, topics ...string) error {
	req := &kafkago.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: 1})
	}
	resp, err := a.cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("creating the topics: %w", err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", t, err)
		}
	}
	return nil
}

// KeyPartition is the partition a key goes to among partitions: murmur2, as
// the Java client does, so that a key's records land where other producers'
// would.
func KeyPartition(key []byte, partitions []int) int {
	return kafkago.Murmur2Balancer{}.Balance(kafkago.Message{Key: key}, partitions...)
}

// Produce writes msgs (a nil Key: no key) to one partition of topic with
// acks=all, timestamped now, and returns the offset of the first.
func (a *Admin) Produce(ctx context.Context, topic string, partition int, msgs []bridge.Message) (int64, error) {
	recs := make([]kafkago.Record, len(msgs))
	now := time.Now()
	for i, m := range msgs {
		recs[i] = kafkago.Record{Value: kafkago.NewBytes(m.Value), Time: cmp.Or(m.Time, now)}
		if m.Key != nil {
			recs[i].Key = kafkago.NewBytes(m.Key)
		}
	}
	resp, err := a.cl.Produce(ctx, &kafkago.ProduceRequest{
		Topic: topic, Partition: partition, RequiredAcks: kafkago.RequireAll,
		Records: kafkago.NewRecordReader(recs...),
	})
	if err != nil {
		return 0, fmt.Errorf("producing to %s/%d: %w", topic, partition, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("producing to %s/%d: %w", topic, partition, resp.Error)
	}
	for i, err := range resp.RecordErrors {
		return 0, fmt.Errorf("producing to %s/%d: record %d: %w", topic, partition, i, err)
	}
	return resp.BaseOffset, nil
}

// ProduceKeyed writes one record with acks=all to the partition its key
// hashes to (KeyPartition), or to a random partition when key is nil, and
// returns where it landed.
func (a *Admin) ProduceKeyed(ctx context.Context, topic string, key, value []byte) (partition int, offset int64, err error) {
	ps, err := a.Partitions(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	if len(ps) == 0 {
		return 0, 0, fmt.Errorf("topic %s has no partitions", topic)
	}
	if key != nil {
		partition = KeyPartition(key, ps)
	} else {
		partition = ps[rand.IntN(len(ps))]
	}
	offset, err = a.Produce(ctx, topic, partition, []bridge.Message{{Key: key, Value: value}})
	return partition, offset, err
}

// ReadRange reads the partitions named in start, each from its start offset,
// and calls fn for every record from a single goroutine, in offset order
// within a partition. With a nil end it follows until ctx ends (and returns
// ctx's error); otherwise it stops reading a partition at its end offset
// (exclusive) and returns nil once every partition is read. An error from fn
// stops the reading and is returned.
func (a *Admin) ReadRange(ctx context.Context, topic string, start, end map[int]int64, fn func(RangeRecord) error) error {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(rctx)
	recs := make(chan RangeRecord, 256)
	for p, from := range start {
		if end != nil && end[p] <= from {
			continue
		}
		g.Go(func() error {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers: a.conn.Brokers, Topic: topic, Partition: p, Dialer: a.conn.Dialer(),
				MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond,
			})
			defer r.Close()
			if err := r.SetOffset(from); err != nil {
				return fmt.Errorf("partition %d: %w", p, err)
			}
			for {
				m, err := r.ReadMessage(gctx)
				if err != nil {
					return fmt.Errorf("partition %d: %w", p, err)
				}
				select {
				case recs <- RangeRecord{Partition: p, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time, Group: headerValue(m.Headers, HeaderGroup)}:
				case <-gctx.Done():
					return gctx.Err()
				}
				if end != nil && m.Offset+1 >= end[p] {
					return nil
				}
			}
		})
	}
	done := make(chan error, 1)
	go func() {
		err := g.Wait()
		close(recs)
		done <- err
	}()
	var fnErr error
	for r := range recs {
		if fnErr != nil {
			continue // draining after an error
		}
		if fnErr = fn(r); fnErr != nil {
			cancel()
		}
	}
	err := <-done
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// TopicCleanup asks the brokers for topic's cleanup.policy and
// retention.ms (DescribeConfigs).
func (a *Admin) TopicCleanup(ctx context.Context, topic string) (bridge.TopicCleanup, error) {
	resp, err := a.cl.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy", "retention.ms"},
	}}})
	if err != nil {
		return bridge.TopicCleanup{}, fmt.Errorf("describing the configs of %s: %w", topic, err)
	}
	out := bridge.TopicCleanup{Policy: "delete", Retention: 7 * 24 * time.Hour}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return bridge.TopicCleanup{}, fmt.Errorf("describing the configs of %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			switch e.ConfigName {
			case "cleanup.policy":
				out.Policy = e.ConfigValue
			case "retention.ms":
				ms, err := strconv.ParseInt(e.ConfigValue, 10, 64)
				if err != nil {
					return bridge.TopicCleanup{}, fmt.Errorf("retention.ms of %s is %q: %w", topic, e.ConfigValue, err)
				}
				out.Retention = time.Duration(ms) * time.Millisecond
				if ms < 0 {
					out.Retention = -1
				}
			}
		}
	}
	return out, nil
}

// headerValue returns the value of the first header named key, or "".
func headerValue(hs []kafkago.Header, key string) string {
	for _, h := range hs {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
