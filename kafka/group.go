package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/offsetcommit"
	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// GroupConfig configures RunGroup.
type GroupConfig struct {
	Conn              Conn
	GroupID           string
	Topics            []string
	SessionTimeout    time.Duration // default 30s
	RebalanceTimeout  time.Duration // default 30s
	HeartbeatInterval time.Duration // default 3s
	// LeaveTimeout bounds the wait, once ctx ends, for the running handler
	// and the LeaveGroup request; default 45s.
	LeaveTimeout time.Duration
}

// Generation is one membership period of the group. Its Commit sends offsets
// under this generation's id only while its handler runs.
type Generation struct {
	ID          int32
	MemberID    string
	Assignments []bridge.Assignment

	groupID string
	client  *kafkago.Client
	mu      sync.Mutex
	ended   bool
}

// commitTimeout bounds one offset commit request.
const commitTimeout = 10 * time.Second

// Commit commits offsets (the next offset to read, per partition) for this
// generation. since[tp], when given, is a lower bound on the time at which
// an outcome of a record of tp at or after offsets[tp] can have been
// written; it travels in the commit's metadata and comes back as
// Assignment.OutcomesSince to the next owner (without it, the next owner
// does not look for outcomes already written). It refuses, without sending
// anything, once the generation's handler has returned.
//
// kafka-go's Generation.CommitOffsets takes no metadata, so the commit is
// an OffsetCommit request of its own, with this generation's id and member
// id: the coordinator refuses it (ILLEGAL_GENERATION) once the generation
// is over, as it refuses CommitOffsets.
func (g *Generation) Commit(ctx context.Context, offsets map[bridge.TopicPartition]int64, since map[bridge.TopicPartition]time.Time) error {
	if len(offsets) == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return bridge.ErrGenerationEnded
	}
	req := &offsetcommit.Request{GroupID: g.groupID, GenerationID: g.ID, MemberID: g.MemberID}
	byTopic := map[string]int{}
	for tp, off := range offsets {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.Topic] = i
			req.Topics = append(req.Topics, offsetcommit.RequestTopic{Name: tp.Topic})
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, offsetcommit.RequestPartition{
			PartitionIndex: int32(tp.Partition), CommittedOffset: off, CommittedMetadata: CommitMetadata(since[tp]),
			// Unknown, said as Kafka's own consumers say it: kafka-go's
			// Client.OffsetCommit leaves 0 here, which a Java consumer
			// taking the group over reads as epoch 0 and validates
			// against the leader's log (a reset or truncation).
			CommittedLeaderEpoch: -1,
		})
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	tr := g.client.Transport
	if tr == nil {
		tr = kafkago.DefaultTransport
	}
	m, err := tr.RoundTrip(ctx, g.client.Addr, req)
	if err != nil {
		return fmt.Errorf("committing offsets in generation %d: %w", g.ID, err)
	}
	resp, ok := m.(*offsetcommit.Response)
	if !ok {
		return fmt.Errorf("committing offsets in generation %d: unexpected response %T", g.ID, m)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return fmt.Errorf("committing offsets in generation %d: %s/%d: %w", g.ID, t.Name, p.PartitionIndex, kafkago.Error(p.ErrorCode))
			}
		}
	}
	return nil
}

func (g *Generation) end() {
	g.mu.Lock()
	g.ended = true
	g.mu.Unlock()
}

// Handler runs one generation. Its context ends when the generation is
// revoked (a rebalance) or the group is shutting down; the handler must then
// stop fetching, finish or abandon in-flight work, commit, and return. The
// group does not rejoin until it has returned.
type Handler func(ctx context.Context, gen *Generation)

// RunGroup joins the consumer group and runs handler for every generation
// until ctx ends. It then waits for the running handler, leaves the group
// and returns nil. Errors joining the group are logged and retried: a broker
// outage must not stop the bridge.
func RunGroup(ctx context.Context, cfg GroupConfig, log *zap.Logger, handler Handler, onError func(error)) error {
	cg, err := newConsumerGroup(cfg, log)
	if err != nil {
		return err
	}
	if cfg.LeaveTimeout <= 0 {
		cfg.LeaveTimeout = 45 * time.Second
	}
	client := cfg.Conn.Client(commitTimeout)
	defer closeIdle(client)
	var running sync.WaitGroup
	defer leave(ctx, cg, &running, cfg, log)
	for {
		kgen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				return nil
			}
			if onError != nil {
				onError(err)
			}
			log.Warn("joining the consumer group failed, retrying",
				zap.String("group", cfg.GroupID), zap.Error(err))
			continue
		}
		gen := newGeneration(ctx, kgen, cfg.GroupID, client, log)
		running.Add(1)
		kgen.Start(func(gctx context.Context) {
			defer running.Done()
			defer gen.end()
			handler(gctx, gen)
		})
	}
}

// newConsumerGroup returns kafka-go's group of cfg, which starts a group
// with no commit at the partitions' first offsets and keeps commits for
// bridge.OffsetsRetention.
func newConsumerGroup(cfg GroupConfig, log *zap.Logger) (*kafkago.ConsumerGroup, error) {
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		Brokers:           cfg.Conn.Brokers,
		Dialer:            cfg.Conn.Dialer(),
		Topics:            cfg.Topics,
		StartOffset:       kafkago.FirstOffset,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		JoinGroupBackoff:  time.Second,
		RetentionTime:     bridge.OffsetsRetention,
		ErrorLogger:       kafkaLogger{log: log.With(zap.String("component", "group"))},
	})
	if err != nil {
		return nil, fmt.Errorf("creating consumer group %q: %w", cfg.GroupID, err)
	}
	return cg, nil
}

// leave closes the group once ctx ends, which ends the running generation
// (cancelling its handler's context) and leaves the group after the
// handler, and waits for both within cfg.LeaveTimeout. The handler drains
// within its own deadline; leaving the group is a few requests. Past that it
// returns anyway so that shutdown stays bounded: whatever was not committed
// is consumed again.
func leave(ctx context.Context, cg *kafkago.ConsumerGroup, running *sync.WaitGroup, cfg GroupConfig, log *zap.Logger) {
	<-ctx.Done()
	done := make(chan struct{})
	go func() {
		_ = cg.Close()
		running.Wait()
		close(done)
	}()
	t := time.NewTimer(cfg.LeaveTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("leaving the consumer group is taking too long; giving up on it",
			zap.String("group", cfg.GroupID), zap.Duration("waited", cfg.LeaveTimeout))
	}
}

// newGeneration returns the Generation of kgen, with the bound each
// assignment's commit carries.
func newGeneration(ctx context.Context, kgen *kafkago.Generation, groupID string, client *kafkago.Client, log *zap.Logger) *Generation {
	gen := &Generation{ID: kgen.ID, MemberID: kgen.MemberID, groupID: groupID, client: client}
	for topic, as := range kgen.Assignments {
		for _, a := range as {
			gen.Assignments = append(gen.Assignments, bridge.Assignment{
				TopicPartition: bridge.TopicPartition{Topic: topic, Partition: a.ID},
				Offset:         a.Offset,
			})
		}
	}
	if err := fetchOutcomeBounds(ctx, client, groupID, gen.Assignments); err != nil {
		// Without the bounds the next pipeline only finds no outcome
		// already written: it may repeat work, never lose it.
		log.Warn("reading the commit metadata failed: outcomes already written will not be looked for",
			zap.String("group", groupID), zap.Int32("generation", kgen.ID), zap.Error(err))
	}
	return gen
}

// Group is this member of the consumer group, for the bridge: RunGroup with
// its settings.
type Group struct {
	cfg     GroupConfig
	log     *zap.Logger
	onError func(error)
}

// NewGroup returns a Group that joins with cfg; onError (nil: none) hears
// every failed join, which is retried.
func NewGroup(cfg GroupConfig, log *zap.Logger, onError func(error)) *Group {
	return &Group{cfg: cfg, log: log, onError: onError}
}

// Run is RunGroup, handing each generation to handle.
func (g *Group) Run(ctx context.Context, handle bridge.GenerationHandler) error {
	return RunGroup(ctx, g.cfg, g.log, func(gctx context.Context, gen *Generation) {
		handle(gctx, gen.ID, gen.Assignments, gen)
	}, g.onError)
}

type kafkaLogger struct{ log *zap.Logger }

func (l kafkaLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
