package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// ErrGenerationEnded is returned by Generation.Commit once the handler of its
// generation has returned: from then on the generation may have been
// replaced, and a commit for its records must never be sent.
var ErrGenerationEnded = errors.New("consumer group generation ended")

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

// Assignment is one partition given to this member, with the offset to start
// from (kafka.FirstOffset when the group has none committed).
type Assignment struct {
	TopicPartition
	Offset int64
}

// Generation is one membership period of the group. Its Commit sends offsets
// under this generation's id only while its handler runs.
type Generation struct {
	ID          int32
	MemberID    string
	Assignments []Assignment

	gen   *kafka.Generation
	mu    sync.Mutex
	ended bool
}

// Commit commits offsets (the next offset to read, per partition) for this
// generation. It refuses, without sending anything, once the generation's
// handler has returned.
func (g *Generation) Commit(offsets map[TopicPartition]int64) error {
	if len(offsets) == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return ErrGenerationEnded
	}
	req := make(map[string]map[int]int64)
	for tp, off := range offsets {
		if req[tp.Topic] == nil {
			req[tp.Topic] = make(map[int]int64)
		}
		req[tp.Topic][tp.Partition] = off
	}
	if err := g.gen.CommitOffsets(req); err != nil {
		return fmt.Errorf("committing offsets in generation %d: %w", g.ID, err)
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
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                cfg.GroupID,
		Brokers:           cfg.Conn.Brokers,
		Dialer:            cfg.Conn.Dialer(),
		Topics:            cfg.Topics,
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		JoinGroupBackoff:  time.Second,
		// Offsets kept a week, like Kafka's default.
		RetentionTime: 7 * 24 * time.Hour,
		ErrorLogger:   kafkaLogger{log: log.With(zap.String("component", "group"))},
	})
	if err != nil {
		return fmt.Errorf("creating consumer group %q: %w", cfg.GroupID, err)
	}
	if cfg.LeaveTimeout <= 0 {
		cfg.LeaveTimeout = 45 * time.Second
	}
	closed := make(chan struct{})
	go func() {
		// Closing the group ends the running generation, which cancels the
		// handler's context, and waits for the handler before leaving.
		<-ctx.Done()
		_ = cg.Close()
		close(closed)
	}()
	var running sync.WaitGroup
	defer func() {
		// The handler drains within its own deadline; leaving the group is
		// a few requests. Past that, return anyway so that shutdown stays
		// bounded: whatever was not committed is consumed again.
		done := make(chan struct{})
		go func() {
			<-closed
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
	}()
	for {
		kgen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return nil
			}
			if onError != nil {
				onError(err)
			}
			log.Warn("joining the consumer group failed, retrying",
				zap.String("group", cfg.GroupID), zap.Error(err))
			continue
		}
		gen := &Generation{ID: kgen.ID, MemberID: kgen.MemberID, gen: kgen}
		for topic, as := range kgen.Assignments {
			for _, a := range as {
				gen.Assignments = append(gen.Assignments, Assignment{
					TopicPartition: TopicPartition{Topic: topic, Partition: a.ID},
					Offset:         a.Offset,
				})
			}
		}
		running.Add(1)
		kgen.Start(func(gctx context.Context) {
			defer running.Done()
			defer gen.end()
			handler(gctx, gen)
		})
	}
}

type kafkaLogger struct{ log *zap.Logger }

func (l kafkaLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
