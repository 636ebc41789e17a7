// Package batching groups push events whose content is equal into MIMC
// p2p/more or p2t/more calls, and fans the results of each call back to the
// events it carries.
//
// It is pure logic: no I/O, no goroutines, no timers. One goroutine owns a
// Batcher (Add, Expired, UntilNext, Flush, Open); any goroutine may resolve
// emitted calls (Call.Resolve) and read Pending.
//
// The shape follows Benthos's batch policy: Add reports what is ready,
// UntilNext tells the owner when to call Expired, Flush empties everything.
package batching

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// Event is the batcher's part of one input record to deliver: the caller's
// Data, which calls give back (Call.EventOf, Resolve), and the results of its
// recipients. The event's content and recipients are the caller's, given to
// Add: the batcher keeps no copy of them in the event. The caller allocates
// it and must not copy it while it is pending.
type Event[T any] struct {
	Data T // owned by the caller; batching never looks at it

	unique    message.Recipients
	results   []Result
	remaining atomic.Int32 // unique recipients without a result yet
	attempts  atomic.Int32
}

// Unique returns the de-duplicated recipients in order of first appearance.
// It may share memory with Recipients. It is set by Add.
func (e *Event[T]) Unique() message.Recipients { return e.unique }

// Results returns the results of the event's recipients: Results()[i] is the
// result of the i-th recipient of Unique(). It is complete once Resolve has
// returned the event.
func (e *Event[T]) Results() []Result { return e.results }

// Attempts returns the largest Result.Attempts over the event's recipients,
// that is the most attempts any of the calls that carried it took.
func (e *Event[T]) Attempts() int { return int(e.attempts.Load()) }

func (e *Event[T]) noteAttempts(n int) {
	if n > 1<<30 {
		n = 1 << 30
	}
	for {
		cur := e.attempts.Load()
		if int32(n) <= cur || e.attempts.CompareAndSwap(cur, int32(n)) {
			return
		}
	}
}

// Result is the outcome for one recipient of a call.
type Result struct {
	PacketID string // set on success
	Err      error  // set on failure
	Attempts int
}

// Call is one MIMC request: one content to up to MaxRecipients recipients.
type Call[T any] struct {
	Content    *message.Content   // shared by every call of the content; do not mutate
	Recipients message.Recipients // of Content.Kind, unique within the call, at most MaxRecipients
	FirstAt    time.Time          // time of the call's first event (linger starts there)

	b    *Batcher[T]
	g    *group[T] // while open
	body int       // estimated request body size
	// fan-back: recipient i belongs to evs[i], at index idx[i] of its Unique().
	evs []*Event[T]
	idx []int32
	// accounts or topics tells the recipients of the open call apart once
	// it holds more than message.ScanMax (nil: scanning; nil once emitted).
	accounts *message.Index[string]
	topics   *message.Index[int64]

	prev, next *Call[T]  // linger list, while open, in order of due
	due        time.Time // when Expired looks at it: FirstAt + Linger, later while Hold keeps it open
	events     int       // events it carries (one counted in each call it spans)
	resolved   atomic.Bool
	reason     Reason // why it was emitted
	held       bool   // Hold kept it open past its linger

	acc1 [1]string
	id1  [1]int64
	ev1  [1]*Event[T]
	idx1 [1]int32
}

// Reason reports why the call was emitted.
func (c *Call[T]) Reason() Reason { return c.reason }

// EventOf returns the event that recipient i of the call belongs to.
func (c *Call[T]) EventOf(i int) *Event[T] { return c.evs[i] }

// Resolve records the results of the call's recipients: results[i] is the
// result of Recipients[i]. A single result applies to every recipient (a
// whole-call failure). Any other count is a programming error: every
// recipient then fails with an error saying so, so that no event is left
// pending.
//
// Resolve returns the events that this call completed (it gave them their
// last outstanding result); over the life of an event, exactly one Resolve
// returns it. The returned slice belongs to the call and is never changed
// again. Only the first Resolve of a call counts; later ones return nil.
//
// Resolve is safe to call concurrently with Resolve on other calls and with
// the Batcher owner's methods.
func (c *Call[T]) Resolve(results ...Result) []*Event[T] {
	if !c.resolved.CompareAndSwap(false, true) {
		return nil
	}
	n := len(c.evs)
	if len(results) != n && len(results) != 1 {
		results = []Result{{Err: fmt.Errorf("batching: %d results for a call of %d recipients", len(results), n)}}
	}
	one := len(results) != n
	done := 0
	for i := 0; i < n; i++ {
		r := &results[0]
		if !one {
			r = &results[i]
		}
		ev := c.evs[i]
		c.evs[i] = nil
		ev.results[c.idx[i]] = *r
		if r.Attempts > 0 {
			ev.noteAttempts(r.Attempts)
		}
		if ev.remaining.Add(-1) == 0 {
			c.evs[done] = ev
			done++
		}
	}
	if done > 0 {
		c.b.pending.Add(-int64(done))
	}
	return c.evs[:done:done]
}

// Sizer measures a call's request body, whose format the batcher does not
// know: a call of content c costs Empty(c), plus Account(a) or TopicID(id)
// for each of its recipients. Account("") and TopicID(0) are the least a
// recipient can cost. mimc.BodySize measures MIMC's requests.
type Sizer interface {
	Empty(c *message.Content) int
	Account(a string) int
	TopicID(id int64) int
}

// Config configures a Batcher. Zero values take the defaults.
type Config[T any] struct {
	MaxRecipients    int              // per call, default 100
	Linger           time.Duration    // since the call's first event, default 50ms
	MaxBodyBytes     int              // safe request body size as Size measures it, default 512 KiB
	Size             Sizer            // default: bodies are not measured, MaxBodyBytes never applies
	MaxPendingEvents int              // events added and not yet complete, default 10000
	Now              func() time.Time // default time.Now
	// KindMaxRecipients lowers MaxRecipients for a kind (message.P2P,
	// message.P2T): a member whose share of the quota is below one full call a
	// second sends smaller calls. Absent, 0 or above MaxRecipients:
	// MaxRecipients.
	KindMaxRecipients map[message.Kind]int
	// DistinctRecipients says that every event's Recipients are distinct
	// already (event.Decode makes them so, with message.Set): Add takes
	// them as they are instead of looking for repeats. A repeat would then
	// be pushed once per copy.
	DistinctRecipients bool
	// Hold, when set, is asked about an open call whose linger has passed
	// (and again each Linger after, while it holds it): the call stays
	// open, to fill, until the time Hold returns; a zero time, or one not
	// after now, sends it. Full calls never wait for it. See hold.go.
	Hold func(c *Call[T], now time.Time) time.Time
}

// Defaults.
const (
	DefaultMaxRecipients    = 100
	DefaultLinger           = 50 * time.Millisecond
	DefaultMaxBodyBytes     = 512 << 10
	DefaultMaxPendingEvents = 10000
)

// Validate reports the first invalid field of c. Zero values are valid: they
// stand for the defaults.
func (c Config[T]) Validate() error {
	switch {
	case c.MaxRecipients < 0:
		return fmt.Errorf("batching: MaxRecipients must not be negative, got %d", c.MaxRecipients)
	case c.Linger < 0:
		return fmt.Errorf("batching: Linger must not be negative, got %s", c.Linger)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("batching: MaxBodyBytes must not be negative, got %d", c.MaxBodyBytes)
	case c.MaxPendingEvents < 0:
		return fmt.Errorf("batching: MaxPendingEvents must not be negative, got %d", c.MaxPendingEvents)
	case c.MaxRecipients > maxMaxRecipients:
		return fmt.Errorf("batching: MaxRecipients must be at most %d, got %d", maxMaxRecipients, c.MaxRecipients)
	}
	return nil
}

func (c Config[T]) withDefaults() Config[T] {
	if c.MaxRecipients == 0 {
		c.MaxRecipients = DefaultMaxRecipients
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxPendingEvents == 0 {
		c.MaxPendingEvents = DefaultMaxPendingEvents
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Size == nil {
		c.Size = unmeasured{}
	}
	return c
}

// unmeasured is the Sizer of a batcher that does not limit body sizes.
type unmeasured struct{}

func (unmeasured) Empty(*message.Content) int { return 0 }
func (unmeasured) Account(string) int         { return 0 }
func (unmeasured) TopicID(int64) int          { return 0 }

// maxMaxRecipients keeps a call's indexes within uint16.
const maxMaxRecipients = 1 << 15

// ErrFull is returned by Add when MaxPendingEvents events are pending.
var ErrFull = errors.New("batching: pending event limit reached")

// Batcher groups events into calls. Its methods other than Pending must be
// called from one goroutine.
type Batcher[T any] struct {
	cfg     Config[T]
	pending atomic.Int64

	seed    maphash.Seed
	hash    func(*message.Content) uint64 // content hash; a hook so tests can force collisions
	groups  map[uint64]*group[T]          // open contents by hash, chained on collision
	minCost [2]int                        // the least a recipient costs: [0] an account, [1] a topic id
	perCall [2]int                        // the most recipients in a call: [0] p2p, [1] p2t

	head, tail *Call[T] // open calls by due (Expired looks at them in that order)
	open       int
	openEvents int        // events of the open calls (hold.go)
	byFill     []*Call[T] // scratch for EmitFullest
	last       time.Time  // latest FirstAt given, so FirstAt never goes back

	// scratch for Add, reused
	resBuf []Result
	// free indexes of emitted calls, kept with their tables
	freeAccounts []*message.Index[string]
	freeTopics   []*message.Index[int64]
	// groups are carved from chunks: one allocation for groupChunk
	// contents; a chunk is freed once no call of its contents is referenced.
	groupBuf []group[T]
}

const groupChunk = 16

// group is the state of one content while it has open calls.
type group[T any] struct {
	content  message.Content
	hash     uint64
	next     *group[T] // next group with the same hash
	overhead int       // body of a call with no recipient
	p2t      bool
	calls    []*Call[T] // open calls, oldest first
	callsBuf [2]*Call[T]
	first    Call[T] // the first call of the group, allocated with it
	used     bool    // first is taken
}

// New returns a Batcher, or an error naming the first invalid field of cfg.
func New[T any](cfg Config[T]) (*Batcher[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Batcher[T]{
		cfg:    cfg.withDefaults(),
		seed:   maphash.MakeSeed(),
		groups: make(map[uint64]*group[T]),
	}
	b.hash = b.hashContent
	b.minCost = [2]int{b.cfg.Size.Account(""), b.cfg.Size.TopicID(0)}
	b.perCall = [2]int{b.cfg.maxRecipients(message.P2P), b.cfg.maxRecipients(message.P2T)}
	return b, nil
}

// recipient is an account (p2p) or a topic id (p2t). The batcher's code is
// the same for both; listOf, indexOf, freeOf and costOf are where they
// differ.
type recipient = message.Recipient

// listOf returns the list of rs that holds recipients of type T.
func listOf[R recipient](rs *message.Recipients) *[]R {
	if p, ok := any(&rs.ToAccounts).(*[]R); ok {
		return p
	}
	return any(&rs.TopicIDs).(*[]R)
}

// indexOf returns the index of call c for recipients of type R.
func indexOf[R recipient, T any](c *Call[T]) **message.Index[R] {
	if p, ok := any(&c.accounts).(**message.Index[R]); ok {
		return p
	}
	return any(&c.topics).(**message.Index[R])
}

// costOf is what r adds to a call's body.
func costOf[R recipient](size Sizer, r *R) int {
	switch r := any(r).(type) {
	case *string:
		return size.Account(*r)
	case *int64:
		return size.TopicID(*r)
	}
	panic("batching: a recipient is an account or a topic id")
}

// maxRecipients is MaxRecipients, or the kind's own when lower.
func (c Config[T]) maxRecipients(kind message.Kind) int {
	if m := c.KindMaxRecipients[kind]; m > 0 && m < c.MaxRecipients {
		return m
	}
	return c.MaxRecipients
}

// Pending reports the events added and not yet complete. It is safe to call
// from any goroutine.
func (b *Batcher[T]) Pending() int { return int(b.pending.Load()) }

// Open reports the calls not yet emitted.
func (b *Batcher[T]) Open() int { return b.open }

// Add adds ev, of the given content and recipients, and appends to dst the calls that became ready (full by
// recipient count or by body size), returning dst. An event with more unique
// recipients than MaxRecipients spans several calls; so does an event one of
// whose recipients is already in the content's open call.
//
// Add returns ErrFull, without adding ev, when Pending() >= MaxPendingEvents.
// An event with no recipient of its kind, one with recipients of the other
// kind, of an unknown kind, or still pending from an earlier Add is an error.
//
// The content is copied into the calls; the recipients are read during Add
// only (Unique may share their memory), so they must not change while ev is
// pending.
func (b *Batcher[T]) Add(ev *Event[T], content *message.Content, recipients message.Recipients, dst []*Call[T]) ([]*Call[T], error) {
	switch {
	case ev == nil:
		return dst, errors.New("batching: nil event")
	case content == nil:
		return dst, errors.New("batching: event has no content")
	case content.Kind == message.P2P:
		return add[string](b, ev, content, &recipients, dst)
	case content.Kind == message.P2T:
		return add[int64](b, ev, content, &recipients, dst)
	}
	return dst, fmt.Errorf("batching: unknown kind %q", content.Kind)
}

func add[R recipient, T any](b *Batcher[T], ev *Event[T], content *message.Content, recipients *message.Recipients, dst []*Call[T]) ([]*Call[T], error) {
	rs := *listOf[R](recipients)
	switch {
	case len(rs) == 0:
		return dst, errors.New("batching: event has no recipient")
	case len(rs) != recipients.Len():
		return dst, fmt.Errorf("batching: a %s event has recipients of the other kind", content.Kind)
	case len(rs) > 1<<30:
		return dst, errors.New("batching: too many recipients")
	case ev.remaining.Load() > 0:
		return dst, errors.New("batching: event is already pending")
	}
	if b.Pending() >= b.cfg.MaxPendingEvents {
		return dst, ErrFull
	}

	unique := rs
	if !b.cfg.DistinctRecipients {
		unique = message.Unique(rs)
	}
	ev.unique = message.Recipients{}
	*listOf[R](&ev.unique) = unique
	ev.results = b.takeResults(len(unique))
	ev.attempts.Store(0)
	ev.remaining.Store(int32(len(unique)))
	b.pending.Add(1)

	g := b.group(content)
	minCost, perCall := b.minCost[0], b.perCall[0]
	if g.p2t {
		minCost, perCall = b.minCost[1], b.perCall[1]
	}
	var now time.Time
	haveNow := false
	for i, r := range unique {
		cost := costOf(b.cfg.Size, &unique[i])
		var c *Call[T]
		for j := 0; j < len(g.calls); {
			cand := g.calls[j]
			if (*indexOf[R](cand)).Has(*listOf[R](&cand.Recipients), r) {
				j++
				continue
			}
			if cand.body+cost > b.cfg.MaxBodyBytes {
				// Check before appending: this call cannot take r, so it
				// goes now; a lone recipient still gets a call of its own.
				dst = b.emit(cand, dst, ReasonSize)
				continue
			}
			c = cand
			break
		}
		if c == nil {
			if !haveNow {
				now, haveNow = b.now(), true
			}
			c = b.newCall(g, now)
		}
		switch n := addTo(c, ev, int32(i), r, cost); {
		case n >= perCall:
			dst = b.emit(c, dst, ReasonFull)
		case c.body+minCost > b.cfg.MaxBodyBytes:
			dst = b.emit(c, dst, ReasonSize)
		}
	}
	if len(g.calls) == 0 {
		b.drop(g)
	}
	return dst, nil
}

// Expired emits the calls whose linger has passed at cfg.Now(), appending
// them to dst.
func (b *Batcher[T]) Expired(dst []*Call[T]) []*Call[T] {
	if b.head == nil {
		return dst
	}
	now := b.now()
	for b.head != nil && !now.Before(b.head.due) {
		c := b.head
		if b.cfg.Hold != nil {
			if until := b.cfg.Hold(c, now); until.After(now) {
				due := now.Add(b.cfg.Linger)
				if until.Before(due) {
					due = until
				}
				b.postpone(c, due)
				continue
			}
		}
		g := c.g
		reason := ReasonLinger
		if c.held {
			reason = ReasonHold
		}
		dst = b.emit(c, dst, reason)
		if len(g.calls) == 0 {
			b.drop(g)
		}
	}
	return dst
}

// UntilNext reports how long until the earliest linger deadline of an open
// call (zero: Expired has work now); ok is false when no call is open. The
// owner waits that long (or for the next event) and then calls Expired.
func (b *Batcher[T]) UntilNext() (d time.Duration, ok bool) {
	if b.head == nil {
		return 0, false
	}
	d = b.head.due.Sub(b.cfg.Now())
	if d < 0 {
		d = 0
	}
	return d, true
}

// Flush emits every open call, oldest first, appending them to dst.
func (b *Batcher[T]) Flush(dst []*Call[T]) []*Call[T] {
	for b.head != nil {
		dst = b.emit(b.head, dst, ReasonFlush)
	}
	// The map keeps its capacity, which is bounded by the most contents
	// open at once (at most MaxPendingEvents), not by how many came and went.
	clear(b.groups)
	return dst
}

// now returns cfg.Now(), but never earlier than a time it returned before,
// so that the linger list stays in deadline order.
func (b *Batcher[T]) now() time.Time {
	t := b.cfg.Now()
	if t.Before(b.last) {
		return b.last
	}
	b.last = t
	return t
}

// hashContent hashes every field of c (message.Content.Hash).
func (b *Batcher[T]) hashContent(c *message.Content) uint64 { return c.Hash(b.seed) }

// group finds the open group of content c or makes one.
func (b *Batcher[T]) group(c *message.Content) *group[T] {
	h := b.hash(c)
	head := b.groups[h]
	for g := head; g != nil; g = g.next {
		if g.content == *c {
			return g
		}
	}
	if len(b.groupBuf) == 0 {
		b.groupBuf = make([]group[T], groupChunk)
	}
	g := &b.groupBuf[0]
	b.groupBuf = b.groupBuf[1:]
	g.content, g.hash, g.next, g.p2t = *c, h, head, c.Kind == message.P2T
	g.calls = g.callsBuf[:0]
	g.overhead = b.cfg.Size.Empty(c)
	b.groups[h] = g
	return g
}

// drop forgets g, which has no open call left.
func (b *Batcher[T]) drop(g *group[T]) {
	g.calls = nil
	if b.groups[g.hash] == g {
		if g.next == nil {
			delete(b.groups, g.hash)
		} else {
			b.groups[g.hash] = g.next
		}
		g.next = nil
		return
	}
	for p := b.groups[g.hash]; p != nil; p = p.next {
		if p.next == g {
			p.next = g.next
			g.next = nil
			return
		}
	}
}

func (b *Batcher[T]) newCall(g *group[T], now time.Time) *Call[T] {
	var c *Call[T]
	if !g.used {
		g.used = true
		c = &g.first
	} else {
		c = new(Call[T])
	}
	c.Content = &g.content
	c.FirstAt = now
	c.due = now.Add(b.cfg.Linger)
	c.events = 0
	c.reason, c.held = 0, false
	c.b = b
	c.g = g
	c.body = g.overhead
	if g.p2t {
		c.Recipients.TopicIDs = c.id1[:0]
	} else {
		c.Recipients.ToAccounts = c.acc1[:0]
	}
	c.evs = c.ev1[:0]
	c.idx = c.idx1[:0]
	g.calls = append(g.calls, c)
	c.prev = b.tail
	if b.tail != nil {
		b.tail.next = c
	} else {
		b.head = c
	}
	b.tail = c
	b.open++
	return c
}

// emit removes c from the open calls, for reason, and appends it to dst.
// The caller drops c's group if it has no open call left.
func (b *Batcher[T]) emit(c *Call[T], dst []*Call[T], reason Reason) []*Call[T] {
	c.reason = reason
	g := c.g
	for j, o := range g.calls {
		if o == c {
			copy(g.calls[j:], g.calls[j+1:])
			g.calls[len(g.calls)-1] = nil
			g.calls = g.calls[:len(g.calls)-1]
			break
		}
	}
	b.unlink(c)
	c.prev, c.next, c.g = nil, nil, nil
	if c.accounts != nil {
		b.freeAccounts = release(b.freeAccounts, c.accounts)
		c.accounts = nil
	}
	if c.topics != nil {
		b.freeTopics = release(b.freeTopics, c.topics)
		c.topics = nil
	}
	b.open--
	b.openEvents -= c.events
	return append(dst, c)
}

// smallCall is the capacity a call's lists grow to first, from the one
// recipient they hold inline.
const smallCall = 8

// maxFreeIndexes bounds the indexes kept for reuse, of each kind.
const maxFreeIndexes = 256

// freeOf returns the free indexes of type R.
func freeOf[R recipient, T any](b *Batcher[T]) *[]*message.Index[R] {
	if p, ok := any(&b.freeAccounts).(*[]*message.Index[R]); ok {
		return p
	}
	return any(&b.freeTopics).(*[]*message.Index[R])
}

// take returns an index from free, or a new one.
func take[R recipient](free *[]*message.Index[R]) *message.Index[R] {
	if n := len(*free); n > 0 {
		x := (*free)[n-1]
		(*free)[n-1] = nil
		*free = (*free)[:n-1]
		return x
	}
	return new(message.Index[R])
}

// release empties x and keeps it in free for another call.
func release[R recipient](free []*message.Index[R], x *message.Index[R]) []*message.Index[R] {
	if len(free) >= maxFreeIndexes {
		return free
	}
	x.Reset()
	return append(free, x)
}

// addTo appends to call c recipient r, the idx-th unique recipient of ev,
// and returns the call's number of recipients.
func addTo[R recipient, T any](c *Call[T], ev *Event[T], idx int32, r R, cost int) int {
	b := c.b
	list := listOf[R](&c.Recipients)
	if n := len(*list); n == cap(*list) {
		// 1 (inline), then 8, then the most a call can hold.
		size := b.cfg.MaxRecipients
		if n < smallCall && size > smallCall {
			size = smallCall
		}
		*list = grow(*list, size)
		c.evs = grow(c.evs, size)
		c.idx = grow(c.idx, size)
	}
	if n := len(c.evs); n == 0 || c.evs[n-1] != ev {
		c.events++
		b.openEvents++
	}
	*list = append(*list, r)
	c.evs = append(c.evs, ev)
	c.idx = append(c.idx, idx)
	c.body += cost
	n := len(*list)
	if n > message.ScanMax && n < b.cfg.MaxRecipients { // a full call is emitted: no more lookups
		ix := indexOf[R](c)
		if *ix == nil {
			*ix = take(freeOf[R](b))
		}
		(*ix).Grew(*list)
	}
	return n
}

// grow returns s with a capacity of size.
func grow[T any](s []T, size int) []T {
	ns := make([]T, len(s), size)
	copy(ns, s)
	return ns
}

// takeResults returns a zeroed []Result of length n, carved from a shared
// chunk for small events so that adding an event rarely allocates.
func (b *Batcher[T]) takeResults(n int) []Result {
	const chunk = 512
	if n > chunk/8 {
		return make([]Result, n)
	}
	if len(b.resBuf) < n {
		b.resBuf = make([]Result, chunk)
	}
	r := b.resBuf[:n:n]
	b.resBuf = b.resBuf[n:]
	return r
}

// unlink takes c out of the linger list, leaving its own links as they are.
func (b *Batcher[T]) unlink(c *Call[T]) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		b.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		b.tail = c.prev
	}
}
