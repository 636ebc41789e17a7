package integration_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// topicWith creates a topic with a random name and the given configs.
func (c *cluster) topicWith(t *testing.T, prefix string, partitions int, configs map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, rand.Int63())
	tc := kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: max(1, c.replicas)}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
	if err == nil {
		err = resp.Errors[name]
	}
	if err != nil {
		t.Fatalf("creating topic %s with %v: %v", name, configs, err)
	}
	return name
}

// A results topic whose broker deletes outcomes sooner than the group keeps
// its commits (short retention), or keeps only each id's latest (compaction),
// weakens the crash skip: the bridge says so at start-up, naming the setting,
// and works as usual.
func TestAResultsTopicThatLosesOutcomesEarlyIsWarnedAbout(t *testing.T) {
	cases := []struct {
		scenario string
		configs  map[string]string
		want     []string
	}{
		{"retention of one hour", map[string]string{"retention.ms": "3600000"}, []string{"retention.ms", `"retention":3600`}},
		{"compaction", map[string]string{"cleanup.policy": "compact"}, []string{"compacted (cleanup.policy compact)"}},
		{"the default: a week, deleted", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			c := newCluster(t)
			in := c.topic(t, "push", 1)
			results := c.topicWith(t, "results", 1, tc.configs)
			fake, url := fakeMIMC(t)
			values, ids := uniqueEvents(t, 20, fmt.Sprintf("cleanup%d", rand.Intn(1000)))
			c.produce(t, in, values...)
			cfg := settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63()))
			b := startBridge(t, cfg)
			allCommitted(t, c, cfg, 60*time.Second)
			if err := b.stop(t); err != nil {
				t.Fatalf("the bridge stopped with %v", err)
			}
			if n := len(pushCounts(fake)); n != len(ids) {
				t.Errorf("%d recipients pushed for %d events", n, len(ids))
			}
			warned := grepLines(b.logs.String(), "the results topic")
			for _, w := range tc.want {
				if !strings.Contains(warned, w) {
					t.Errorf("no start-up warning with %q; the lines about the results topic:\n%s", w, warned)
				}
			}
			if tc.want == nil && strings.Contains(warned, `"level":"warn"`) {
				t.Errorf("a warning about a results topic with the default cleanup:\n%s", warned)
			}
		})
	}
}
