package bridge

import (
	"math/rand"
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	tp := TopicPartition{Topic: "in", Partition: 0}
	tests := []struct {
		name  string
		added []int64
		done  []int64
		want  int64 // -1: nothing committable
	}{
		{"nothing done commits nothing", []int64{0, 1, 2}, nil, -1},
		{"a done prefix commits past its last record", []int64{0, 1, 2}, []int64{0, 1}, 2},
		{"a gap holds the commit back", []int64{0, 1, 2}, []int64{0, 2}, 1},
		{"the first record undone commits nothing", []int64{5, 6}, []int64{6}, -1},
		{"offsets with holes commit past the last done", []int64{10, 14, 20}, []int64{20, 14, 10}, 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker()
			for _, o := range tt.added {
				tr.Add(tp, o, time.Time{})
			}
			for _, o := range tt.done {
				if !tr.Done(tp, o) {
					t.Fatalf("Done(%d) = false", o)
				}
			}
			got, ok := tr.Committable()[tp]
			if tt.want == -1 {
				if ok {
					t.Fatalf("committable %d, want nothing", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("committable %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTrackerCommittedIsNotOfferedAgain(t *testing.T) {
	tp := TopicPartition{Topic: "in", Partition: 1}
	tr := NewTracker()
	tr.Add(tp, 0, time.Time{})
	tr.Done(tp, 0)
	c := tr.Committable()
	tr.Committed(c)
	if again := tr.Committable(); len(again) != 0 {
		t.Fatalf("offered again: %v", again)
	}
	if tr.Done(tp, 7) {
		t.Fatal("Done of an unknown offset reported true")
	}
}

func TestTrackerRandomOrderNeverCommitsPastAnUndoneRecord(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tp := TopicPartition{Topic: "in", Partition: 2}
	tr := NewTracker()
	const n = 5000
	for i := int64(0); i < n; i++ {
		tr.Add(tp, i*2, time.Time{})
	}
	order := rng.Perm(n)
	done := make([]bool, n)
	last := int64(-1)
	for _, i := range order {
		tr.Done(tp, int64(i)*2)
		done[i] = true
		if c, ok := tr.Committable()[tp]; ok {
			if c < last {
				t.Fatalf("commit moved back: %d < %d", c, last)
			}
			last = c
			for j := int64(0); j*2 < c; j++ {
				if !done[j] {
					t.Fatalf("commit %d passes undone offset %d", c, j*2)
				}
			}
		}
	}
	if last != 2*(n-1)+1 {
		t.Fatalf("final commit %d, want %d", last, 2*(n-1)+1)
	}
}

// The bound a commit carries is the fetch time of the oldest record still in
// flight: it moves on only when that record is done.
func TestTrackerOldestFetchIsTheOldestRecordStillInFlight(t *testing.T) {
	tp := TopicPartition{Topic: "in", Partition: 3}
	tr := NewTracker()
	if _, ok := tr.OldestFetch(tp); ok {
		t.Fatal("an oldest fetch with nothing added")
	}
	base := time.Unix(1764607842, 0)
	for i := range int64(4) {
		tr.Add(tp, 10+i, base.Add(time.Duration(i)*time.Second))
	}
	check := func(want time.Time, ok bool) {
		t.Helper()
		got, gotOK := tr.OldestFetch(tp)
		if gotOK != ok || !got.Equal(want) {
			t.Fatalf("OldestFetch = %v, %v; want %v, %v", got, gotOK, want, ok)
		}
	}
	tr.Done(tp, 11) // done out of order: the oldest is still 10
	check(base, true)
	tr.Done(tp, 10) // 10 and 11 done: 12 is the oldest
	check(base.Add(2*time.Second), true)
	tr.Done(tp, 13)
	tr.Done(tp, 12)
	check(time.Time{}, false)
}
