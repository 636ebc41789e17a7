package integration_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/config"
)

func TestStartUpFailsFastWithOneClearMessage(t *testing.T) {
	c := newCluster(t)
	in := c.topic(t, "push", 1)
	results := c.topic(t, "results", 1)
	_, url := fakeMIMC(t)
	tests := []struct {
		name   string
		change func(cfg *config.Config)
		want   string
	}{
		{"an unreachable broker is named", func(cfg *config.Config) { cfg.KafkaBrokers = []string{freePort(t)} }, "cannot reach broker"},
		{"a missing input topic is named", func(cfg *config.Config) { cfg.KafkaTopics = []string{"no-such-topic"} }, "no-such-topic"},
		{"a missing results topic is named", func(cfg *config.Config) { cfg.ResultsTopic = "no-such-results" }, "no-such-results"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := settings(t, c, url, in, results, fmt.Sprintf("group-%d", rand.Int63()))
			tt.change(&cfg)
			start := time.Now()
			p := startProc(t, cfg)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("still running after 30s; output:\n%s", tail(p.output.String(), 20))
			}
			took := time.Since(start)
			if code := p.state.ExitCode(); code == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			out := p.output.String()
			if !strings.Contains(out, tt.want) {
				t.Errorf("output does not name %q:\n%s", tt.want, tail(out, 10))
			}
			t.Logf("failed in %s: %s", took.Round(time.Millisecond), lastLine(out))
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
