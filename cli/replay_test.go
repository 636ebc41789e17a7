package cli_test

import (
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/bridge"
	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// readRecords returns every record of topic.
func readRecords(t *testing.T, addr, topic string) []kafka.RangeRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ad := admin(t, addr)
	first, end, err := ad.Offsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.RangeRecord
	if err := ad.ReadRange(ctx, topic, first, end, func(r kafka.RangeRecord) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return out
}

// replayOutcomes are outcomes of every status; those with an event carry
// only the undelivered recipients.
func replayOutcomes(input, urgent string, at time.Time) []event.Outcome {
	ev := func(id string, to ...string) *event.Event {
		return &event.Event{ID: id, Content: message.Content{Kind: event.P2P, FromAccount: "shop", FromResource: "srv", Msg: "hello " + id}, Recipients: message.Recipients{ToAccounts: to}}
	}
	src := func(topic string, off int64) event.Source {
		return event.Source{Topic: topic, Partition: 0, Offset: off}
	}
	otp := ev("otp-7", "dave")
	otp.TTL = 30
	return []event.Outcome{
		{ID: "ok-1", Status: event.Delivered, Kind: event.P2P, Source: src(input, 1), ReceivedAt: at, CompletedAt: at,
			Recipients: []event.Recipient{{ToAccount: "alice", PacketID: "p1"}}},
		{ID: "fail-2", Status: event.Failed, Kind: event.P2P, Source: src(input, 2), ReceivedAt: at, CompletedAt: at,
			Recipients: []event.Recipient{{ToAccount: "bob", Error: "timeout"}}, Error: "timeout", Event: ev("fail-2", "bob")},
		{ID: "part-3", Status: event.Partial, Kind: event.P2P, Source: src(input, 3), ReceivedAt: at, CompletedAt: at.Add(time.Minute),
			Recipients: []event.Recipient{{ToAccount: "alice", PacketID: "p2"}, {ToAccount: "carol", Error: "timeout"}},
			Error:      "timeout", Event: ev("part-3", "carol")},
		{ID: "otp-7", Status: event.Expired, Kind: event.P2P, Source: src(urgent, 4), ReceivedAt: at, CompletedAt: at.Add(2 * time.Minute),
			Recipients: []event.Recipient{{ToAccount: "dave", Error: event.ExpiredError(at)}}, Error: event.ExpiredError(at), Event: otp},
		{ID: input + "/0/5", Status: event.Rejected, Source: src(input, 5), ReceivedAt: at, CompletedAt: at, Error: "invalid JSON", Input: "nope"},
		// Failed, then replayed and delivered: the later outcome wins.
		{ID: "again-6", Status: event.Failed, Kind: event.P2P, Source: src(input, 6), ReceivedAt: at, CompletedAt: at,
			Recipients: []event.Recipient{{ToAccount: "erin", Error: "timeout"}}, Error: "timeout", Event: ev("again-6", "erin")},
		{ID: "again-6", Status: event.Delivered, Kind: event.P2P, Source: src(input, 9), ReceivedAt: at, CompletedAt: at.Add(3 * time.Minute),
			Recipients: []event.Recipient{{ToAccount: "erin", PacketID: "p3"}}},
	}
}

func TestReplay(t *testing.T) {
	addr := broker(t)
	results := topic(t, addr, "results", 3)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	fixture := func(t *testing.T) (input, urgent string, outs []event.Outcome) {
		t.Helper()
		input, urgent = topic(t, addr, "push", 3), topic(t, addr, "urgent", 2)
		outs = replayOutcomes(input, urgent, at)
		var msgs []bridge.Message
		for _, o := range outs {
			msgs = append(msgs, outcomeMsg(t, o))
		}
		// One write in order: the two outcomes of again-6 share a key, hence a
		// partition, in the order written.
		write(t, addr, results, msgs...)
		return input, urgent, outs
	}
	base := func(extra ...string) []string {
		return append([]string{"replay", "--kafka-brokers", addr, "--results-topic", results}, extra...)
	}
	events := func(outs []event.Outcome, ids ...string) map[string]string {
		m := map[string]string{}
		for _, o := range outs {
			if slices.Contains(ids, o.ID) && o.Event != nil {
				m[o.ID] = string(o.Event.AppendJSON(nil))
			}
		}
		return m
	}
	produced := func(t *testing.T, topic string) map[string]string {
		t.Helper()
		m := map[string]string{}
		for _, r := range readRecords(t, addr, topic) {
			var ev event.Event
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Fatalf("%s holds a record that is not an event: %s", topic, r.Value)
			}
			if string(r.Key) != ev.ID {
				t.Errorf("record key %q, want the event id %q", r.Key, ev.ID)
			}
			if _, dup := m[ev.ID]; dup {
				t.Errorf("%s produced twice", ev.ID)
			}
			m[ev.ID] = string(r.Value)
		}
		return m
	}

	t.Run("failed, partial and expired events go back to the topic each came from, and nothing else", func(t *testing.T) {
		input, urgent, outs := fixture(t)
		code, stdout, stderr := run(t, "", base()...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got, want := produced(t, input), events(outs, "fail-2", "part-3"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s holds\n%v\nwant\n%v", input, got, want)
		}
		if got, want := produced(t, urgent), events(outs, "otp-7"); !reflect.DeepEqual(got, want) {
			t.Errorf("the urgent topic holds\n%v\nwant\n%v", got, want)
		}
		for _, want := range []string{
			"replayed 3 of 3 events: partial 1, failed 1, expired 1; to ",
			input + " 2", urgent + " 1",
			"skipped 1 outcomes without an event (a rejected event must be fixed and sent again): rejected 1",
			"left out 1 outcomes followed by a later outcome of the same id",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("the summary lacks %q:\n%s", want, stdout)
			}
		}
	})

	t.Run("--status delivered says delivered outcomes are never replayed, not that they lack an event", func(t *testing.T) {
		_, _, _ = fixture(t)
		code, stdout, stderr := run(t, "", base("--status", "delivered", "--dry-run")...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		summary := stdout + stderr
		if !strings.Contains(summary, "delivered events are never replayed") {
			t.Errorf("the summary does not say delivered outcomes are never replayed:\n%s", summary)
		}
		if strings.Contains(summary, "without an event (a rejected event must be fixed and sent again): delivered") {
			t.Errorf("the summary counts delivered outcomes among those to fix and send again:\n%s", summary)
		}
	})

	t.Run("--dry-run prints the events and produces nothing", func(t *testing.T) {
		input, urgent, outs := fixture(t)
		code, stdout, stderr := run(t, "", base("--dry-run")...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		want := events(outs, "fail-2", "part-3", "otp-7")
		got := map[string]string{}
		for _, l := range lines {
			var ev event.Event
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("line %q is not an event", l)
			}
			got[ev.ID] = l
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("printed\n%v\nwant\n%v", got, want)
		}
		if n := records(t, addr, input) + records(t, addr, urgent); n != 0 {
			t.Errorf("a dry run produced %d records", n)
		}
		if !strings.Contains(stderr, "would replay 3 of 3 events") || !strings.Contains(stderr, "nothing was produced (--dry-run)") {
			t.Errorf("stderr: %s", stderr)
		}
	})

	t.Run("--topic, --status, --id, --since and --until choose", func(t *testing.T) {
		input, urgent, outs := fixture(t)
		other := topic(t, addr, "other", 1)
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"--status", "expired"}, []string{"otp-7"}},
			{[]string{"--id", "part-3", "--id", "otp-7", "--id", "ok-1"}, []string{"part-3", "otp-7"}},
			{[]string{"--id", "part-3,otp-7"}, nil}, // one id that holds a comma, as outcomes reads it
			{[]string{"--since", at.Add(30 * time.Second).Format(time.RFC3339Nano)}, []string{"part-3", "otp-7"}},
			{[]string{"--until", at.Add(90 * time.Second).Format(time.RFC3339Nano)}, []string{"fail-2", "part-3"}},
			{[]string{"--since", "30m"}, nil}, // all completed about an hour ago
		} {
			code, stdout, stderr := run(t, "", base(append(tc.args, "--dry-run", "--topic", other)...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", tc.args, code, stderr)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
				var ev event.Event
				if l != "" && json.Unmarshal([]byte(l), &ev) == nil {
					got = append(got, ev.ID)
				}
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%v chose %v, want %v", tc.args, got, tc.want)
			}
		}
		code, stdout, stderr := run(t, "", base("--topic", other)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if got, want := produced(t, other), events(outs, "fail-2", "part-3", "otp-7"); !reflect.DeepEqual(got, want) {
			t.Errorf("--topic %s holds\n%v\nwant\n%v\n%s", other, got, want, stdout)
		}
		if n := records(t, addr, input) + records(t, addr, urgent); n != 0 {
			t.Errorf("--topic still produced %d records to the source topics", n)
		}
	})

	t.Run("outcomes counts and filters expired", func(t *testing.T) {
		code, stdout, stderr := run(t, "", "outcomes", "--kafka-brokers", addr, "--results-topic", results, "--status", "expired")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "otp-7") || !strings.Contains(stdout, "expired") || strings.Contains(stdout, "fail-2") {
			t.Errorf("stdout:\n%s", stdout)
		}
		if !regexp.MustCompile(`\n\d+ outcomes: expired \d+$`).MatchString(strings.TrimSpace(stdout)) {
			t.Errorf("counts:\n%s", stdout)
		}
	})

	t.Run("a long run reports progress on stderr", func(t *testing.T) {
		defer cli.SetProgressEvery(0)()
		code, _, stderr := run(t, "", base("--dry-run")...)
		if code != 0 || !strings.Contains(stderr, "mimc-bridge replay: read 1 of ") {
			t.Errorf("exit %d, stderr %s", code, stderr)
		}
	})

	for _, tc := range []struct {
		scenario string
		args     []string
		code     int
		stderr   string
	}{
		{"an unknown status is a usage error", []string{"--status", "lost"}, cli.ExitUsage, `--status: unknown status "lost"`},
		{"an unreadable --since is a usage error", []string{"--since", "yesterday"}, cli.ExitUsage, `--since: "yesterday" is neither an RFC 3339 time`},
		{"--since after --until is a usage error", []string{"--since", "1m", "--until", "2m"}, cli.ExitUsage, "is not before --until"},
		{"an unknown flag is a usage error", []string{"--statuses", "failed"}, cli.ExitUsage, "statuses"},
		{"a missing results topic is a failure", []string{"--results-topic", "no-such-results"}, cli.ExitFailed, "no-such-results"},
		{"a missing target topic is a failure and produces nothing", []string{"--topic", "no-such-target"}, cli.ExitFailed, "no-such-target"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			code, _, stderr := run(t, "", base(tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.stderr)
			}
		})
	}
	t.Run("without brokers it names the setting", func(t *testing.T) {
		t.Setenv("MIMC_BRIDGE_KAFKA_BROKERS", "")
		code, _, stderr := run(t, "", "replay")
		if code != cli.ExitUsage || !strings.Contains(stderr, "MIMC_BRIDGE_KAFKA_BROKERS (--kafka-brokers): required") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
