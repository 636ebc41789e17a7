package kafka

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Apache Kafka answers a retriable error for a moment where kfake never
// does: on a topic just created, or after a leader or coordinator moved
// (seen on 4.4.0: the dedup window's read and the load tool's first group).
// Offsets and commits are asked again; other errors fail at once.
func TestOffsetsAndCommitsAreAskedAgainWhileALeaderOrCoordinatorMoves(t *testing.T) {
	c, ad, topic := kfakeAdmin(t, "offsets")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ad.CreateTopics(ctx, 2, topic); err != nil {
		t.Fatal(err)
	}
	cl := &kafkago.Client{Addr: kafkago.TCP(c.ListenAddrs()...), Timeout: 5 * time.Second}

	cases := []struct {
		scenario string
		fault    kfake.Fault
		call     func() error
		wantErr  bool
	}{
		{"end offsets while the leader is not known yet",
			kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Err: kerr.NotLeaderForPartition, Count: 3},
			func() error { _, err := EndOffsets(ctx, cl, topic, []int{0, 1}); return err }, false},
		{"first offsets while the leader is not available",
			kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Err: kerr.LeaderNotAvailable, Count: 2},
			func() error { _, err := FirstOffsets(ctx, cl, topic, []int{0, 1}); return err }, false},
		{"committed offsets while the coordinator loads",
			kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetFetch}, Err: kerr.NotCoordinator, Count: 3, TopLevel: true},
			func() error { _, err := CommittedOffsets(ctx, cl, "g", topic, []int{0, 1}); return err }, false},
		{"an error that does not pass by itself fails at once",
			kfake.Fault{Keys: []kmsg.Key{kmsg.ListOffsets}, Err: kerr.TopicAuthorizationFailed, Count: 1},
			func() error { _, err := EndOffsets(ctx, cl, topic, []int{0, 1}); return err }, true},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			h := c.Fault(tc.fault)
			defer h.Remove()
			start := time.Now()
			err := tc.call()
			if tc.wantErr != (err != nil) {
				t.Fatalf("error %v, want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr && time.Since(start) > time.Second {
				t.Errorf("a permanent error took %s to fail", time.Since(start))
			}
		})
	}
}
