package bridge

import (
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
)

// An event's life starts at the earlier of its record's timestamp and its
// fetch: a producer clock an hour fast must not make `ttl: 1` last an hour.
func TestAnEventsLifeStartsNoLaterThanItsFetch(t *testing.T) {
	fetched := time.Now()
	cases := []struct {
		scenario   string
		recordTime time.Time
		wantStart  time.Time
		wantAhead  bool
	}{
		{"a timestamp an hour ahead counts from the fetch", fetched.Add(time.Hour), fetched, true},
		{"a timestamp seconds ahead counts from the fetch, within the tolerance", fetched.Add(5 * time.Second), fetched, false},
		{"a timestamp in the past counts from the timestamp", fetched.Add(-time.Minute), fetched.Add(-time.Minute), false},
		{"no timestamp counts from the fetch", time.Time{}, fetched, false},
	}
	for _, tc := range cases {
		t.Run(tc.scenario, func(t *testing.T) {
			start, ahead := event.LifeStart(tc.recordTime, fetched)
			if !start.Equal(tc.wantStart) || ahead != tc.wantAhead {
				t.Errorf("start %v ahead %v, want %v %v", start, ahead, tc.wantStart, tc.wantAhead)
			}
		})
	}

	// Through the fetch stage: ttl 1 on a record stamped an hour ahead
	// expires a second after its fetch.
	m := &Record{Topic: "t", Offset: 1, Time: time.Now().Add(time.Hour),
		Value: []byte(`{"id":"e1","fromAccount":"a","toAccounts":["b"],"msg":"aGk=","ttl":1}`)}
	rec := newRecord(TopicPartition{Topic: "t"}, m, &fetchConfig{limits: event.Limits{MaxMsgBytes: 10240, MaxIDBytes: 256, MaxRecipients: 100, DefaultFromResource: "r"}}, normal, nil)
	if rec.settled != nil {
		t.Fatalf("the record was settled at fetch: %+v", rec.settled)
	}
	if left := time.Until(rec.expiresAt); left > 2*time.Second {
		t.Errorf("ttl 1 on a record stamped an hour ahead expires in %s, want about 1s", left.Round(time.Second))
	}
	if !rec.clockAhead {
		t.Errorf("the record stamped an hour ahead is not marked for the metric")
	}
}
