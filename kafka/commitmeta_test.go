package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/bridge"
)

// runOneGeneration joins group, runs fn in its first generation and leaves.
// It returns the generation, whose handler has returned by then.
func runOneGeneration(t *testing.T, b *broker, group, topic string, fn func(gen *Generation)) *Generation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got *Generation
	err := RunGroup(ctx, GroupConfig{Conn: b.conn, GroupID: group, Topics: []string{topic}, LeaveTimeout: 10 * time.Second}, zap.NewNop(),
		func(_ context.Context, gen *Generation) {
			if got == nil {
				got = gen
				fn(gen)
			}
			cancel()
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatalf("no generation within the deadline")
	}
	return got
}

// A commit's bound comes back to the next generation's assignments, for the
// offset it was committed with; a commit without one brings none back.
func TestCommitBoundComesBackToTheNextGeneration(t *testing.T) {
	b := newBroker(t)
	in := b.topic("push", 2)
	group := fmt.Sprintf("group-%d", rand.Int63())
	p0 := bridge.TopicPartition{Topic: in, Partition: 0}
	p1 := bridge.TopicPartition{Topic: in, Partition: 1}
	since := time.UnixMilli(time.Now().Add(-time.Minute).UnixMilli())

	first := runOneGeneration(t, b, group, in, func(gen *Generation) {
		for _, a := range gen.Assignments {
			if !a.OutcomesSince.IsZero() {
				t.Errorf("%s: a bound %v before anything was committed", a.TopicPartition, a.OutcomesSince)
			}
		}
		if err := gen.Commit(t.Context(), map[bridge.TopicPartition]int64{p0: 5, p1: 3}, map[bridge.TopicPartition]time.Time{p0: since}); err != nil {
			t.Errorf("committing: %v", err)
		}
	})
	if err := first.Commit(t.Context(), map[bridge.TopicPartition]int64{p0: 6}, map[bridge.TopicPartition]time.Time{p0: since}); !errors.Is(err, bridge.ErrGenerationEnded) {
		t.Errorf("a commit after the handler returned: %v, want ErrGenerationEnded", err)
	}

	runOneGeneration(t, b, group, in, func(gen *Generation) {
		got := map[bridge.TopicPartition]bridge.Assignment{}
		for _, a := range gen.Assignments {
			got[a.TopicPartition] = a
		}
		if a := got[p0]; a.Offset != 5 || !a.OutcomesSince.Equal(since) {
			t.Errorf("%s: offset %d since %v, want 5 since %v", p0, a.Offset, a.OutcomesSince, since)
		}
		if a := got[p1]; a.Offset != 3 || !a.OutcomesSince.IsZero() || !a.BoundKnown {
			t.Errorf("%s: offset %d since %v (known %v), want 3 and known to have no bound", p1, a.Offset, a.OutcomesSince, a.BoundKnown)
		}
	})
}
