package batching

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mimc-bridge/mimc-bridge/message"
)

// source yields the choices of a random stream: from a seeded generator in
// the property test, from the fuzz bytes in FuzzBatcher.
type source interface {
	// intn returns a number in [0, n); ok is false once the stream has ended.
	intn(n int) int
	done() bool
}

type randSource struct {
	r    *rand.Rand
	left int
}

func (s *randSource) intn(n int) int { s.left--; return s.r.IntN(n) }
func (s *randSource) done() bool     { return s.left <= 0 }

type byteSource struct{ b []byte }

func (s *byteSource) intn(n int) int {
	if len(s.b) == 0 {
		return 0
	}
	v := int(s.b[0])
	s.b = s.b[1:]
	if n > 256 && len(s.b) > 0 {
		v = v<<8 | int(s.b[0])
		s.b = s.b[1:]
	}
	return v % n
}
func (s *byteSource) done() bool { return len(s.b) == 0 }

var (
	streamContents = func() []message.Content {
		base := message.Content{Kind: message.P2P, FromAccount: "shop", FromResource: "srv1", Msg: "Your order shipped", BizType: "ORDER"}
		cs := []message.Content{base}
		c := base
		c.IsStore = message.StoreTrue
		cs = append(cs, c)
		c.IsStore = message.StoreFalse
		cs = append(cs, c)
		c = base
		c.Msg = "<b>\"escaped\"</b>\n\x01\xff\u2028 é"
		cs = append(cs, c)
		c = base
		c.Kind = message.P2T
		cs = append(cs, c)
		c.FromResource = ""
		cs = append(cs, c)
		return cs
	}()
	p2pPool = func() []string {
		pool := []string{"alice", "bob", "<&>", "é", "\x01\"q\"", "a-rather-long-account-name-0123456789"}
		for c := 'a'; c <= 'z'; c++ {
			pool = append(pool, string(c), string(c)+string(c))
		}
		return pool
	}()
	p2tPool = func() []int64 {
		pool := []int64{1<<63 - 1, 9007199254740993}
		for i := range 40 {
			pool = append(pool, int64(i*i*37+1))
		}
		return pool
	}()
)

type streamPair struct {
	ev  *testEvent
	idx int32
}

type stream struct {
	t       testing.TB
	src     source
	b       *testBatcher
	clk     *fakeClock
	cfg     testConfig
	events  []*testEvent
	open    []*testCall           // emitted, not yet resolved
	placed  map[streamPair]int    // (event, unique index) → calls that carried it
	want    map[streamPair]Result // result given by Resolve
	done    map[*testEvent]int    // times Resolve returned the event
	pending int
}

func runStream(t testing.TB, src source) {
	s := &stream{
		t:      t,
		src:    src,
		clk:    &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)},
		placed: map[streamPair]int{},
		want:   map[streamPair]Result{},
		done:   map[*testEvent]int{},
	}
	maxRecipients := 1 + src.intn(8)
	if src.intn(3) == 0 {
		maxRecipients = 1 + src.intn(60)
	}
	s.cfg = testConfig{
		MaxRecipients:    maxRecipients,
		Linger:           10 * time.Millisecond,
		MaxPendingEvents: 1 + src.intn(40),
		Size:             jsonSize{},
		Now:              s.clk.Now,
	}
	switch src.intn(3) {
	case 0:
		s.cfg.MaxBodyBytes = 280 + src.intn(160)
	case 1:
		s.cfg.MaxBodyBytes = 300 + src.intn(600)
	}
	b, err := New(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.b = b
	s.cfg = b.cfg
	if src.intn(4) == 0 {
		// Few hashes: every content shares its hash with others.
		b.hash = func(c *message.Content) uint64 { return uint64(len(c.FromResource) % 2) }
	}

	for !src.done() {
		switch op := src.intn(16); {
		case op < 8:
			s.add()
		case op < 10:
			s.clk.Advance(time.Duration(src.intn(4)) * 5 * time.Millisecond)
		case op < 12:
			s.expired()
		case op < 13:
			s.emitted(b.Flush(nil), "Flush")
			s.checkEmpty()
		case op < 15:
			s.resolveSome(false)
		default:
			s.untilNext()
		}
	}
	s.emitted(b.Flush(nil), "Flush")
	s.checkEmpty()
	s.resolveSome(true)
	s.checkFinal()
}

func (s *stream) add() {
	c := streamContents[s.src.intn(len(streamContents))]
	n := 1 + s.src.intn(min(3*s.cfg.MaxRecipients, 80))
	var rs message.Recipients
	if c.Kind == message.P2T {
		rs.TopicIDs = make([]int64, n)
		for i := range rs.TopicIDs {
			rs.TopicIDs[i] = p2tPool[s.src.intn(len(p2tPool))]
		}
	} else {
		rs.ToAccounts = make([]string, n)
		for i := range rs.ToAccounts {
			rs.ToAccounts[i] = p2pPool[s.src.intn(len(p2pPool))]
		}
	}
	ev := newEvent(&c, rs)
	before := s.b.Open()
	calls, err := addEvent(s.b, ev, nil)
	if errors.Is(err, ErrFull) {
		if s.pending < s.cfg.MaxPendingEvents {
			s.t.Fatalf("ErrFull with %d pending, limit %d", s.pending, s.cfg.MaxPendingEvents)
		}
		if len(calls) != 0 || s.b.Open() != before {
			s.t.Fatalf("a refused event changed the batcher")
		}
		return
	}
	if err != nil {
		s.t.Fatalf("Add: %v", err)
	}
	if s.pending >= s.cfg.MaxPendingEvents {
		s.t.Fatalf("Add accepted an event with %d pending, limit %d", s.pending, s.cfg.MaxPendingEvents)
	}
	s.pending++
	s.events = append(s.events, ev)
	var want []string
	seen := map[string]bool{}
	for _, r := range names(rs) {
		if !seen[r] {
			seen[r] = true
			want = append(want, r)
		}
	}
	if got := names(ev.Unique()); !slices.Equal(got, want) || len(ev.Results()) != len(want) {
		s.t.Fatalf("Unique() = %q, want %q", got, want)
	}
	s.emitted(calls, "Add")
}

func (s *stream) expired() {
	now := s.clk.Now()
	calls := s.b.Expired(nil)
	for _, c := range calls {
		if now.Before(c.FirstAt.Add(s.cfg.Linger)) {
			s.t.Fatalf("Expired emitted a call before its deadline")
		}
	}
	s.emitted(calls, "Expired")
	if d, ok := s.b.UntilNext(); ok && d <= 0 {
		s.t.Fatalf("after Expired a call is still due (UntilNext = %v)", d)
	}
}

func (s *stream) untilNext() {
	d, ok := s.b.UntilNext()
	if ok != (s.b.Open() > 0) {
		s.t.Fatalf("UntilNext ok = %v with %d open calls", ok, s.b.Open())
	}
	if d < 0 || d > s.cfg.Linger {
		s.t.Fatalf("UntilNext = %v, linger %v", d, s.cfg.Linger)
	}
}

// emitted checks calls that the batcher just gave out.
func (s *stream) emitted(calls []*testCall, by string) {
	for _, c := range calls {
		n := c.Recipients.Len()
		if n == 0 || n > s.cfg.MaxRecipients {
			s.t.Fatalf("%s: call of %d recipients, max %d", by, n, s.cfg.MaxRecipients)
		}
		if len(c.evs) != n || len(c.idx) != n || c.accounts != nil || c.topics != nil {
			s.t.Fatalf("%s: call fan-back has %d/%d entries for %d recipients", by, len(c.evs), len(c.idx), n)
		}
		ct := c.Content
		if (ct.Kind == message.P2T) != (len(c.Recipients.TopicIDs) == n) {
			s.t.Fatalf("%s: a %s call has recipients %+v", by, ct.Kind, c.Recipients)
		}
		size := s.cfg.Size
		body := size.Empty(ct)
		for _, id := range c.Recipients.TopicIDs {
			body += size.TopicID(id)
		}
		for _, a := range c.Recipients.ToAccounts {
			body += size.Account(a)
		}
		seen := map[string]bool{}
		for i, r := range names(c.Recipients) {
			if seen[r] {
				s.t.Fatalf("%s: call names %q twice: %q", by, r, names(c.Recipients))
			}
			seen[r] = true
			ev := c.evs[i]
			if *ev.Data.Content != *ct {
				s.t.Fatalf("%s: call of %+v carries an event of %+v", by, *ct, *ev.Data.Content)
			}
			idx := c.idx[i]
			if u := names(ev.Unique()); u[idx] != r {
				s.t.Fatalf("%s: recipient %q fans back to %q", by, r, u[idx])
			}
			p := streamPair{ev, idx}
			s.placed[p]++
			if s.placed[p] != 1 {
				s.t.Fatalf("%s: recipient %q of an event is in %d calls", by, r, s.placed[p])
			}
		}
		if body != c.body {
			s.t.Fatalf("%s: body estimate %d, want %d", by, c.body, body)
		}
		if n > 1 && body > s.cfg.MaxBodyBytes {
			s.t.Fatalf("%s: call of %d recipients has a body of %d, max %d", by, n, body, s.cfg.MaxBodyBytes)
		}
		s.open = append(s.open, c)
	}
}

func (s *stream) checkEmpty() {
	if s.b.Open() != 0 || len(s.b.groups) != 0 || s.b.head != nil || s.b.tail != nil {
		s.t.Fatalf("after Flush: %d open, %d groups", s.b.Open(), len(s.b.groups))
	}
	if _, ok := s.b.UntilNext(); ok {
		s.t.Fatalf("after Flush UntilNext reports an open call")
	}
}

// resolveSome resolves some of the emitted calls (all of them if all), in
// random order, some with per-recipient results, some with one result.
func (s *stream) resolveSome(all bool) {
	for len(s.open) > 0 {
		if !all && s.src.intn(3) == 0 {
			return
		}
		i := s.src.intn(len(s.open))
		c := s.open[i]
		s.open[i] = s.open[len(s.open)-1]
		s.open = s.open[:len(s.open)-1]

		type fan struct {
			ev  *testEvent
			idx int32
		}
		fans := make([]fan, c.Recipients.Len())
		for j := range fans {
			fans[j] = fan{c.evs[j], c.idx[j]}
		}
		var results []Result
		switch s.src.intn(3) {
		case 0:
			results = []Result{{Err: errors.New("whole call"), Attempts: 1 + s.src.intn(4)}}
		default:
			for j := range c.Recipients.Len() {
				r := Result{PacketID: fmt.Sprint("pk", j), Attempts: 1 + s.src.intn(4)}
				if s.src.intn(5) == 0 {
					r = Result{Err: fmt.Errorf("recipient %d", j), Attempts: r.Attempts}
				}
				results = append(results, r)
			}
		}
		for j, f := range fans {
			r := results[0]
			if len(results) > 1 {
				r = results[j]
			}
			s.want[streamPair(f)] = r
		}
		for _, ev := range c.Resolve(results...) {
			s.done[ev]++
			s.pending--
			if s.done[ev] != 1 {
				s.t.Fatalf("an event completed %d times", s.done[ev])
			}
			for idx := range ev.Unique().Len() {
				if _, ok := s.want[streamPair{ev, int32(idx)}]; !ok {
					s.t.Fatalf("an event completed before its recipient %d had a result", idx)
				}
			}
		}
		if s.b.Pending() != s.pending {
			s.t.Fatalf("Pending() = %d, want %d", s.b.Pending(), s.pending)
		}
	}
}

func (s *stream) checkFinal() {
	if s.b.Pending() != 0 || s.pending != 0 {
		s.t.Fatalf("Pending() = %d after every call resolved", s.b.Pending())
	}
	for _, ev := range s.events {
		if s.done[ev] != 1 {
			s.t.Fatalf("an event completed %d times", s.done[ev])
		}
		most := 0
		for idx, r := range ev.Results() {
			p := streamPair{ev, int32(idx)}
			if s.placed[p] != 1 {
				s.t.Fatalf("recipient %q of an event was in %d calls", names(ev.Unique())[idx], s.placed[p])
			}
			want := s.want[p]
			if r.PacketID != want.PacketID || !errors.Is(r.Err, want.Err) || r.Attempts != want.Attempts {
				s.t.Fatalf("result %+v, want %+v", r, want)
			}
			most = max(most, r.Attempts)
		}
		if ev.Attempts() != most {
			s.t.Fatalf("Attempts() = %d, want %d", ev.Attempts(), most)
		}
	}
}

func TestRandomStreams(t *testing.T) {
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}
	for seed := range iterations {
		ok := t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			runStream(t, &randSource{r: rand.New(rand.NewPCG(uint64(seed), 1)), left: 2000})
		})
		if !ok {
			break
		}
	}
}

func FuzzBatcher(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 16, 64, 256, 1024} {
		seed := make([]byte, n)
		for i := range seed {
			seed[i] = byte(r.Uint32())
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8<<10 {
			data = data[:8<<10] // a long stream adds time, not cases
		}
		runStream(t, &byteSource{b: data})
	})
}
