package bridge

import (
	"strings"
	"sync"
	"time"

	"github.com/mimc-bridge/mimc-bridge/event"
)

// Order per key (ORDERED_TOPICS) and one push per id (DEDUP_WINDOW) are
// both decided between fetch and batch, by the generation's waits (what its events wait for):
//
//   - An event of an ordered topic whose record has a key holds its key (its
//     partition and record key) from when it is admitted until its outcome is
//     known, retries included; a later event of the key waits behind it and
//     is admitted when it has its outcome, whatever the status. Events of other
//     keys are not held up, and the events admitted reach the batcher as any
//     other: the same message still merges across keys into one call.
//   - An event with an id of its own is a duplicate when the dedup window
//     holds the id (delivered within DEDUP_WINDOW): its outcome is duplicate,
//     naming the first one's source, and it is not pushed. While a copy of the
//     id is in flight in this member a later copy waits for its outcome: a
//     delivered one makes it a duplicate, any other lets it go (it is pushed).
//
// Waiting events count as pending (they hold their room), so memory stays
// bounded. An event released from waiting goes to its lane's ready list,
// which the lane's batch loop takes when notified; duplicates found when a
// sender finishes an event are written through the senders' output.

// admitState is what a record holds in the generation's waits.
type admitState struct {
	key      []byte // the record's key on an ordered topic; nil: not ordered
	ownID    bool   // the producer gave the id: it counts for dedup
	holdsKey bool   // the key waits for this record's outcome
	holdsID  bool   // copies of the id wait for this record's outcome
	heldAt   time.Time
}

// orderKey is what ORDERED_TOPICS orders by: a partition's record key.
type orderKey struct {
	tp  TopicPartition
	key string
}

// holdQueue is the records waiting, in arrival order, for the one that
// holds a key or an id.
type holdQueue struct{ waiting []*record }

// waits holds what a generation's events wait for.
type waits struct {
	mu     sync.Mutex
	window *dedupWindow // nil: DEDUP_WINDOW is off
	obs    waitsObserver
	keys   map[orderKey]*holdQueue
	ids    map[string]*holdQueue
	ready  [priorities][]*record     // released, for the lane's batch loop
	notify [priorities]chan struct{} // a value when ready or held changed
	held   [priorities]int           // waiting or ready, per lane
	// waitingKey and waitingID are the gauges' share of this generation.
	waitingKey, waitingID int
}

func newWaits(window *dedupWindow, obs waitsObserver) *waits {
	a := &waits{window: window, obs: obs, keys: make(map[orderKey]*holdQueue), ids: make(map[string]*holdQueue)}
	for i := range a.notify {
		a.notify[i] = make(chan struct{}, 1)
	}
	return a
}

// ownID reports whether the producer gave ev its id: an event without one
// has its record's place as id, and is never a duplicate.
func ownID(ev *event.Event, src TopicPartition, offset int64) bool {
	if !strings.HasPrefix(ev.ID, src.Topic) {
		return true
	}
	return ev.ID != (event.Source{Topic: src.Topic, Partition: src.Partition, Offset: offset}).DefaultID()
}

// admit decides what happens to a fetched record before the batcher: it
// reports true when the record goes on to the batch stage (to be pushed, or
// settled: a duplicate carries its outcome), false when it waits for an
// earlier event of its key or a copy of its id in flight.
func (a *waits) admit(rec *record) bool {
	if rec.settled != nil {
		return true
	}
	now := time.Now()
	rec.adm.ownID = a.window != nil && ownID(&rec.ev, rec.tp, rec.offset)
	a.mu.Lock()
	if rec.adm.key != nil {
		k := orderKey{tp: rec.tp, key: string(rec.adm.key)}
		if q, ok := a.keys[k]; ok {
			q.waiting = append(q.waiting, rec)
			rec.adm.heldAt = now
			a.held[rec.prio]++
			a.waitingKey++
			a.mu.Unlock()
			a.obs.orderWaiting(1)
			return false
		}
		a.keys[k] = &holdQueue{}
		rec.adm.holdsKey = true
	}
	of, dup, held := a.checkID(rec, now)
	if held {
		a.held[rec.prio]++
	}
	if dup {
		// It gives its key back at once: nobody waits for a key taken
		// just now.
		a.finishLocked(rec, false, now, nil)
	}
	a.mu.Unlock()
	if dup {
		it := duplicate(rec, of, now)
		rec.settled = &it
	}
	return !held
}

// blocksCall reports whether an event waits for the outcome of one of c's
// records: a later event of its key, or a copy of its id. Such a call is
// not held past its linger for more of its message (backlog.go): the
// records still to read behind it cannot come before it is done.
func (a *waits) blocksCall(c *call) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.waitingKey == 0 && a.waitingID == 0 {
		return false // nothing waits for anyone
	}
	for rec := range recordsOf(c) {
		if a.blocksLocked(rec) {
			return true
		}
	}
	return false
}

// blocksLocked reports whether an event waits for rec's outcome. Call with
// a.mu held.
func (a *waits) blocksLocked(rec *record) bool {
	if rec.adm.holdsKey {
		if q := a.keys[orderKey{tp: rec.tp, key: string(rec.adm.key)}]; q != nil && len(q.waiting) > 0 {
			return true
		}
	}
	if rec.adm.holdsID {
		if q := a.ids[rec.ev.ID]; q != nil && len(q.waiting) > 0 {
			return true
		}
	}
	return false
}

// checkID looks rec's id up: a duplicate (with the source of the delivered
// one), held behind a copy in flight, or let go holding its id. Call with
// a.mu held; the caller counts a record held.
func (a *waits) checkID(rec *record, now time.Time) (of event.Source, dup, held bool) {
	if !rec.adm.ownID {
		return event.Source{}, false, false
	}
	if src, ok := a.window.lookup(rec.ev.ID, now); ok {
		return src, true, false
	}
	if q, ok := a.ids[rec.ev.ID]; ok {
		q.waiting = append(q.waiting, rec)
		rec.adm.heldAt = now
		a.waitingID++
		a.obs.dedupWaiting(1)
		return event.Source{}, false, true
	}
	a.ids[rec.ev.ID] = &holdQueue{}
	rec.adm.holdsID = true
	return event.Source{}, false, false
}

// finished tells the generation's waits that rec has its outcome (delivered or
// not): what waited for it goes on. It returns the outcomes of the copies
// that turned out to be duplicates, for the caller to write.
func (a *waits) finished(rec *record, delivered bool, now time.Time) []outItem {
	if !rec.adm.holdsKey && !rec.adm.holdsID {
		return nil
	}
	a.mu.Lock()
	out := a.finishLocked(rec, delivered, now, nil)
	a.mu.Unlock()
	for i := range a.notify {
		select {
		case a.notify[i] <- struct{}{}:
		default:
		}
	}
	return out
}

// finishLocked releases what rec held, and what the records that become
// duplicates on the way held. Call with a.mu held.
func (a *waits) finishLocked(rec *record, delivered bool, now time.Time, out []outItem) []outItem {
	type finish struct {
		rec       *record
		delivered bool
	}
	work := []finish{{rec, delivered}}
	for len(work) > 0 {
		f := work[len(work)-1]
		work = work[:len(work)-1]
		r := f.rec
		if r.adm.holdsID {
			r.adm.holdsID = false
			q := a.ids[r.ev.ID]
			switch {
			case f.delivered:
				src := event.Source{Topic: r.tp.Topic, Partition: r.tp.Partition, Offset: r.offset}
				a.obs.dedupEvicted(a.window.add(r.ev.ID, src, now, now))
				delete(a.ids, r.ev.ID)
				for _, c := range q.waiting {
					a.unholdID()
					a.held[c.prio]--
					out = append(out, duplicate(c, src, now))
					work = append(work, finish{rec: c})
				}
			case len(q.waiting) == 0:
				delete(a.ids, r.ev.ID)
			default:
				next := q.waiting[0]
				q.waiting = q.waiting[1:]
				a.unholdID()
				next.adm.holdsID = true
				a.ready[next.prio] = append(a.ready[next.prio], next)
			}
		}
		if r.adm.holdsKey {
			r.adm.holdsKey = false
			k := orderKey{tp: r.tp, key: string(r.adm.key)}
			q := a.keys[k]
			if len(q.waiting) == 0 {
				delete(a.keys, k)
				continue
			}
			next := q.waiting[0]
			q.waiting[0] = nil
			q.waiting = q.waiting[1:]
			a.waitingKey--
			a.obs.orderWaiting(-1)
			a.obs.orderWaited(now.Sub(next.adm.heldAt))
			next.adm.holdsKey = true
			of, dup, held := a.checkID(next, now)
			switch {
			case held:
			case dup:
				a.held[next.prio]--
				out = append(out, duplicate(next, of, now))
				work = append(work, finish{rec: next})
			default:
				a.ready[next.prio] = append(a.ready[next.prio], next)
			}
		}
	}
	return out
}

// unholdID counts a record that no longer waits for a copy of its id.
func (a *waits) unholdID() {
	a.waitingID--
	a.obs.dedupWaiting(-1)
}

// takeReady returns the records released for lane prio, which stop
// counting as held.
func (a *waits) takeReady(prio priority, dst []*record) []*record {
	a.mu.Lock()
	defer a.mu.Unlock()
	dst = append(dst, a.ready[prio]...)
	clear(a.ready[prio])
	a.ready[prio] = a.ready[prio][:0]
	a.held[prio] -= len(dst)
	return dst
}

// holding reports the records of lane prio that wait or are ready.
func (a *waits) holding(prio priority) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.held[prio]
}

// abandon drops recs, which get no outcome in this generation, and every
// record waiting behind them for their key or id, which cannot go before
// them: none is sent, none is committed, and the next owner fetches them
// again. It returns how many records waited behind them.
func (a *waits) abandon(recs []*record) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	work := append([]*record(nil), recs...)
	for len(work) > 0 {
		r := work[len(work)-1]
		work = work[:len(work)-1]
		if r.adm.holdsKey {
			r.adm.holdsKey = false
			k := orderKey{tp: r.tp, key: string(r.adm.key)}
			for _, c := range a.keys[k].waiting {
				// A record waiting for its key holds nothing yet.
				a.held[c.prio]--
				a.waitingKey--
				a.obs.orderWaiting(-1)
				abandonSpan(c.span)
				n++
			}
			delete(a.keys, k)
		}
		if r.adm.holdsID {
			r.adm.holdsID = false
			for _, c := range a.ids[r.ev.ID].waiting {
				a.held[c.prio]--
				a.unholdID()
				abandonSpan(c.span)
				n++
				work = append(work, c) // it may hold its key
			}
			delete(a.ids, r.ev.ID)
		}
	}
	return n
}

// end takes what this generation left waiting off the gauges.
func (a *waits) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.obs.orderWaiting(-a.waitingKey)
	a.obs.dedupWaiting(-a.waitingID)
	a.waitingKey, a.waitingID = 0, 0
	if a.window != nil {
		a.obs.dedupIDs(a.window.len())
	}
}

// duplicate returns the outcome of rec, a copy of an id delivered from of.
// It took nothing of its kind's send budget: a duplicate never reaches the
// batcher.
func duplicate(rec *record, of event.Source, now time.Time) outItem {
	out := event.Outcome{
		ID: rec.ev.ID, Status: event.Duplicate, Kind: rec.ev.Kind,
		Source:      event.Source{Topic: rec.tp.Topic, Partition: rec.tp.Partition, Offset: rec.offset},
		DuplicateOf: &of, ReceivedAt: rec.receivedAt, CompletedAt: now,
	}
	return *settle(rec, &out)
}
