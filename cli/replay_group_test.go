package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/mimc-bridge/mimc-bridge/cli"
	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/kafka"
	"github.com/mimc-bridge/mimc-bridge/message"
)

// writeWithGroup writes outcomes to topic with the group header the
// bridge's publisher sets ("" sets none); raw values are written as they are.
func writeWithGroup(t *testing.T, addr, topic, group string, values ...any) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: topic, Balancer: kafkago.Murmur2Balancer{}, RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	var msgs []kafkago.Message
	for _, v := range values {
		var m kafkago.Message
		switch v := v.(type) {
		case event.Outcome:
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			m = kafkago.Message{Key: []byte(v.ID), Value: b}
		case *event.Event:
			m = kafkago.Message{Key: []byte(v.ID), Value: v.AppendJSON(nil)}
		}
		if group != "" {
			m.Headers = []kafkago.Header{{Key: kafka.HeaderGroup, Value: []byte(group)}}
		}
		msgs = append(msgs, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func TestReplayTakesOnlyItsGroupsOutcomesNeverAnIdDeliveredBeforeAndNeverTheResultsTopic(t *testing.T) {
	addr := broker(t)
	results := topic(t, addr, "results", 2)
	input := topic(t, addr, "push", 2)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	ev := func(id string) *event.Event {
		return &event.Event{ID: id, Content: message.Content{Kind: event.P2P, FromAccount: "shop", FromResource: "srv", Msg: "hi"}, Recipients: message.Recipients{ToAccounts: []string{"bob"}}}
	}
	failed := func(id string) event.Outcome {
		return event.Outcome{ID: id, Status: event.Failed, Kind: event.P2P, Source: event.Source{Topic: input}, ReceivedAt: at, CompletedAt: at,
			Error: "timeout", Event: ev(id), Recipients: []event.Recipient{{ToAccount: "bob", Error: "timeout"}}}
	}
	delivered := func(id string) event.Outcome {
		return event.Outcome{ID: id, Status: event.Delivered, Kind: event.P2P, Source: event.Source{Topic: input}, ReceivedAt: at, CompletedAt: at,
			Recipients: []event.Recipient{{ToAccount: "bob", PacketID: "p"}}}
	}
	// mine-1: failed, ours. theirs-2: failed, another deployment's.
	// twice-3: delivered, then a later copy failed: pushing it again would
	// reach bob twice. raw-4: failed, then its raw event written to the
	// results topic by mistake (which must not hide the failed outcome).
	writeWithGroup(t, addr, results, "mimc-bridge", failed("mine-1"), delivered("twice-3"), failed("twice-3"), failed("raw-4"))
	writeWithGroup(t, addr, results, "other-deployment", failed("theirs-2"))
	writeWithGroup(t, addr, results, "", ev("raw-4"))

	code, stdout, stderr := run(t, "", "replay", "--kafka-brokers", addr, "--results-topic", results, "--kafka-topics", input, "--dry-run")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e event.Event
		if l != "" && json.Unmarshal([]byte(l), &e) == nil {
			got = append(got, e.ID)
		}
	}
	if strings.Join(got, ",") != "mine-1,raw-4" && strings.Join(got, ",") != "raw-4,mine-1" {
		t.Errorf("would replay %v, want mine-1 and raw-4", got)
	}
	for _, want := range []string{
		"left out 1 outcomes whose id was delivered (delivered events are never replayed",
		"ignored 1 outcomes of other consumer groups",
		"ignored 1 records of the results topic that are not outcomes",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the summary lacks %q:\n%s", want, stderr)
		}
	}

	code, _, stderr = run(t, "", "replay", "--kafka-brokers", addr, "--results-topic", results, "--topic", results)
	if code != cli.ExitUsage || !strings.Contains(stderr, "is the results topic") {
		t.Errorf("--topic the results topic: exit %d, %s; want %d", code, stderr, cli.ExitUsage)
	}
	if n := records(t, addr, results); n != 6 {
		t.Errorf("the results topic holds %d records, want the 6 written", n)
	}
}
