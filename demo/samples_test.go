package demo

import (
	"errors"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
	"github.com/mimc-bridge/mimc-bridge/message"
)

func TestEverySampleDecodesAsItsExpectedStatusSays(t *testing.T) {
	samples := Samples(200, Options{Refused: true, Seed: 1, Prefix: "t"})
	if len(samples) != 200 {
		t.Fatalf("got %d samples, want 200", len(samples))
	}
	kinds := map[message.Kind]int{}
	whats := map[string]bool{}
	ids := map[string]bool{}
	for _, s := range samples {
		if ids[s.ID] {
			t.Errorf("id %s repeats", s.ID)
		}
		ids[s.ID] = true
		whats[s.What] = true
		ev, err := event.Decode(s.Value, event.Source{Topic: "mimc.push"}, event.Limits{})
		var rej *event.RejectError
		switch {
		case s.Want == event.Rejected && !errors.As(err, &rej):
			t.Errorf("%s (%s) decodes, want rejected: %s", s.ID, s.What, s.Value)
		case s.Want != event.Rejected && err != nil:
			t.Errorf("%s (%s) is rejected: %v: %s", s.ID, s.What, err, s.Value)
		case err == nil:
			kinds[ev.Kind]++
			if ev.ID != s.ID {
				t.Errorf("decoded id %q, want %q", ev.ID, s.ID)
			}
			if (s.Want == event.Failed) != (ev.FromAccount == RefusedAccount) {
				t.Errorf("%s: want %s from %s", s.ID, s.Want, ev.FromAccount)
			}
		}
	}
	if kinds[event.P2P] == 0 || kinds[event.P2T] == 0 {
		t.Errorf("kinds %v: want both p2p and p2t", kinds)
	}
	for _, w := range []string{"p2p, one toAccount", "p2p, toAccounts list", "p2p, base64 msg", "p2t, topicId as a number",
		"p2t, topicId as a string", "p2t, topicIds: numbers and strings", "refused by MIMC (code 403)", "invalid: not JSON"} {
		if !whats[w] {
			t.Errorf("no sample shows %q", w)
		}
	}
}

func TestWithoutRefusedNoSampleFails(t *testing.T) {
	for _, s := range Samples(100, Options{Seed: 2, Prefix: "t"}) {
		if s.Want == event.Failed {
			t.Fatalf("%s (%s) is expected to fail without a refusing sandbox", s.ID, s.What)
		}
	}
}

func TestPercentileUsesTheNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, c := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 50, 3 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 10, 1 * time.Millisecond},
	} {
		if got := Percentile(c.in, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
}

func TestUrgentAndExpiringSamples(t *testing.T) {
	now := time.Now()
	urgent, expiring := 0, 0
	for _, s := range Samples(100, Options{Urgent: true, Expiring: true, Seed: 3, Prefix: "t"}) {
		if s.Want == event.Rejected {
			continue
		}
		ev, err := event.Decode(s.Value, event.Source{Topic: "mimc.push"}, event.Limits{})
		if err != nil {
			t.Fatalf("%s (%s) is rejected: %v", s.ID, s.What, err)
		}
		expired := event.IsExpired(ev.ExpiresAt(now.Add(-s.Age), 0), now)
		if expired != (s.Want == event.Expired) {
			t.Errorf("%s (%s): expired %v at arrival, want %s", s.ID, s.What, expired, s.Want)
		}
		if s.Urgent {
			urgent++
			if ev.TTL != UrgentTTL {
				t.Errorf("urgent %s has ttl %d", s.ID, ev.TTL)
			}
		}
		if expired {
			expiring++
		}
	}
	if urgent != 5 || expiring != 5 {
		t.Errorf("%d urgent and %d expiring samples in 100, want 5 of each", urgent, expiring)
	}
	for _, s := range Samples(100, Options{Seed: 3, Prefix: "t"}) {
		if s.Urgent || s.Age != 0 || s.Want == event.Expired {
			t.Fatalf("%s (%s) is urgent or expiring without the options", s.ID, s.What)
		}
	}
}

func TestConversationsAndDuplicates(t *testing.T) {
	samples := Samples(200, Options{Conversations: true, Duplicates: true, Seed: 4, Prefix: "t"})
	turns := map[string][]int{} // per conversation key, the turns in produce order
	copies := 0
	for i, s := range samples {
		switch {
		case s.Turn > 0:
			ev, err := event.Decode(s.Value, event.Source{Topic: "mimc.push"}, event.Limits{})
			if err != nil {
				t.Fatalf("%s (%s) is rejected: %v", s.ID, s.What, err)
			}
			if ev.Msg != ChatMsg(s.Turn) || s.Key == "" || s.RecordKey() != s.Key {
				t.Errorf("%s: message %q, key %q, want %q keyed by its conversation", s.ID, ev.Msg, s.Key, ChatMsg(s.Turn))
			}
			turns[s.Key] = append(turns[s.Key], s.Turn)
		case s.Want == event.Duplicate:
			copies++
			orig := samples[i-2]
			if s.ID != orig.ID || string(s.Value) != string(orig.Value) || s.RecordKey() != orig.RecordKey() || orig.Want != event.Delivered {
				t.Errorf("%s: not a copy of the delivered %s (%s)", s.ID, orig.ID, orig.What)
			}
		}
	}
	if len(turns) != Conversations {
		t.Errorf("%d conversations, want %d", len(turns), Conversations)
	}
	for key, ts := range turns {
		for j, turn := range ts {
			if turn != j+1 {
				t.Errorf("conversation %s: turns %v, want 1, 2, ... in produce order", key, ts)
				break
			}
		}
	}
	if copies != 10 {
		t.Errorf("%d copies in 200 samples, want one per cycle of 20", copies)
	}
}
