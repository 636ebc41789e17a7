package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// designExample is the outcome example of DESIGN.md.
const designExample = `{"id": "order-4711-shipped", "status": "delivered", "kind": "p2p",
 "recipients": [{"toAccount": "alice", "packetId": "ab12-17"},
                {"toAccount": "bob", "packetId": "ab12-18"}],
 "attempts": 1, "source": {"topic": "mimc.push", "partition": 3, "offset": 1042},
 "receivedAt": "2026-11-25T10:00:00.120Z", "completedAt": "2026-11-25T10:00:00.190Z"}`

func at(ms int) time.Time {
	return time.Date(2026, 11, 25, 10, 0, 0, ms*int(time.Millisecond), time.UTC)
}

func TestTheDesignExampleIsWrittenInItsShape(t *testing.T) {
	o := Outcome{ID: "order-4711-shipped", Status: Delivered, Kind: P2P,
		Recipients: []Recipient{{ToAccount: "alice", PacketID: "ab12-17"}, {ToAccount: "bob", PacketID: "ab12-18"}},
		Attempts:   1, Source: testSrc,
		// Another zone and sub-millisecond digits: written in UTC, to the millisecond.
		ReceivedAt:  at(120).Add(999 * time.Microsecond).In(time.FixedZone("CST", 8*3600)),
		CompletedAt: at(190)}
	var compact strings.Builder
	for _, f := range strings.Fields(designExample) {
		compact.WriteString(f)
	}
	if got := string(o.AppendJSON(nil)); got != compact.String() {
		t.Errorf("got\n%s\nwant\n%s", got, compact.String())
	}
	parsed, err := ParseOutcome([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	o.ReceivedAt = at(120)
	if !reflect.DeepEqual(parsed, o) {
		t.Errorf("parsed\n%+v\nwant\n%+v", parsed, o)
	}
}

// refOutcome mirrors Outcome for encoding/json, times as text.
type refOutcome struct {
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Kind        string          `json:"kind,omitempty"`
	Recipients  []Recipient     `json:"recipients,omitempty"`
	Attempts    int             `json:"attempts"`
	Source      Source          `json:"source"`
	DuplicateOf *Source         `json:"duplicateOf,omitempty"`
	ReceivedAt  string          `json:"receivedAt"`
	CompletedAt string          `json:"completedAt"`
	Error       string          `json:"error,omitempty"`
	Event       json.RawMessage `json:"event,omitempty"`
	Input       string          `json:"input,omitempty"`
}

func sampleOutcomes() map[string]Outcome {
	ev := Event{ID: "e<1>", Content: message.Content{Kind: P2T, FromAccount: "a&b", FromResource: "r", Msg: "m\u2028\x01\"\\", MsgType: "", BizType: "B", IsStore: message.StoreFalse}, Recipients: message.Recipients{TopicIDs: []int64{9223372036854775807, 1}}}
	return map[string]Outcome{
		"a delivered p2p outcome": {ID: "x", Status: Delivered, Kind: P2P, Attempts: 2, Source: testSrc, ReceivedAt: at(1), CompletedAt: at(2),
			Recipients: []Recipient{{ToAccount: "alice", PacketID: "p1"}}},
		"a partial p2t outcome with codes and errors": {ID: "y", Status: Partial, Kind: P2T, Attempts: 3, Source: testSrc, ReceivedAt: at(1), CompletedAt: at(999),
			Recipients: []Recipient{{TopicID: "9223372036854775807", PacketID: "p"}, {TopicID: "2", Code: 500, Message: "internal <error>", Error: "timeout\n"}}},
		"a failed outcome with its event": {ID: "e<1>", Status: Failed, Kind: P2T, Attempts: 5, Source: testSrc, ReceivedAt: at(1), CompletedAt: at(3),
			Error: "retries ran out", Event: &ev, Recipients: []Recipient{{TopicID: "1", Code: 429}}},
		"an expired outcome with its event": {ID: "e<1>", Status: Expired, Kind: P2T, Source: testSrc, ReceivedAt: at(1), CompletedAt: at(3),
			Error: ExpiredError(at(2)), Event: func() *Event { e := ev; e.TTL = 3; return &e }(),
			Recipients: []Recipient{{TopicID: "9223372036854775807", Error: ExpiredError(at(2))}, {TopicID: "1", Error: ExpiredError(at(2))}}},
		"a rejected outcome with invalid UTF-8 input": NewRejected(Source{Topic: "t", Partition: 0, Offset: -1}, []byte("{\"x\":\"\xff\xfe\"}"),
			&RejectError{Reason: "value is not valid UTF-8"}, at(5), at(6)),
		"a duplicate outcome naming the first one's source": {ID: "x", Status: Duplicate, Kind: P2P, Source: testSrc, ReceivedAt: at(1), CompletedAt: at(2),
			DuplicateOf: &Source{Topic: "other\"topic", Partition: 7, Offset: 1 << 40}},
		"an empty outcome": {},
	}
}

func TestAppendJSONIsWhatJSONMarshalGives(t *testing.T) {
	for name, o := range sampleOutcomes() {
		t.Run(name, func(t *testing.T) {
			ref := refOutcome{ID: o.ID, Status: o.Status, Kind: string(o.Kind), Recipients: o.Recipients, Attempts: o.Attempts,
				Source: o.Source, DuplicateOf: o.DuplicateOf, ReceivedAt: o.ReceivedAt.UTC().Format(TimeLayout), CompletedAt: o.CompletedAt.UTC().Format(TimeLayout),
				Error: o.Error, Input: o.Input}
			if o.Event != nil {
				ref.Event, _ = json.Marshal(o.Event)
			}
			want, err := json.Marshal(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.AppendJSON(nil); string(got) != string(want) {
				t.Errorf("AppendJSON\n%s\njson.Marshal\n%s", got, want)
			}
			if got, err := json.Marshal(o); err != nil || string(got) != string(want) {
				t.Errorf("json.Marshal(Outcome)\n%s", got)
			}
		})
	}
}

func TestOutcomesRoundTrip(t *testing.T) {
	for name, o := range sampleOutcomes() {
		t.Run(name, func(t *testing.T) {
			b := o.AppendJSON(nil)
			back, err := ParseOutcome(b)
			if err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if again := back.AppendJSON(nil); string(again) != string(b) {
				t.Errorf("re-encoded\n%s\nwant\n%s", again, b)
			}
			if o.Event != nil && !reflect.DeepEqual(*back.Event, *o.Event) {
				t.Errorf("event %+v, want %+v", *back.Event, *o.Event)
			}
		})
	}
}

func TestParseOutcomeRefusesBadRecords(t *testing.T) {
	for _, bad := range []string{`[]`, `{"receivedAt":"yesterday"}`, `{"event":{"fromAccount":"a"}}`, `{`} {
		if _, err := ParseOutcome([]byte(bad)); err == nil {
			t.Errorf("%s is accepted", bad)
		}
	}
}

func TestARejectedOutcome(t *testing.T) {
	long := strings.Repeat("a", MaxInputBytes-1) + "é" + "tail" // é straddles the 1 KiB cut
	value := []byte(long)
	_, err := Decode(value, testSrc, testLim)
	var re *RejectError
	if !errors.As(err, &re) {
		t.Fatalf("Decode: %v, want a *RejectError", err)
	}
	o := NewRejected(testSrc, value, re, at(1), at(2))
	if o.Status != Rejected || o.ID != testSrc.DefaultID() || o.Error != re.Reason || o.Attempts != 0 {
		t.Errorf("%+v", o)
	}
	if len(o.Input) != MaxInputBytes-1 || !utf8.ValidString(o.Input) {
		t.Errorf("input of %d bytes, valid UTF-8 %v", len(o.Input), utf8.ValidString(o.Input))
	}
	short := NewRejected(testSrc, []byte(`{"id":"k"}`), &RejectError{ID: "k", Reason: "fromAccount: required"}, at(1), at(2))
	if short.ID != "k" || short.Input != `{"id":"k"}` {
		t.Errorf("%+v", short)
	}
}

func BenchmarkDecode(b *testing.B) {
	value := []byte(`{"id": "order-4711-shipped", "fromAccount": "shop", "fromResource": "srv1",
 "toAccounts": ["alice", "bob"], "msg": "Your order shipped", "msgType": "",
 "bizType": "ORDER", "isStore": true}`)
	lim := Limits{MaxMsgBytes: 10240, MaxIDBytes: 256, MaxRecipients: 10000, DefaultFromResource: "mimc-bridge"}
	b.ReportAllocs()
	b.SetBytes(int64(len(value)))
	start := time.Now()
	for b.Loop() {
		if _, err := Decode(value, testSrc, lim); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func BenchmarkOutcomeAppendJSON(b *testing.B) {
	o := Outcome{ID: "order-4711-shipped", Status: Delivered, Kind: P2P, Attempts: 1, Source: testSrc,
		ReceivedAt: at(120), CompletedAt: at(190)}
	for i := range 100 {
		o.Recipients = append(o.Recipients, Recipient{ToAccount: "user-" + strconv.Itoa(i), PacketID: "ab12-" + strconv.Itoa(i)})
	}
	buf := make([]byte, 0, 8<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = o.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkOutcomeJSONMarshal(b *testing.B) {
	o := Outcome{ID: "order-4711-shipped", Status: Delivered, Kind: P2P, Attempts: 1, Source: testSrc,
		ReceivedAt: at(120), CompletedAt: at(190)}
	for i := range 100 {
		o.Recipients = append(o.Recipients, Recipient{ToAccount: "user-" + strconv.Itoa(i), PacketID: "ab12-" + strconv.Itoa(i)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(o); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEveryOutcomeReadsBackAsItWasWritten(t *testing.T) {
	for name, o := range sampleOutcomes() {
		t.Run(name, func(t *testing.T) {
			got, err := ParseOutcome(o.AppendJSON(nil))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, o) {
				t.Errorf("read back\n%+v\nwant\n%+v", got, o)
			}
		})
	}
}
