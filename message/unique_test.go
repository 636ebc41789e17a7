package message

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// reference is Unique written the obvious way.
func reference[T Recipient](list []T) []T {
	seen := map[T]bool{}
	var out []T
	for _, v := range list {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func TestUniqueKeepsTheFirstOfEachRecipientInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, ScanMax - 1, ScanMax, ScanMax + 1, 2 * ScanMax, 100, 1000} {
		for _, distinct := range []int{1, 3, n/2 + 1, n + 1, 10 * (n + 1)} {
			accounts := make([]string, n)
			topics := make([]int64, n)
			for i := range n {
				k := rng.IntN(distinct)
				accounts[i], topics[i] = "user-"+strconv.Itoa(k), int64(k)+1
			}
			checkUnique(t, accounts)
			checkUnique(t, topics)
		}
	}
}

func checkUnique[T Recipient](t *testing.T, list []T) {
	t.Helper()
	want := reference(list)
	got := Unique(list)
	if !slices.Equal(got, want) {
		t.Fatalf("Unique(%v) = %v, want %v", list, got, want)
	}
	if len(want) == len(list) && len(list) > 0 && &got[0] != &list[0] {
		t.Fatalf("Unique of a list without repeats is a copy")
	}
	var s Set[T]
	for _, v := range list {
		s.Add(v)
	}
	if !slices.Equal(s.List(), want) || s.Len() != len(want) {
		t.Fatalf("Set of %v holds %v, want %v", list, s.List(), want)
	}
}

func TestAnIndexIsReusedAfterReset(t *testing.T) {
	var x Index[string]
	for round := range 3 {
		var list []string
		for i := range 5 * ScanMax {
			v := fmt.Sprint(round, "-", i)
			if x.Has(list, v) {
				t.Fatalf("round %d: %q found before it was added", round, v)
			}
			list = append(list, v)
			x.Grew(list)
			if !x.Has(list, v) || !x.Has(list, list[0]) {
				t.Fatalf("round %d: %q not found after it was added", round, v)
			}
		}
		if x.Has(list, "0-0") != (round == 0) {
			t.Fatalf("round %d: a recipient of an earlier round is found", round)
		}
		x.Reset()
	}
}

// BenchmarkSet adds n distinct recipients to a Set, as the decoder does
// with a list and the batcher with a call: ScanMax is where hashing starts
// to win (go test -bench Set ./message/).
func BenchmarkSet(b *testing.B) {
	for _, n := range []int{2, 4, 8, 12, 16, 24, 32, 64} {
		accounts := make([]string, n)
		topics := make([]int64, n)
		for i := range n {
			accounts[i] = fmt.Sprintf("user-%06d", i*7919%1000000)
			topics[i] = 9007199254740993 + int64(i)*7919
		}
		b.Run(fmt.Sprintf("accounts/%d", n), func(b *testing.B) { benchSet(b, accounts) })
		b.Run(fmt.Sprintf("topics/%d", n), func(b *testing.B) { benchSet(b, topics) })
	}
}

func benchSet[T Recipient](b *testing.B, list []T) {
	var s Set[T]
	s.list = make([]T, 0, len(list))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	for b.Loop() {
		s.list = s.list[:0]
		s.index.Reset()
		for _, v := range list {
			s.Add(v)
		}
	}
	b.ReportMetric(float64(threadCPU()-start)/float64(b.N*len(list)), "cpu-ns/recipient")
}
