package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mimc-bridge/mimc-bridge/bridge"
	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/internal/poll"
	"github.com/mimc-bridge/mimc-bridge/internal/syncbuf"
	"github.com/mimc-bridge/mimc-bridge/kafka"
)

// broker starts an in-process Kafka broker on loopback for one test.
func broker(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// admin is a client of the test's broker.
func admin(t *testing.T, addr string) *kafka.Admin {
	t.Helper()
	ad := kafka.NewAdmin(kafka.Conn{Brokers: []string{addr}})
	t.Cleanup(ad.Close)
	return ad
}

// topic creates a topic with a random name.
func topic(t *testing.T, addr, prefix string, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, rand.Int64())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin(t, addr).CreateTopics(ctx, partitions, name); err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
	return name
}

// write produces keyed records to topic, each to the partition its key
// hashes to, and waits for acks=all.
func write(t *testing.T, addr, topic string, msgs ...bridge.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ad := admin(t, addr)
	for _, m := range msgs {
		if _, _, err := ad.ProduceKeyed(ctx, topic, m.Key, m.Value); err != nil {
			t.Fatalf("writing to %s: %v", topic, err)
		}
	}
}

// records returns the number of records in topic (sum of end offsets).
func records(t *testing.T, addr, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, end, err := admin(t, addr).Offsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, o := range end {
		n += o
	}
	return n
}

// run runs a command in process with a bounded context.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	s := cli.Streams{Out: &out, Err: &errb}
	if stdin != "" {
		s.In = strings.NewReader(stdin)
	}
	code = cli.Main(ctx, args, s)
	return code, out.String(), errb.String()
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

func outcomeMsg(t *testing.T, o event.Outcome) bridge.Message {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return bridge.Message{Key: []byte(o.ID), Value: b}
}

func sampleOutcomes() []event.Outcome {
	at := time.Date(2026, 11, 25, 10, 0, 0, 120e6, time.UTC)
	src := event.Source{Topic: "mimc.push", Partition: 0, Offset: 1}
	return []event.Outcome{
		{ID: "order-1", Status: event.Delivered, Kind: event.P2P, Attempts: 1, Source: src, ReceivedAt: at, CompletedAt: at.Add(70 * time.Millisecond),
			Recipients: []event.Recipient{{ToAccount: "alice", PacketID: "p-1"}, {ToAccount: "bob", PacketID: "p-2"}}},
		{ID: "order-2", Status: event.Delivered, Kind: event.P2T, Attempts: 2, Source: src, ReceivedAt: at, CompletedAt: at.Add(1500 * time.Millisecond),
			Recipients: []event.Recipient{{TopicID: "9007199254740993", PacketID: "p-3"}}},
		{ID: "order-3", Status: event.Failed, Kind: event.P2P, Attempts: 1, Source: src, ReceivedAt: at, CompletedAt: at.Add(40 * time.Millisecond),
			Recipients: []event.Recipient{{ToAccount: "carol", Code: 403, Message: "forbidden"}}, Error: "mimc refused: forbidden"},
		{ID: "mimc.push/0/9", Status: event.Rejected, Source: src, ReceivedAt: at, CompletedAt: at, Error: "invalid JSON", Input: "nope"},
	}
}

func TestOutcomes(t *testing.T) {
	addr := broker(t)
	results := topic(t, addr, "results", 3)
	var msgs []bridge.Message
	for _, o := range sampleOutcomes() {
		msgs = append(msgs, outcomeMsg(t, o))
	}
	write(t, addr, results, msgs...)
	base := []string{"outcomes", "--kafka-brokers", addr, "--results-topic", results}

	for _, tc := range []struct {
		scenario string
		args     []string
		check    func(t *testing.T, stdout, stderr string)
	}{
		{"a table of every outcome up to the end, then the counts", nil, func(t *testing.T, stdout, _ string) {
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) != 6 {
				t.Fatalf("want a header, 4 rows and the counts, got:\n%s", stdout)
			}
			if !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "LATENCY") {
				t.Errorf("header: %q", lines[0])
			}
			for _, want := range []string{
				"order-1 ", "delivered", "2/2", "70ms",
				"order-2", "1.50s", "order-3", "0/1", "mimc refused: forbidden", "mimc.push/0/9", "invalid JSON",
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("the table lacks %q:\n%s", want, stdout)
				}
			}
			if got, want := lines[5], "4 outcomes: delivered 2, failed 1, rejected 1"; got != want {
				t.Errorf("counts %q, want %q", got, want)
			}
		}},
		{"JSON lines are the raw values and the counts go to stderr", []string{"--json"}, func(t *testing.T, stdout, stderr string) {
			want := map[string]bool{}
			for _, m := range msgs {
				want[string(m.Value)] = true
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) != len(msgs) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(msgs), stdout)
			}
			for _, l := range lines {
				if !want[l] {
					t.Errorf("line is not one of the raw values: %s", l)
				}
			}
			if !strings.Contains(stderr, "4 outcomes: delivered 2, failed 1, rejected 1") {
				t.Errorf("stderr lacks the counts: %q", stderr)
			}
		}},
		{"--status keeps only the statuses named", []string{"--status", "failed,rejected", "--json"}, func(t *testing.T, stdout, stderr string) {
			if strings.Contains(stdout, `"delivered"`) || !strings.Contains(stdout, "order-3") || !strings.Contains(stdout, "mimc.push/0/9") {
				t.Errorf("stdout:\n%s", stdout)
			}
			if !strings.Contains(stderr, "2 outcomes: failed 1, rejected 1") {
				t.Errorf("stderr: %q", stderr)
			}
		}},
		{"--id keeps only the ids named", []string{"--id", "order-2", "--id", "nope", "--id", "order-1"}, func(t *testing.T, stdout, _ string) {
			if !strings.Contains(stdout, "order-1") || !strings.Contains(stdout, "order-2") || strings.Contains(stdout, "order-3") {
				t.Errorf("stdout:\n%s", stdout)
			}
			if !strings.Contains(stdout, "2 outcomes: delivered 2") {
				t.Errorf("stdout:\n%s", stdout)
			}
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			code, stdout, stderr := run(t, "", append(append([]string(nil), base...), tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			tc.check(t, stdout, stderr)
		})
	}

	t.Run("an id with a comma is looked up as it is", func(t *testing.T) {
		topic := topic(t, addr, "results-comma", 1)
		o := sampleOutcomes()[0]
		o.ID = "comma,id"
		other := sampleOutcomes()[1]
		other.ID = "comma"
		write(t, addr, topic, outcomeMsg(t, o), outcomeMsg(t, other))
		code, stdout, stderr := run(t, "", "outcomes", "--kafka-brokers", addr, "--results-topic", topic, "--id", "comma,id", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, `"id":"comma,id"`) || strings.Contains(stdout, `"id":"comma"`) || !strings.Contains(stderr, "1 outcomes") {
			t.Errorf("--id 'comma,id' read:\n%s%s", stdout, stderr)
		}
	})
	t.Run("the table escapes what an event's producer chose; --json stays exact", func(t *testing.T) {
		topic := topic(t, addr, "results-hostile", 1)
		o := sampleOutcomes()[2]
		o.ID = "a\x1b[31mRED\x1b[0m\x1b]0;pwned\a"
		o.Error = "line one\nforged row\x1b[2J"
		m := outcomeMsg(t, o)
		write(t, addr, topic, m)
		code, stdout, stderr := run(t, "", "outcomes", "--kafka-brokers", addr, "--results-topic", topic)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if strings.ContainsAny(stdout, "\x1b\a") || strings.Count(stdout, "\n") != 3 {
			t.Errorf("control characters reach the terminal:\n%q", stdout)
		}
		if !strings.Contains(stdout, `a\x1b[31mRED\x1b[0m\x1b]0;pwned\x07`) || !strings.Contains(stdout, `line one\nforged row\x1b[2J`) {
			t.Errorf("the escaped id or error is missing:\n%s", stdout)
		}
		code, stdout, stderr = run(t, "", "outcomes", "--kafka-brokers", addr, "--results-topic", topic, "--json")
		if code != 0 || stdout != string(m.Value)+"\n" {
			t.Errorf("--json changed the record: exit %d, %q, want %q (%s)", code, stdout, m.Value, stderr)
		}
	})
	t.Run("an unknown status is a usage error", func(t *testing.T) {
		code, _, stderr := run(t, "", append(base, "--status", "lost")...)
		if code != cli.ExitUsage || !strings.Contains(stderr, `unknown status "lost"`) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("a missing results topic fails with a clear message", func(t *testing.T) {
		code, _, stderr := run(t, "", "outcomes", "--kafka-brokers", addr, "--results-topic", "no-such-topic")
		if code != cli.ExitFailed || !strings.Contains(stderr, "no-such-topic") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("without brokers it names the setting", func(t *testing.T) {
		t.Setenv("MIMC_BRIDGE_KAFKA_BROKERS", "")
		code, _, stderr := run(t, "", "outcomes")
		if code != cli.ExitUsage || !strings.Contains(stderr, "MIMC_BRIDGE_KAFKA_BROKERS (--kafka-brokers): required") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestOutcomesFollow(t *testing.T) {
	addr := broker(t)
	results := topic(t, addr, "results", 2)
	old := sampleOutcomes()
	write(t, addr, results, outcomeMsg(t, old[0]), outcomeMsg(t, old[2]))

	follow := func(t *testing.T, extra ...string) (stdout *syncbuf.Buffer, stop func() (int, string)) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		stdout = &syncbuf.Buffer{}
		var stderr syncbuf.Buffer
		done := make(chan int, 1)
		args := append([]string{"outcomes", "--kafka-brokers", addr, "--results-topic", results, "--follow"}, extra...)
		go func() { done <- cli.Main(ctx, args, cli.Streams{Out: stdout, Err: &stderr}) }()
		t.Cleanup(cancel)
		return stdout, func() (int, string) {
			cancel()
			select {
			case code := <-done:
				return code, stderr.String()
			case <-time.After(20 * time.Second):
				t.Fatal("outcomes --follow did not stop within 20s of Ctrl-C")
				return 0, ""
			}
		}
	}

	t.Run("only new outcomes by default, counts on Ctrl-C", func(t *testing.T) {
		stdout, stop := follow(t)
		// The follower starts at the end offsets it takes at start, which
		// may come after a first write: write until one shows.
		var fresh []string
		waitFor(t, 20*time.Second, "a new outcome", func() bool {
			for _, id := range fresh {
				if strings.Contains(stdout.String(), id) {
					return true
				}
			}
			o := old[1]
			o.ID = fmt.Sprintf("fresh-%d", rand.Int64())
			fresh = append(fresh, o.ID)
			write(t, addr, results, outcomeMsg(t, o))
			time.Sleep(500 * time.Millisecond)
			return false
		})
		code, stderr := stop()
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		out := stdout.String()
		if strings.Contains(out, "order-1") || strings.Contains(out, "order-3") {
			t.Errorf("old outcomes printed without --from-beginning:\n%s", out)
		}
		if !regexp.MustCompile(`\n\d+ outcomes: delivered \d+\n$`).MatchString(out) {
			t.Errorf("no counts at the end:\n%s", out)
		}
	})
	t.Run("--from-beginning starts at the first offset", func(t *testing.T) {
		stdout, stop := follow(t, "--from-beginning", "--json")
		waitFor(t, 15*time.Second, "the old outcomes", func() bool {
			s := stdout.String()
			return strings.Contains(s, `"order-1"`) && strings.Contains(s, `"order-3"`)
		})
		if code, stderr := stop(); code != 0 || !strings.Contains(stderr, "outcomes: delivered") {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}
