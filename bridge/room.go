package bridge

import (
	"context"
	"sync"
)

// pendingOverhead is what the bridge holds for one pending event besides its
// record value: the record and decoded event, its share of the batcher's
// calls and results, and its encoded outcome until the results topic
// acknowledges it. BenchmarkPendingEventBytes measures 1.25 KiB (a 200-byte
// value, one recipient) to 2.0 KiB (10 KiB, five recipients); a decoded
// event's strings are one copy of the value, counted by the value's size.
const pendingOverhead = 2 << 10

// room bounds the events in flight in a lane by count (the lane's share of
// MAX_PENDING_EVENTS) and by bytes (its share of MAX_PENDING_BYTES, each
// event counting its value plus pendingOverhead): a fetcher takes room for
// every record it has fetched, and the writer frees it once the record's
// outcome is written (or the generation ends). Fetching pauses while either
// is spent. An event larger than the whole byte budget counts as the budget,
// so it still passes alone.
type room struct {
	maxEvents int
	maxBytes  int64

	mu      sync.Mutex
	events  int
	bytes   int64
	waiters int
	wake    chan struct{} // closed when room is freed while fetchers wait

	// starved is signalled (without blocking) whenever a fetcher finds no
	// room: what is pending, not the clock, then holds events back, and
	// the batch loop may send its fullest calls (backlog.go).
	starved chan struct{}
}

func newRoom(events int, bytes int64) *room {
	return &room{maxEvents: events, maxBytes: bytes, wake: make(chan struct{}), starved: make(chan struct{}, 1)}
}

// cost is what an event whose record value has size bytes takes of the
// byte budget.
func (r *room) cost(size int) int64 { return min(int64(size)+pendingOverhead, r.maxBytes) }

// take waits for room for a record value of size bytes; it reports false
// when ctx ended first.
func (r *room) take(ctx context.Context, size int) bool {
	c := r.cost(size)
	for {
		r.mu.Lock()
		if r.events < r.maxEvents && r.bytes+c <= r.maxBytes {
			r.events++
			r.bytes += c
			r.mu.Unlock()
			return true
		}
		r.waiters++
		wake := r.wake
		r.mu.Unlock()
		select {
		case r.starved <- struct{}{}:
		default:
		}
		select {
		case <-wake:
		case <-ctx.Done():
			r.mu.Lock()
			r.waiters--
			r.mu.Unlock()
			return false
		}
		r.mu.Lock()
		r.waiters--
		r.mu.Unlock()
	}
}

// free gives back the room of n events of the given bytes (their costs).
func (r *room) free(n int, bytes int64) {
	r.mu.Lock()
	r.events -= n
	r.bytes -= bytes
	if r.waiters > 0 {
		close(r.wake)
		r.wake = make(chan struct{})
	}
	r.mu.Unlock()
}

// held reports the events in flight.
func (r *room) held() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}
