package event

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendTimeIsAppendFormat(t *testing.T) {
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(2026, 11, 25, 10, 0, 0, 120_999_999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 2, 30, 0, 5_000_000, time.FixedZone("x", 5*3600+1800)),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		times = append(times, time.Unix(r.Int64N(1<<38)-1<<37, r.Int64N(1e9)).In(time.FixedZone("z", r.IntN(50000)-25000)))
	}
	for _, tt := range times {
		if got, want := string(appendTime(nil, tt)), tt.UTC().Format(TimeLayout); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tt, got, want)
		}
	}
}

func BenchmarkAppendTime(b *testing.B) {
	t := time.Date(2026, 11, 25, 10, 0, 0, 120_000_000, time.Local)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendTime(buf[:0], t)
	}
}

func BenchmarkAppendFormat(b *testing.B) {
	t := time.Date(2026, 11, 25, 10, 0, 0, 120_000_000, time.Local)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = t.UTC().AppendFormat(buf[:0], TimeLayout)
	}
}
