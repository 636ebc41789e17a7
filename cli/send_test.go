package cli_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/message"
)

var sentLine = regexp.MustCompile(`^sent (\S+) to (\S+) partition (\d+) offset (\d+)\n$`)

// readAt reads the record at topic/partition/offset.
func readAt(t *testing.T, addr, topic string, partition int, offset int64) kafka.RangeRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got kafka.RangeRecord
	err := admin(t, addr).ReadRange(ctx, topic, map[int]int64{partition: offset}, map[int]int64{partition: offset + 1},
		func(r kafka.RangeRecord) error { got = r; return nil })
	if err != nil {
		t.Fatalf("reading %s/%d/%d: %v", topic, partition, offset, err)
	}
	return got
}

func TestSend(t *testing.T) {
	addr := broker(t)
	in := topic(t, addr, "push", 3)
	base := []string{"send", "--kafka-brokers", addr, "--kafka-topics", in + ",other"}

	// sent checks the printed line and returns the record it names.
	sent := func(t *testing.T, code int, stdout, stderr string) (string, kafka.RangeRecord) {
		t.Helper()
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		m := sentLine.FindStringSubmatch(stdout)
		if m == nil {
			t.Fatalf("stdout %q is not `sent ID to TOPIC partition P offset O`", stdout)
		}
		if m[2] != in {
			t.Errorf("produced to %s, want the first KAFKA_TOPICS topic %s", m[2], in)
		}
		p, _ := strconv.Atoi(m[3])
		o, _ := strconv.ParseInt(m[4], 10, 64)
		return m[1], readAt(t, addr, in, p, o)
	}
	decode := func(t *testing.T, value []byte) event.Event {
		t.Helper()
		ev, err := event.Decode(value, event.Source{Topic: in}, event.Limits{})
		if err != nil {
			t.Fatalf("the produced value does not decode: %v: %s", err, value)
		}
		return ev
	}

	t.Run("an event from flags lands where printed, keyed by its id", func(t *testing.T) {
		code, stdout, stderr := run(t, "", append(base, "--id", "order-4711", "--from-account", "shop", "--from-resource", "srv1",
			"--to-account", "alice", "--to-account", "bob,carol", "--msg", "Your order shipped", "--biz-type", "ORDER", "--is-store")...)
		id, m := sent(t, code, stdout, stderr)
		if id != "order-4711" || string(m.Key) != "order-4711" {
			t.Errorf("printed id %q, key %q; want order-4711", id, m.Key)
		}
		ev := decode(t, m.Value)
		if ev.Kind != event.P2P || strings.Join(ev.ToAccounts, ",") != "alice,bob,carol" || ev.FromResource != "srv1" ||
			ev.BizType != "ORDER" || ev.IsStore != message.StoreTrue || ev.Msg != "Your order shipped" {
			t.Errorf("produced %+v from %s", ev, m.Value)
		}
		// franz-go's key partitioner is murmur2 as the Java client does it.
		if p := kgo.StickyKeyPartitioner(nil).ForTopic(in).Partition(&kgo.Record{Key: m.Key}, 3); p != m.Partition {
			t.Errorf("partition %d, want %d (murmur2 of the key, as Java clients)", m.Partition, p)
		}
	})
	t.Run("one topic id from a flag is a p2t event; --is-store=false is sent", func(t *testing.T) {
		code, stdout, stderr := run(t, "", append(base, "--id", "t1", "--from-account", "forum", "--topic-id", "9007199254740993",
			"--msg", "aGk=", "--msg-type", "base64", "--is-store=false")...)
		_, m := sent(t, code, stdout, stderr)
		ev := decode(t, m.Value)
		if ev.Kind != event.P2T || len(ev.TopicIDs) != 1 || ev.TopicIDs[0] != 9007199254740993 || ev.IsStore != message.StoreFalse || ev.MsgType != "base64" {
			t.Errorf("produced %+v from %s", ev, m.Value)
		}
	})
	t.Run("--ttl becomes the event's ttl in seconds", func(t *testing.T) {
		code, stdout, stderr := run(t, "", append(base, "--id", "otp-1", "--from-account", "auth", "--to-account", "alice",
			"--msg", "Your code is 4711", "--ttl", "30")...)
		_, m := sent(t, code, stdout, stderr)
		if ev := decode(t, m.Value); ev.TTL != 30 || !strings.Contains(string(m.Value), `"ttl":30`) {
			t.Errorf("ttl %d in %s; want the number 30", ev.TTL, m.Value)
		}
	})
	t.Run("JSON on stdin is produced as given", func(t *testing.T) {
		js := `{"id":"from-stdin","fromAccount":"shop","topicIds":[1,"2"],"msg":"hi","extra":{"ignored":true}}`
		code, stdout, stderr := run(t, js+"\n", base...)
		id, m := sent(t, code, stdout, stderr)
		if id != "from-stdin" || string(m.Value) != js {
			t.Errorf("id %q value %s; want from-stdin and the input as is", id, m.Value)
		}
	})
	t.Run("--json takes the event as an argument; no id means no key", func(t *testing.T) {
		js := `{"fromAccount":"shop","toAccount":"alice","msg":"no id"}`
		code, stdout, stderr := run(t, "", append(base, "--json", js)...)
		id, m := sent(t, code, stdout, stderr)
		want := event.Source{Topic: in, Partition: m.Partition, Offset: m.Offset}.DefaultID()
		if id != want || m.Key != nil || string(m.Value) != js {
			t.Errorf("id %q (want %q), key %q, value %s", id, want, m.Key, m.Value)
		}
	})

	for _, tc := range []struct {
		scenario string
		stdin    string
		args     []string
		value    string // what Decode judges, for the expected reason
	}{
		{"two kinds of recipient are refused", "", []string{"--id", "x", "--from-account", "shop", "--to-account", "alice", "--topic-id", "7", "--msg", "hi"},
			`{"id":"x","fromAccount":"shop","toAccount":"alice","topicId":"7","msg":"hi"}`},
		{"no recipient is refused", "", []string{"--from-account", "shop", "--msg", "hi"}, `{"fromAccount":"shop","msg":"hi"}`},
		{"bad JSON on stdin is refused", "{not json", nil, `{not json`},
		{"a bad base64 msg is refused", "", []string{"--json", `{"fromAccount":"a","toAccount":"b","msg":"***","msgType":"base64"}`},
			`{"fromAccount":"a","toAccount":"b","msg":"***","msgType":"base64"}`},
		{"a bad topic id is refused", "", []string{"--from-account", "a", "--topic-id", "12x", "--msg", "m"}, `{"fromAccount":"a","topicId":"12x","msg":"m"}`},
		{"a ttl of 0 is refused", "", []string{"--from-account", "a", "--to-account", "b", "--msg", "m", "--ttl", "0"},
			`{"fromAccount":"a","toAccount":"b","msg":"m","ttl":0}`},
		{"a ttl past 30 days is refused", "", []string{"--from-account", "a", "--to-account", "b", "--msg", "m", "--ttl", "2592001"},
			`{"fromAccount":"a","toAccount":"b","msg":"m","ttl":2592001}`},
		{"a ttl with a fraction is refused", "", []string{"--from-account", "a", "--to-account", "b", "--msg", "m", "--ttl", "1.5"},
			`{"fromAccount":"a","toAccount":"b","msg":"m","ttl":1.5}`},
		{"a ttl that is not a number is refused", "", []string{"--from-account", "a", "--to-account", "b", "--msg", "m", "--ttl", "1m"},
			`{"fromAccount":"a","toAccount":"b","msg":"m","ttl":"1m"}`},
		{"an empty ttl is refused", "", []string{"--from-account", "a", "--to-account", "b", "--msg", "m", "--ttl="},
			`{"fromAccount":"a","toAccount":"b","msg":"m","ttl":""}`},
	} {
		t.Run(tc.scenario+" with the decoder's reason, and nothing is produced", func(t *testing.T) {
			before := records(t, addr, in)
			code, stdout, stderr := run(t, tc.stdin, append(append([]string(nil), base...), tc.args...)...)
			_, err := event.Decode([]byte(tc.value), event.Source{Topic: in}, event.Limits{})
			var rej *event.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("the test's value %s is not rejected by Decode: %v", tc.value, err)
			}
			if code != cli.ExitFailed || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, stdout)
			}
			if !strings.Contains(stderr, "the bridge would reject this event: "+rej.Reason+"\n") || !strings.Contains(stderr, "nothing was produced") {
				t.Errorf("stderr %q lacks the decoder's reason %q", stderr, rej.Reason)
			}
			if after := records(t, addr, in); after != before {
				t.Errorf("%d records produced", after-before)
			}
		})
	}

	t.Run("no event at all is a usage error", func(t *testing.T) {
		code, _, stderr := run(t, "", base...)
		if code != cli.ExitUsage || !strings.Contains(stderr, "no event") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("--json with event flags is a usage error", func(t *testing.T) {
		code, _, stderr := run(t, "", append(base, "--json", "{}", "--msg", "x")...)
		if code != cli.ExitUsage || !strings.Contains(stderr, "--json cannot be combined with --msg") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("a missing topic fails before producing", func(t *testing.T) {
		code, _, stderr := run(t, "", "send", "--kafka-brokers", addr, "--kafka-topics", "no-such-topic",
			"--from-account", "a", "--to-account", "b", "--msg", "m")
		if code != cli.ExitFailed || !strings.Contains(stderr, "no-such-topic") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
