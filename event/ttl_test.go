package event

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

func TestATTLIsAPositiveWholeNumberOfSecondsUpToThirtyDays(t *testing.T) {
	const base = `{"id":"e1","fromAccount":"a","toAccount":"b","msg":"m"`
	for _, tt := range []struct {
		scenario string
		ttl      string // the JSON literal
		want     int    // 0: rejected
		reason   string
	}{
		{"one second is the shortest", `1`, 1, ""},
		{"thirty days is the longest", `2592000`, MaxTTL, ""},
		{"null counts as absent", `null`, 0, ""},
		{"zero is refused", `0`, 0, "ttl: must be at least 1 second, got \"0\""},
		{"a negative ttl is refused", `-5`, 0, "ttl: must be at least 1 second"},
		{"a hugely negative ttl is refused as negative", `-99999999999999999999999`, 0, "ttl: must be at least 1 second"},
		{"a fraction is refused", `1.5`, 0, "ttl: must be a whole number of seconds, got \"1.5\""},
		{"a whole number written with a fraction is refused", `60.0`, 0, "ttl: must be a whole number of seconds"},
		{"an exponent is refused", `6e1`, 0, "ttl: must be a whole number of seconds"},
		{"a string is refused", `"60"`, 0, "ttl: must be a number of seconds, not a string"},
		{"a boolean is refused", `true`, 0, "ttl: must be a number of seconds"},
		{"an object is refused", `{"s":1}`, 0, "ttl: must be a number of seconds"},
		{"one second past thirty days is refused", `2592001`, 0, "ttl: at most 2592000 seconds (30 days)"},
		{"a number beyond 64 bits is refused as too long", `99999999999999999999999`, 0, "ttl: at most 2592000 seconds"},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			ev, err := Decode([]byte(base+`,"ttl":`+tt.ttl+`}`), testSrc, testLim)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ev.TTL != tt.want {
					t.Errorf("TTL %d, want %d", ev.TTL, tt.want)
				}
				checkRoundTrip(t, ev)
				return
			}
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("accepted as %+v", ev)
			}
			if !strings.Contains(re.Reason, tt.reason) || re.ID != "e1" {
				t.Errorf("rejected as %q (id %q), want %q (id e1)", re.Reason, re.ID, tt.reason)
			}
		})
	}
	t.Run("a ttl given twice is refused", func(t *testing.T) {
		_, err := Decode([]byte(base+`,"ttl":5,"ttl":6}`), testSrc, testLim)
		if err == nil || !strings.Contains(err.Error(), "duplicate field ttl") {
			t.Errorf("err %v", err)
		}
	})
}

func TestTheNormalizedEventCarriesItsTTL(t *testing.T) {
	ev := Event{ID: "e", Content: message.Content{Kind: P2P, FromAccount: "a", FromResource: "r", Msg: "m"}, Recipients: message.Recipients{ToAccounts: []string{"b"}}, TTL: 30}
	if got := string(ev.AppendJSON(nil)); !strings.HasSuffix(got, `"bizType":"","ttl":30}`) {
		t.Errorf("AppendJSON = %s", got)
	}
	ev.TTL = 0
	if got := string(ev.AppendJSON(nil)); strings.Contains(got, "ttl") {
		t.Errorf("an event without ttl writes one: %s", got)
	}
}

func TestAnEventExpiresAtItsRecordTimePlusItsTTLOrTheDefault(t *testing.T) {
	rec := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		scenario string
		ttl      int
		def      time.Duration
		want     time.Time
	}{
		{"its own ttl", 3, 0, rec.Add(3 * time.Second)},
		{"its own ttl wins over the default", 3, time.Hour, rec.Add(3 * time.Second)},
		{"the default without a ttl of its own", 0, 90 * time.Second, rec.Add(90 * time.Second)},
		{"never without either", 0, 0, time.Time{}},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			ev := Event{TTL: tt.ttl}
			got := ev.ExpiresAt(rec, tt.def)
			if !got.Equal(tt.want) {
				t.Fatalf("ExpiresAt = %v, want %v", got, tt.want)
			}
			if tt.want.IsZero() {
				if IsExpired(got, rec.Add(1000*time.Hour)) {
					t.Error("an event without expiry expired")
				}
				return
			}
			if IsExpired(got, tt.want.Add(-time.Millisecond)) || !IsExpired(got, tt.want) {
				t.Error("expiry is not at ExpiresAt")
			}
		})
	}
	if got, want := ExpiredError(rec.Add(1500*time.Millisecond)), "expired at 2026-11-25T10:00:01.500Z before it was sent"; got != want {
		t.Errorf("ExpiredError = %q, want %q", got, want)
	}
}

func TestSubsetKeepsOnlyTheRecipientsAtThePositionsGiven(t *testing.T) {
	p2p := Event{ID: "e", Content: message.Content{Kind: P2P, FromAccount: "a", Msg: "m"}, Recipients: message.Recipients{ToAccounts: []string{"x", "y", "z"}}, TTL: 9}
	p2t := Event{ID: "t", Content: message.Content{Kind: P2T, FromAccount: "a", Msg: "m"}, Recipients: message.Recipients{TopicIDs: []int64{7, 8, 9}}}
	if got := p2p.Subset([]int{0, 2}); !reflect.DeepEqual(got.ToAccounts, []string{"x", "z"}) || got.TTL != 9 || got.ID != "e" {
		t.Errorf("p2p subset %+v", got)
	}
	if got := p2t.Subset([]int{1}); !reflect.DeepEqual(got.TopicIDs, []int64{8}) || got.ToAccounts != nil {
		t.Errorf("p2t subset %+v", got)
	}
	if got := p2p.Subset([]int{0, 1, 2}); got != &p2p {
		t.Error("every position should give the event itself")
	}
	if !reflect.DeepEqual(p2p.ToAccounts, []string{"x", "y", "z"}) || !reflect.DeepEqual(p2t.TopicIDs, []int64{7, 8, 9}) {
		t.Error("Subset changed the event")
	}
}

func TestTheStatusOfAnEvent(t *testing.T) {
	for _, tt := range []struct {
		delivered, failed, expired int
		want                       string
	}{
		{3, 0, 0, Delivered},
		{2, 1, 0, Partial},
		{2, 0, 1, Partial},
		{1, 1, 1, Partial},
		{0, 2, 0, Failed},
		{0, 1, 1, Failed}, // one reached MIMC: not "never sent"
		{0, 0, 2, Expired},
	} {
		if got := Status(tt.delivered, tt.failed, tt.expired); got != tt.want {
			t.Errorf("Status(%d, %d, %d) = %s, want %s", tt.delivered, tt.failed, tt.expired, got, tt.want)
		}
	}
}

func TestAnEventExpiredBeforeItWasSent(t *testing.T) {
	ev := Event{ID: "sale-1", Content: message.Content{Kind: P2T, FromAccount: "shop", Msg: "m"}, Recipients: message.Recipients{TopicIDs: []int64{9007199254740993, 7}}, TTL: 2}
	rec := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	o := NewExpired(&ev, testSrc, ev.ExpiresAt(rec, 0), rec.Add(3*time.Second), rec.Add(3*time.Second))
	want := "expired at 2026-11-25T10:00:02.000Z before it was sent"
	if o.Status != Expired || o.Error != want || o.Event != &ev || o.Attempts != 0 || o.Source != testSrc {
		t.Errorf("outcome %+v", o)
	}
	if !reflect.DeepEqual(o.Recipients, []Recipient{{TopicID: "9007199254740993", Error: want}, {TopicID: "7", Error: want}}) {
		t.Errorf("recipients %+v", o.Recipients)
	}
	back, err := ParseOutcome(o.AppendJSON(nil))
	if err != nil || back.Event == nil || back.Event.TTL != 2 {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}
