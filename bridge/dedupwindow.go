package bridge

import (
	"context"
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"go.uber.org/zap"

	"github.com/mimc-bridge/mimc-bridge/event"
)

// dedupWindow remembers the ids this group delivered within DEDUP_WINDOW,
// at most DEDUP_MAX_IDS of them, and the source of each one's delivered
// outcome: an event whose id it holds is a duplicate and is not pushed. It
// lives as long as the member (its generations share it) and is filled by
// the outcomes this member writes and by the delivered outcomes every member
// wrote, read from the results topic at each generation start.
//
// Memory: an id costs dedupEntrySize bytes in a ring of DEDUP_MAX_IDS entries
// (oldest first, so the oldest is forgotten first) and 4 bytes per slot of an
// open-addressing index of at least twice as many slots: 32 bytes an id at
// the default 1,000,000 (24 B + 8 B of index), 31 MiB in all, whatever the
// ids' length, since an id is kept as a 64-bit hash (seeded per process). A
// different id with the same hash would be taken for a duplicate: with 1M
// ids remembered, about once in 1.8×10^13 events. Both arrays live outside
// the Go heap (an anonymous mapping where the system has one): they hold no
// pointers, the collector never scans them, and they do not raise the heap
// target that GOGC multiplies. Pages are taken as the ring fills.
type dedupWindow struct {
	mu        sync.Mutex
	windowSec int64 // DEDUP_WINDOW in seconds, rounded up
	seed      maphash.Seed
	ring      []dedupEntry // fixed capacity
	head, n   int          // the oldest entry's position, and how many there are
	index     []uint32     // ring position + 1; 0 is an empty slot
	mask      uint64
	// sources interns the input partitions the entries name.
	sources   []TopicPartition
	sourceIdx map[TopicPartition]uint32
}

// dedupEntry is one remembered id.
type dedupEntry struct {
	h      uint64 // maphash of the id
	offset int64  // of the delivered event's record
	at     uint32 // unix seconds of the delivered outcome
	source uint32 // index into sources: the record's topic and partition
}

// dedupEntrySize is what one entry of the ring costs.
const dedupEntrySize = int(unsafe.Sizeof(dedupEntry{}))

// newDedupWindow returns a window of maxIDs ids, or nil when window is 0
// (off).
func newDedupWindow(window time.Duration, maxIDs int) *dedupWindow {
	if window <= 0 || maxIDs <= 0 {
		return nil
	}
	slots := 1 << bits.Len(uint(2*maxIDs-1)) // a power of two, at least twice maxIDs
	slots = max(slots, 16)
	ringMem := allocOffHeap(maxIDs * dedupEntrySize)
	indexMem := allocOffHeap(slots * 4)
	w := &dedupWindow{
		windowSec: int64((window + time.Second - 1) / time.Second),
		seed:      maphash.MakeSeed(),
		ring:      unsafe.Slice((*dedupEntry)(unsafe.Pointer(unsafe.SliceData(ringMem))), maxIDs),
		index:     unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(indexMem))), slots),
		mask:      uint64(slots - 1),
		sourceIdx: make(map[TopicPartition]uint32),
	}
	runtime.AddCleanup(w, func(mems [2][]byte) {
		freeOffHeap(mems[0])
		freeOffHeap(mems[1])
	}, [2][]byte{ringMem, indexMem})
	return w
}

// bytes reports the memory the window's arrays take once full.
func (w *dedupWindow) bytes() int { return len(w.ring)*dedupEntrySize + len(w.index)*4 }

// lookup returns the source of id's delivered outcome when the window holds
// it at now.
func (w *dedupWindow) lookup(id string, now time.Time) (event.Source, bool) {
	h := maphash.String(w.seed, id)
	w.mu.Lock()
	defer w.mu.Unlock()
	_, pos, ok := w.find(h)
	if !ok || w.expired(&w.ring[pos], now.Unix()) {
		return event.Source{}, false
	}
	e := &w.ring[pos]
	tp := w.sources[e.source]
	return event.Source{Topic: tp.Topic, Partition: tp.Partition, Offset: e.offset}, true
}

// add remembers that id was delivered from src at at. An id the window
// holds already keeps its first source. It returns how many ids were
// forgotten before their time to make room.
func (w *dedupWindow) add(id string, src event.Source, at, now time.Time) (evicted int) {
	nowSec := now.Unix()
	if nowSec-at.Unix() > w.windowSec {
		return 0 // already out of the window
	}
	h := maphash.String(w.seed, id)
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.n > 0 && w.expired(&w.ring[w.head], nowSec) {
		w.dropOldest()
	}
	tp := TopicPartition{Topic: src.Topic, Partition: src.Partition}
	si, ok := w.sourceIdx[tp]
	if !ok {
		si = uint32(len(w.sources))
		w.sources = append(w.sources, tp)
		w.sourceIdx[tp] = si
	}
	entry := dedupEntry{h: h, offset: src.Offset, at: uint32(at.Unix()), source: si}
	slot, pos, ok := w.find(h)
	if ok {
		if w.expired(&w.ring[pos], nowSec) {
			// Delivered again after its window: a new first.
			w.ring[pos] = entry
		}
		return 0
	}
	if w.n == len(w.ring) {
		w.dropOldest()
		evicted++
		// Dropping shifts entries of the index back: h's free slot may
		// have moved.
		slot, _, _ = w.find(h)
	}
	pos = (w.head + w.n) % len(w.ring)
	w.ring[pos] = entry
	w.n++
	w.index[slot] = uint32(pos + 1)
	return evicted
}

// len reports the ids the window holds (some may have expired).
func (w *dedupWindow) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *dedupWindow) expired(e *dedupEntry, nowSec int64) bool {
	return nowSec-int64(e.at) > w.windowSec
}

// find returns the index slot of hash h and its ring position, or the
// empty slot where it would go.
func (w *dedupWindow) find(h uint64) (slot uint64, pos int, ok bool) {
	for i := h & w.mask; ; i = (i + 1) & w.mask {
		v := w.index[i]
		if v == 0 {
			return i, -1, false
		}
		if w.ring[v-1].h == h {
			return i, int(v - 1), true
		}
	}
}

// dropOldest forgets the oldest entry.
func (w *dedupWindow) dropOldest() {
	slot, _, _ := w.find(w.ring[w.head].h)
	w.removeSlot(slot)
	w.ring[w.head] = dedupEntry{}
	w.head = (w.head + 1) % len(w.ring)
	w.n--
}

// removeSlot empties slot i of the index and shifts back the entries after
// it that would no longer be found (linear probing's deletion).
func (w *dedupWindow) removeSlot(i uint64) {
	for {
		w.index[i] = 0
		j := i
		for {
			j = (j + 1) & w.mask
			v := w.index[j]
			if v == 0 {
				return
			}
			home := w.ring[v-1].h & w.mask
			// The entry at j stays unless its home lies cyclically outside
			// (i, j]: then a probe from home would stop at the hole at i.
			if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
				w.index[i] = v
				i = j
				break
			}
		}
	}
}

// DeliveredReader reads the group's delivered ids from the results topic
// (kafka.Scanner implements it).
type DeliveredReader interface {
	// ReadDelivered calls fn for each signed delivered outcome of the group
	// written since since (or after from[p] on results partition p, when
	// later) and returns where each results partition ended. It blocks for
	// the read and returns when ctx ends.
	ReadDelivered(ctx context.Context, since time.Time, from map[int]int64, fn func(Delivered)) (map[int]int64, DeliveredStats, error)
}

// loadWindow reads into the dedup window the ids the group delivered
// within DEDUP_WINDOW that this member has not read yet: other members'
// outcomes (copies may land in any partition), and after a restart its own.
// A failed read is logged: copies of the ids not read are pushed again.
func (p *pipeline) loadWindow(ctx context.Context, log *zap.Logger, obs *metricsObserver) {
	if p.window == nil || p.delivered == nil {
		return
	}
	now := time.Now()
	since := now.Add(-p.cfg.dedupWindow - p.cfg.progress.clockSkew)
	evicted := 0
	ends, stats, err := p.delivered.ReadDelivered(ctx, since, p.windowFrom, func(d Delivered) {
		evicted += p.window.add(d.ID, event.Source{Topic: d.Source.Topic, Partition: d.Source.Partition, Offset: d.Offset}, d.At, now)
	})
	obs.windowLoaded(stats)
	obs.dedupEvicted(evicted)
	obs.dedupIDs(p.window.len())
	if err != nil {
		log.Warn("dedup window: reading the delivered ids from the results topic failed; copies of the ids not read are pushed again",
			zap.Int("records_read", stats.Read), zap.Duration("took", stats.Took), zap.Error(err))
		return
	}
	p.windowFrom = ends
	log.Info("dedup window: delivered ids read from the results topic",
		zap.Int("delivered_ids", stats.Found), zap.Int("records_read", stats.Read), zap.Int("ignored_unsigned_or_forged", stats.Ignored),
		zap.Int("remembered", p.window.len()), zap.Int("forgotten_for_room", evicted), zap.Duration("took", stats.Took))
}
